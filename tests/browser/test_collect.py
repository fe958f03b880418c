"""Filling worker_intake in a real browser at phone size, with and without JavaScript.

Every test shares the session's live server (and its forms.db): rows are counted
relative to before, and a stored submission is found by the id in the done page's URL.
Set FORMS_SCREENSHOTS=/some/dir to keep a full-page screenshot of the filled form.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from .conftest import PHONE, LiveServer

#: Fail in seconds, not in Playwright's default 30 s, when something does not show.
TIMEOUT_MS = 5000

pytestmark = pytest.mark.browser

FORM = "worker_intake"
#: Answers in the order a person meets them; "children.1.*" needs the second entry added.
#: Values are what is typed or chosen (lists for select_multiple).
ANSWERS: Sequence[tuple[str, str | list[str]]] = (
    ("intake_date", "2025-03-08"),
    ("intake_place", "worksite"),
    ("consent", "yes"),
    ("full_name", "张建国"),
    ("phone", "13812345678"),
    ("gender", "male"),
    ("birth_date", "1985-06-01"),
    ("hometown_province", "henan"),
    ("hometown_city", "zhoukou"),
    ("children_with_me", "yes"),
    ("children.0.child_age", "9"),
    ("children.0.in_school", "no"),
    ("children.1.child_age", "5"),
    ("children.1.in_school", "yes"),
    ("sector", "construction"),
    ("employer_name", "某某建筑劳务有限公司"),
    ("contract_status", "none"),
    ("social_insurance", ["none"]),
    ("monthly_wage", "6500.5"),
    ("work_problems", ["wage_arrears", "no_contract"]),
    ("unpaid_amount", "18000"),
    ("months_unpaid", "3"),
    ("needs", ["legal_advice", "wage_recovery"]),
    ("referrals", ["our_lawyer"]),
    ("followup_consent", "yes"),
    ("contact_method", "phone"),
    ("collector_notes", "工友说老板答应年底结清，\n但已经拖了三个月。"),
)

#: Columns whose stored value legitimately differs between two fillings of the same answers.
TIME_OR_ID_DEPENDENT = {
    # once(concat('WI-', format-date(today(), …), '-', substr(uuid(), 0, 6))): a random part.
    "intake_id",
}
# Not listed on purpose: `age` (int((today() - birth_date) div 365.25)) depends on today,
# but both submissions are made within seconds and 1985-06-01 is far from a birthday.

PHONE_MESSAGE = "请输入以1开头的11位手机号码"
DATE_MESSAGE = "登记日期不能晚于今天"


# -- fixtures: worker_intake is for signed-in collectors -------------------------------


@pytest.fixture
def collector_phone(phone: BrowserContext, sign_in: Callable[..., None]) -> BrowserContext:
    sign_in(phone)
    phone.set_default_timeout(TIMEOUT_MS)
    return phone


@pytest.fixture
def collector_phone_without_js(
    phone_without_js: BrowserContext, sign_in: Callable[..., None]
) -> BrowserContext:
    sign_in(phone_without_js)
    phone_without_js.set_default_timeout(TIMEOUT_MS)
    return phone_without_js


# -- helpers ---------------------------------------------------------------------------


@contextmanager
def forms_db(server: LiveServer) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(server.data_dir / "forms.db")
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


def submission_count(server: LiveServer) -> int:
    with forms_db(server) as db:
        return int(
            db.execute("SELECT count(*) FROM submissions WHERE form_id = ?", [FORM]).fetchone()[0]
        )


def stored(server: LiveServer, sid: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The typed row (question columns only, each as (value, typeof)) and the children's rows."""
    with forms_db(server) as db:

        def typed(table: str, where: str, order: str = "") -> list[dict[str, Any]]:
            cols = [r["name"] for r in db.execute(f'PRAGMA table_info("{table}")')]
            cols = [c for c in cols if not c.startswith("_")]
            select = ", ".join(f'"{c}", typeof("{c}")' for c in cols)
            rows = db.execute(f'SELECT {select} FROM "{table}" WHERE {where} {order}', [sid])
            return [{c: (row[2 * i], row[2 * i + 1]) for i, c in enumerate(cols)} for row in rows]

        (main,) = typed(FORM, "_id = ?")
        children = typed(f"{FORM}__children", "_submission_id = ?", "ORDER BY _position")
    return main, children


def open_form(context: BrowserContext, server: LiveServer, query: str = "?lang=zh-Hans") -> Page:
    page = context.new_page()
    page.goto(f"{server.url}/forms/{FORM}{query}")
    return page


def wrapper(page: Page, key: str) -> Locator:
    return page.locator(f'[id="q-{key}"]')


def control(page: Page, key: str) -> Locator:
    return page.locator(f'[name="{key}"]')


def set_answer(page: Page, key: str, value: str | list[str]) -> bool:
    """Answer one question if it is on the page and shown; False if it is not (yet)."""
    if not wrapper(page, key).is_visible():
        return False
    first = control(page, key).first
    kind = first.evaluate("e => e.tagName === 'SELECT' ? 'select' : e.type")
    if kind == "select":
        first.select_option(value)
    elif kind in ("radio", "checkbox"):
        for v in [value] if isinstance(value, str) else value:
            page.locator(f'[name="{key}"][value="{v}"]').check()
    else:
        assert isinstance(value, str)
        first.fill(value)
        if kind != "date":
            first.dispatch_event("change")  # as when leaving the box
    return True


def fill_all(page: Page, answers: Sequence[tuple[str, str | list[str]]], *, js: bool) -> None:
    """Answer everything, adding the second child entry, and without JavaScript pressing
    the noscript "show the questions that follow" button whenever nothing more is shown."""
    remaining = dict(answers)
    for _ in range(10):
        for key, value in list(remaining.items()):
            if set_answer(page, key, value):
                del remaining[key]
        if not remaining:
            return
        add = page.locator('button[value="add:children"]')
        if (
            any(k.startswith("children.1.") for k in remaining)
            and not control(page, "children.1").count()
            and add.is_visible()
        ):
            button = add
        else:
            assert not js, f"with JavaScript these stayed hidden: {sorted(remaining)}"
            button = page.locator('button[name="_action"][value="refresh"]').first
        if js:
            button.click()
        else:
            with page.expect_navigation():
                button.click()
    raise AssertionError(f"never shown: {sorted(remaining)}")


def submit(page: Page) -> str:
    """Submit, wait for the done page, and return the submission id from its URL."""
    page.locator("#fs-submit").click()
    page.wait_for_url(re.compile(rf"/forms/{FORM}/done/"))
    match = re.search(rf"/forms/{FORM}/done/([^/?#]+)", page.url)
    assert match
    return match.group(1)


def no_horizontal_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide at {PHONE['width']} px"


def screenshot(page: Page, name: str) -> None:
    folder = os.environ.get("FORMS_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / name), full_page=True)


# -- the tests ---------------------------------------------------------------------------


def test_chinese_page_fits_a_phone(
    collector_phone: BrowserContext, live_server: LiveServer
) -> None:
    page = open_form(collector_phone, live_server)
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.locator("h1")).to_have_text("工友首次接触登记表")
    expect(page.locator("#l-consent")).to_contain_text("工友是否同意接受登记？")
    expect(page.locator("#fs-submit")).to_have_text("提交")
    no_horizontal_scroll(page)
    # With every group shown (the widest state) it still fits.
    page.locator('[name="consent"][value="yes"]').check()
    expect(wrapper(page, "identity")).to_be_visible()
    no_horizontal_scroll(page)


def test_skip_logic_and_choice_filter(
    collector_phone: BrowserContext, live_server: LiveServer
) -> None:
    page = open_form(collector_phone, live_server)
    identity = wrapper(page, "identity")
    note = wrapper(page, "no_consent_note")
    expect(identity).to_be_hidden()
    expect(wrapper(page, "full_name")).to_be_hidden()
    expect(note).to_be_hidden()

    page.locator('[id="q-consent"] label.opt', has_text="是").click()
    expect(identity).to_be_visible()
    expect(wrapper(page, "full_name")).to_be_visible()
    expect(wrapper(page, "hometown_province")).to_be_visible()
    expect(note).to_be_hidden()

    page.locator('[id="q-consent"] label.opt', has_text="否").click()
    expect(identity).to_be_hidden()
    expect(wrapper(page, "household")).to_be_hidden()
    expect(note).to_be_visible()
    expect(note).to_contain_text("工友不同意登记")

    page.locator('[id="q-consent"] label.opt', has_text="是").click()
    expect(note).to_be_hidden()
    # No province yet: no city question.
    city = wrapper(page, "hometown_city")
    expect(city).to_be_hidden()

    def offered(label: str) -> Locator:
        return city.locator("label.opt", has_text=label)

    page.locator("#f-hometown_province").select_option(label="河南")
    expect(city).to_be_visible()
    expect(offered("郑州")).to_be_visible()
    expect(offered("周口")).to_be_visible()
    expect(offered("其他市/县")).to_be_visible()  # province 'any'
    expect(offered("保定")).to_be_hidden()
    expect(city.locator('input[value="baoding"]')).to_be_disabled()
    offered("郑州").click()

    # Another province: its cities only, and the chosen Zhengzhou is dropped.
    page.locator("#f-hometown_province").select_option(label="河北")
    expect(offered("保定")).to_be_visible()
    expect(offered("郑州")).to_be_hidden()
    expect(city.locator('input[value="zhengzhou"]')).not_to_be_checked()
    assert page.evaluate("FormsApp.state.answers.hometown_city") == ""

    page.locator("#f-hometown_province").select_option(label="其他省份")
    expect(city).to_be_hidden()
    expect(wrapper(page, "hometown_other")).to_be_visible()


def test_constraint_message_blocks_submission(
    collector_phone: BrowserContext, live_server: LiveServer
) -> None:
    page = open_form(collector_phone, live_server)
    fill_all(page, ANSWERS, js=True)
    before = submission_count(live_server)

    phone_box = page.locator("#f-phone")
    phone_error = page.locator('[id="e-phone"]')
    phone_box.fill("2381234567")
    phone_box.blur()
    expect(phone_error).to_be_visible()
    expect(phone_error).to_have_text(PHONE_MESSAGE)
    expect(phone_box).to_have_attribute("aria-invalid", "true")

    future = (date.today() + timedelta(days=40)).isoformat()
    page.locator("#f-intake_date").fill(future)
    date_error = page.locator('[id="e-intake_date"]')
    expect(date_error).to_have_text(DATE_MESSAGE)

    page.locator("#fs-submit").click()
    summary = page.locator("#fs-summary")
    expect(summary).to_be_visible()
    expect(summary).to_have_attribute("role", "alert")
    expect(summary.locator("li")).to_have_count(2)
    expect(summary).to_contain_text(PHONE_MESSAGE)
    expect(summary).to_contain_text(DATE_MESSAGE)
    expect(summary.locator("li").first).to_contain_text("登记日期")
    # Focus goes to the first wrong answer.
    expect(page.locator("#f-intake_date")).to_be_focused()
    page.wait_for_timeout(300)  # a submission, had one been started, would have been sent
    assert f"/forms/{FORM}/done/" not in page.url
    assert submission_count(live_server) == before

    phone_box.fill("13812345678")
    phone_box.blur()
    expect(phone_error).to_be_hidden()
    expect(phone_box).not_to_have_attribute("aria-invalid", "true")
    page.locator("#f-intake_date").fill("2025-03-08")
    expect(date_error).to_be_hidden()

    submit(page)
    assert submission_count(live_server) == before + 1


def test_repeat_calculations_and_submit(
    collector_phone: BrowserContext, collector: str, live_server: LiveServer
) -> None:
    page = open_form(collector_phone, live_server)
    before = submission_count(live_server)
    # A live calculation in a label: the age from the birth date.
    page.locator('[id="q-consent"] label.opt', has_text="是").click()
    under_16 = (date.today() - timedelta(days=14 * 365 + 100)).isoformat()
    page.locator("#f-birth_date").fill(under_16)
    child_labour = wrapper(page, "child_labour_note")
    expect(child_labour).to_be_visible()
    expect(child_labour.locator('[data-ref="age"]')).to_have_text("14")
    expect(child_labour).to_contain_text("工友只有 14 岁")
    page.locator("#f-birth_date").fill("1985-06-01")
    expect(child_labour).to_be_hidden()

    # The repeat: shown by children_with_me, one entry to start with (min 1), then two.
    children = wrapper(page, "children")
    expect(children).to_be_hidden()
    page.locator('[id="q-children_with_me"] label.opt', has_text="是").click()
    expect(children).to_be_visible()
    expect(children.locator("fieldset.entry")).to_have_count(1)
    in_school_0 = wrapper(page, "children.0.in_school")
    expect(in_school_0).to_be_hidden()
    control(page, "children.0.child_age").fill("9")
    expect(in_school_0).to_be_visible()  # relevant: child_age >= 3
    in_school_0.locator("label.opt", has_text="否").click()
    note = wrapper(page, "out_of_school_note")
    expect(note).to_be_visible()
    expect(note.locator('[data-ref="child_count"]')).to_have_text("1")
    expect(note.locator('[data-ref="out_of_school_count"]')).to_have_text("1")

    children.locator('button[value="add:children"]').click()
    expect(children.locator("fieldset.entry")).to_have_count(2)
    expect(children.locator("fieldset.entry").nth(1).locator("legend.eh")).to_have_text("第 2 项")
    control(page, "children.1.child_age").fill("5")
    wrapper(page, "children.1.in_school").locator("label.opt", has_text="是").click()
    expect(note.locator('[data-ref="child_count"]')).to_have_text("2")
    expect(note.locator('[data-ref="out_of_school_count"]')).to_have_text("1")
    expect(note).to_contain_text("登记的 2 个随迁子女中，有 1 个在义务教育年龄却没有上学")

    fill_all(page, ANSWERS, js=True)
    arrears = wrapper(page, "arrears_summary")
    expect(arrears.locator('[data-ref="arrears_per_month"]')).to_have_text("6000")
    expect(arrears).to_contain_text("被拖欠 3 个月，共 18000 元")
    # The follow-up question's label shows the name typed earlier.
    expect(page.locator("#l-followup_consent")).to_contain_text("张建国是否愿意")
    no_horizontal_scroll(page)
    screenshot(page, "worker_intake_filled_360.png")

    sid = submit(page)
    expect(page.locator("h1")).to_have_text("谢谢")
    expect(page.locator("dl.receipt code")).to_have_text(sid)
    no_horizontal_scroll(page)

    assert submission_count(live_server) == before + 1
    main, children_rows = stored(live_server, sid)
    assert main["full_name"] == ("张建国", "text")
    assert main["consent"] == ("yes", "text")
    assert main["intake_date"] == ("2025-03-08", "text")
    assert main["monthly_wage"] == (6500.5, "real")
    assert main["unpaid_amount"] == (18000.0, "real")
    assert main["months_unpaid"] == (3, "integer")
    assert main["work_problems"][1] == "text"
    assert json.loads(main["work_problems"][0]) == ["wage_arrears", "no_contract"]
    assert json.loads(main["needs"][0]) == ["legal_advice", "wage_recovery"]
    assert main["hometown_city"] == ("zhoukou", "text")
    assert main["child_count"][0] == "2"
    assert main["out_of_school_count"][0] == "1"
    assert main["intake_id"][0].startswith("WI-")
    assert main["collector_notes"][0] == dict(ANSWERS)["collector_notes"]
    assert [(c["child_age"], c["in_school"]) for c in children_rows] == [
        ((9, "integer"), ("no", "text")),
        ((5, "integer"), ("yes", "text")),
    ]
    with forms_db(live_server) as db:
        meta = db.execute("SELECT * FROM submissions WHERE id = ?", [sid]).fetchall()
        own = db.execute(f"SELECT _completed_at FROM {FORM} WHERE _id = ?", [sid]).fetchone()
        positions = db.execute(
            f"SELECT _position FROM {FORM}__children WHERE _submission_id = ? ORDER BY _position",
            [sid],
        ).fetchall()
    assert len(meta) == 1
    assert meta[0]["form_id"] == FORM
    assert meta[0]["submitted_by"] == collector
    assert meta[0]["completed_at"]
    assert meta[0]["instance_name"].startswith("张** · 建筑工地 · 2025-03-08")
    assert own["_completed_at"] == meta[0]["completed_at"]
    assert [p[0] for p in positions] == [1, 2]


def test_without_javascript_stores_the_same_row(
    collector_phone: BrowserContext,
    collector_phone_without_js: BrowserContext,
    live_server: LiveServer,
) -> None:
    page = open_form(collector_phone, live_server)
    fill_all(page, ANSWERS, js=True)
    with_js = submit(page)

    before = submission_count(live_server)
    page = open_form(collector_phone_without_js, live_server)
    expect(wrapper(page, "identity")).to_be_hidden()
    expect(page.locator('button[value="refresh"]').first).to_have_text("显示后续问题")
    fill_all(page, ANSWERS, js=False)

    # The server refuses a wrong phone number: the page comes back with the messages.
    control(page, "phone").fill("12345")
    with page.expect_navigation() as nav:
        page.locator("#fs-submit").click()
    assert nav.value is not None and nav.value.status == 422
    summary = page.locator("#fs-summary")
    expect(summary).to_be_visible()
    expect(summary).to_have_attribute("role", "alert")
    expect(summary).to_contain_text(PHONE_MESSAGE)
    expect(page.locator('[id="e-phone"]')).to_have_text(PHONE_MESSAGE)
    expect(control(page, "phone")).to_have_attribute("aria-invalid", "true")
    assert submission_count(live_server) == before
    # Everything else was kept, the second child too.
    expect(control(page, "children.1.child_age")).to_have_value("5")
    expect(page.locator('[name="work_problems"][value="no_contract"]')).to_be_checked()

    control(page, "phone").fill("13812345678")
    without_js = submit(page)
    assert submission_count(live_server) == before + 1

    main_js, children_js = stored(live_server, with_js)
    main_plain, children_plain = stored(live_server, without_js)
    for name in TIME_OR_ID_DEPENDENT:
        assert main_js.pop(name)[0] and main_plain.pop(name)[0]
    assert main_plain == main_js
    assert children_plain == children_js
    assert len(children_js) == 2


XSS_IMG = '<img src=x onerror="window.__xss=1">'
XSS_SCRIPT = "<script>window.__xss=2</script>"
XSS_TEXTAREA = '</textarea><img src=x onerror="window.__xss=3">'


def test_answers_are_shown_as_text_not_html(
    collector_phone: BrowserContext, live_server: LiveServer
) -> None:
    page = open_form(collector_phone, live_server)
    page.locator('[id="q-consent"] label.opt', has_text="是").click()
    # followup_consent's label holds ${full_name}, updated live as the name is typed.
    live = page.locator('#l-followup_consent [data-ref="full_name"]')
    for payload in (XSS_IMG, XSS_SCRIPT):
        control(page, "full_name").fill(payload)
        expect(live).to_have_text(payload)
        expect(page.locator("#l-followup_consent")).to_contain_text(payload + "是否愿意")
    control(page, "full_name").fill(XSS_IMG)
    control(page, "collector_notes").fill(XSS_TEXTAREA)
    page.wait_for_timeout(100)
    assert page.evaluate("window.__xss") is None
    assert page.locator("#fs-form img, #fs-form script").count() == 0

    # The server's re-render with errors (a plain, non-JavaScript post of the same page).
    with page.expect_navigation() as nav:
        page.evaluate("HTMLFormElement.prototype.submit.call(document.getElementById('fs-form'))")
    response = nav.value
    assert response is not None and response.status == 422
    html = response.text()
    assert XSS_IMG not in html and XSS_SCRIPT not in html and XSS_TEXTAREA not in html
    assert "&lt;img src=x onerror=" in html
    page.wait_for_load_state("load")
    expect(page.locator("#fs-summary")).to_be_visible()
    expect(page.locator('[id="e-full_name"]')).to_have_text("请填写2到30个字")
    expect(control(page, "full_name")).to_have_value(XSS_IMG)
    expect(control(page, "collector_notes")).to_have_value(XSS_TEXTAREA)
    expect(live).to_have_text(XSS_IMG)
    assert page.locator("#fs-form img, #fs-form script, #fs-summary img").count() == 0

    # And the <script> one through the same round trip.
    control(page, "full_name").fill(XSS_SCRIPT)
    with page.expect_navigation() as nav:
        page.evaluate("HTMLFormElement.prototype.submit.call(document.getElementById('fs-form'))")
    assert nav.value is not None and XSS_SCRIPT not in nav.value.text()
    page.wait_for_load_state("load")
    expect(control(page, "full_name")).to_have_value(XSS_SCRIPT)
    expect(live).to_have_text(XSS_SCRIPT)
    page.wait_for_timeout(100)
    assert page.evaluate("window.__xss") is None


def test_language_switch(
    collector_phone: BrowserContext,
    browser: Browser,
    sign_in: Callable[..., None],
    live_server: LiveServer,
) -> None:
    page = open_form(collector_phone, live_server)
    english = page.locator('nav.langs a[hreflang="en"]')
    expect(english).to_have_text("English")
    expect(page.locator('nav.langs a[aria-current="page"]')).to_have_attribute(
        "hreflang", "zh-Hans"
    )
    english.click()
    page.wait_for_url(re.compile(r"[?&]lang=en\b"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Migrant worker intake (first contact)")
    expect(page.locator("#l-consent")).to_contain_text("Does the worker agree to this intake?")
    expect(page.locator("#fs-submit")).to_have_text("Submit")
    no_horizontal_scroll(page)

    for locale, lang, title in (
        ("en-GB", "en", "Migrant worker intake (first contact)"),
        # No zh-Hant in the form: Traditional Chinese readers get Simplified.
        ("zh-TW", "zh-Hans", "工友首次接触登记表"),
    ):
        context = browser.new_context(viewport=PHONE, locale=locale)
        context.set_default_timeout(TIMEOUT_MS)
        sign_in(context)
        try:
            page = open_form(context, live_server, query="")
            expect(page.locator("html")).to_have_attribute("lang", lang)
            expect(page.locator("h1")).to_have_text(title)
        finally:
            context.close()
