"""Forms that work without a connection: the service worker's cache, drafts, the queue.

Every test shares the session's live server (and its forms.db); submissions are
found by their ids. A phone that "closes and reopens the browser" is a persistent
context on the same profile directory, so IndexedDB and the service worker survive.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route, expect

from .conftest import CHROMIUM, CHROMIUM_ARGS, PHONE, LiveServer

pytestmark = pytest.mark.browser

FORM = "needs_assessment"  # access: public
TIMEOUT_MS = 10_000


def rows(server: LiveServer, ids: list[str]) -> dict[str, int]:
    """How many times each id is stored."""
    conn = sqlite3.connect(server.data_dir / "forms.db")
    try:
        return {
            sid: conn.execute("SELECT count(*) FROM submissions WHERE id = ?", [sid]).fetchone()[0]
            for sid in ids
        }
    finally:
        conn.close()


def stored(server: LiveServer, sid: str, column: str) -> Any:
    conn = sqlite3.connect(server.data_dir / "forms.db")
    try:
        return conn.execute(f'SELECT "{column}" FROM {FORM} WHERE _id = ?', [sid]).fetchone()[0]
    finally:
        conn.close()


def open_form(context: BrowserContext, server: LiveServer, query: str = "?lang=zh-Hans") -> Page:
    page = context.pages[0] if context.pages and context.pages[0].url == "about:blank" else None
    page = page or context.new_page()
    page.goto(f"{server.url}/forms/{FORM}{query}")
    return page


def ready(page: Page) -> None:
    """Wait until the service worker has cached the form."""
    assert page.evaluate("FormsOffline.ready") is True


def fill(page: Page, sector: str = "construction", gender: str = "male") -> None:
    """The required answers, and a few more."""
    page.locator('[name="voluntary_ack"]').check()
    page.locator(f'[name="respondent_sector"][value="{sector}"]').check()
    page.locator(f'[name="gender"][value="{gender}"]').check()
    page.locator('[name="available_times"][value="sunday"]').check()
    page.locator('[name="num_children"]').fill("0")


def waiting(page: Page) -> Any:
    return expect(page.locator("#fs-offline"))


CACHED_URLS = """async () => {
  const urls = [];
  for (const name of await caches.keys()) {
    for (const request of await (await caches.open(name)).keys()) {
      const url = new URL(request.url);
      urls.push(url.pathname + url.search);
    }
  }
  return urls.sort();
}"""


def queued_ids(page: Page) -> list[str]:
    ids: list[str] = page.evaluate("FormsOffline.queue().then(q => q.map(i => i.id))")
    return ids


def _disconnected(route: Route) -> None:
    route.abort("internetdisconnected")


def cut(context: BrowserContext, off: bool = True) -> None:
    """No network (or the network back) for the pages and the service worker alike.

    Chromium's offline emulation does not always cover what goes through a service
    worker (playwright#2311), so every request is aborted as well while offline.
    """
    if off:
        context.route("**/*", _disconnected)
    else:
        context.unroute("**/*", _disconnected)
    context.set_offline(off)


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    return tmp_path / "profile"


def launch(playwright: Playwright, profile: Path, **options: Any) -> BrowserContext:
    context = playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        viewport=PHONE,
        locale="zh-CN",
        **options,
    )
    context.set_default_timeout(TIMEOUT_MS)
    return context


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport=PHONE, locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


# -- the tests ---------------------------------------------------------------------------


def test_five_submissions_made_offline_arrive_once_each(
    playwright: Playwright, profile: Path, live_server: LiveServer
) -> None:
    phone = launch(playwright, profile)
    page = open_form(phone, live_server)
    ready(page)
    # Every language's page, the manifest and the static files; nothing else.
    kept = page.evaluate(CACHED_URLS)
    assert [u for u in kept if not u.startswith("/static/")] == [
        f"/forms/{FORM}/offline.json",
        f"/forms/{FORM}?lang=en",
        f"/forms/{FORM}?lang=zh-Hans",
    ]
    assert sorted(re.sub(r"\?v=\w+$", "", u) for u in kept if u.startswith("/static/")) == [
        "/static/expr.js",
        "/static/forms.css",
        "/static/forms.js",
        "/static/offline.js",
    ]
    cut(phone)
    for n in range(1, 6):
        fill(page, gender=["male", "female", "undisclosed", "male", "female"][n - 1])
        with page.expect_navigation():  # to a fresh form, from the cache
            page.locator("#fs-submit").click()
        waiting(page).to_have_attribute("data-waiting", str(n))
        expect(page.locator("#fs-offline")).to_contain_text("已保存在本机")
        expect(page.locator('[name="voluntary_ack"]')).not_to_be_checked()  # a fresh form
    expect(page.locator("#fs-offline .keep")).to_contain_text("请勿清除浏览器数据")
    ids = queued_ids(page)
    assert len(set(ids)) == 5

    page.reload()
    waiting(page).to_have_attribute("data-waiting", "5")
    page.evaluate("FormsOffline.started")  # its attempt to send has failed
    phone.close()

    phone = launch(playwright, profile, offline=True)
    cut(phone)
    # The service worker answers, and it has no network: a page it never kept...
    missing = phone.new_page().goto(f"{live_server.url}/forms/no_such_form")
    assert missing is not None and missing.status == 503
    assert "没有网络" in missing.text()
    # ...and the form, from its cache.
    page = open_form(phone, live_server)
    waiting(page).to_have_attribute("data-waiting", "5")
    expect(page.locator("#fs-offline .count")).to_have_text("待发送：5 份")
    page.evaluate("FormsOffline.started")
    assert rows(live_server, ids) == dict.fromkeys(ids, 0)

    cut(phone, False)
    waiting(page).to_have_attribute("data-waiting", "0")
    expect(page.locator("#fs-offline .count")).to_contain_text("上次发送")
    assert rows(live_server, ids) == dict.fromkeys(ids, 1)
    phone.close()


def test_draft_survives_a_reload(context: BrowserContext, live_server: LiveServer) -> None:
    page = open_form(context, live_server)
    fill(page, sector="logistics", gender="female")
    page.wait_for_url(re.compile(r"#draft=[0-9a-f-]{36}$"))
    sid = page.locator('[name="_id"]').input_value()
    assert sid in page.url
    page.evaluate("FormsOffline.save()")

    page.reload()
    page.evaluate("FormsOffline.started")
    expect(page.locator('[name="voluntary_ack"]')).to_be_checked()
    expect(page.locator('[name="respondent_sector"][value="logistics"]')).to_be_checked()
    expect(page.locator('[name="gender"][value="female"]')).to_be_checked()
    assert page.locator('[name="_id"]').input_value() == sid
    # The language switch keeps the draft.
    page.locator('nav.langs a[hreflang="en"]').click()
    page.wait_for_url(re.compile(rf"\?lang=en#draft={sid}$"))
    expect(page.locator('[name="gender"][value="female"]')).to_be_checked()
    expect(page.locator("#fs-submit")).to_have_text("Submit")

    # A new tab on the bare form lists the draft under its instance name, to resume.
    other = open_form(context, live_server)
    drafts = other.locator("#fs-drafts")
    expect(drafts).to_contain_text("快递/外卖/物流")
    assert other.locator('[name="_id"]').input_value() != sid
    page.close()
    drafts.get_by_role("button", name="继续填写").first.click()
    other.wait_for_url(re.compile(sid))
    expect(other.locator('[name="gender"][value="female"]')).to_be_checked()


def test_two_tabs_on_one_draft_make_one_submission(
    context: BrowserContext, live_server: LiveServer
) -> None:
    first = open_form(context, live_server)
    fill(first)
    first.wait_for_url(re.compile(r"#draft="))
    first.evaluate("FormsOffline.save()")
    sid = first.locator('[name="_id"]').input_value()

    second = context.new_page()
    second.goto(first.url)
    expect(second.locator("#fs-offline")).to_contain_text("正在另一个窗口中填写")
    expect(second.locator("#fs-submit")).to_be_disabled()

    second.get_by_role("button", name="改在这里填写").click()
    expect(second.locator("#fs-submit")).to_be_enabled()
    expect(first.locator("#fs-offline")).to_contain_text("正在另一个窗口中填写")
    expect(first.locator("#fs-submit")).to_be_disabled()

    second.locator('[name="gender"][value="undisclosed"]').check()
    second.locator("#fs-submit").click()
    second.wait_for_url(re.compile(rf"/done/{sid}"))

    # The first tab's stale answers under the same id: refused, nothing overwritten.
    reply = first.evaluate(
        """sid => FormsApp.send({fields: [
             ['_id', sid], ['_csrf', document.getElementById('fs-form')._csrf.value],
             ['voluntary_ack', 'OK'], ['gender', 'male'], ['available_times', 'sunday'],
             ['num_children', '0']]})""",
        sid,
    )
    assert reply["httpStatus"] == 409
    assert rows(live_server, [sid]) == {sid: 1}
    assert stored(live_server, sid, "gender") == "undisclosed"


def test_a_lost_reply_is_retried_and_stored_once(
    context: BrowserContext, live_server: LiveServer
) -> None:
    posts: list[str] = []

    def lose_the_first_reply(route: Route) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        posts.append(route.request.post_data or "")
        if len(posts) == 1:
            route.fetch()  # the server stores it...
            route.abort("connectionreset")  # ...and the phone never hears back
        else:
            route.continue_()

    context.route(f"**/forms/{FORM}", lose_the_first_reply)
    page = open_form(context, live_server)
    fill(page)
    sid = page.locator('[name="_id"]').input_value()
    page.locator("#fs-submit").click()
    expect(page.locator("#fs-offline .count")).to_contain_text("上次发送")
    waiting(page).to_have_attribute("data-waiting", "0")
    assert len(posts) == 2
    assert all(sid in body for body in posts)
    assert rows(live_server, [sid]) == {sid: 1}


def test_a_refused_submission_waits_to_be_corrected(
    context: BrowserContext, live_server: LiveServer
) -> None:
    page = open_form(context, live_server)
    ready(page)
    fill(page)
    sid = page.locator('[name="_id"]').input_value()
    cut(context)
    with page.expect_navigation():
        page.locator("#fs-submit").click()
    waiting(page).to_have_attribute("data-waiting", "1")
    page.evaluate("FormsOffline.started")

    def refuse(route: Route) -> None:
        if route.request.method != "POST":
            route.fallback()
            return
        errors = {"num_children": "请填0到8"}
        route.fulfill(status=422, json={"id": sid, "status": "invalid", "errors": errors})

    context.route(f"**/forms/{FORM}", refuse)
    cut(context, False)
    refused = page.locator("#fs-drafts li", has_text="需要修改")
    expect(refused).to_be_visible()
    waiting(page).to_have_attribute("data-waiting", "1")  # kept on the phone
    context.unroute(f"**/forms/{FORM}", refuse)

    refused.get_by_role("button", name="打开").click()
    page.wait_for_url(re.compile(rf"#draft={sid}$"))
    expect(page.locator('[id="e-num_children"]')).to_have_text("请填0到8")
    expect(page.locator('[name="gender"][value="male"]')).to_be_checked()
    waiting(page).to_have_attribute("data-waiting", "0")
    page.locator('[name="num_children"]').fill("0")
    page.locator("#fs-submit").click()
    page.wait_for_url(re.compile(rf"/done/{sid}"))
    assert rows(live_server, [sid]) == {sid: 1}


def test_a_new_version_of_the_form_replaces_the_cached_one(
    context: BrowserContext, live_server: LiveServer
) -> None:
    page = open_form(context, live_server)
    ready(page)
    mine = f"fs-form:{FORM}:"

    def cached() -> list[str]:
        names: list[str] = page.evaluate("caches.keys()")
        return [n for n in names if n.startswith(mine)]

    (old,) = cached()

    def next_version(route: Route) -> None:
        response = route.fetch()
        route.fulfill(response=response, json={**response.json(), "version": "2-next"})

    context.route(f"**/forms/{FORM}/offline.json", next_version)
    page.reload()
    ready(page)
    assert cached() == [mine + "2-next"], f"{old} is replaced"
    context.unroute_all(behavior="ignoreErrors")
    cut(context)
    page.goto(f"{live_server.url}/forms/{FORM}?lang=en")
    expect(page.locator("#fs-submit")).to_have_text("Submit")


SUBMIT = {"zh-Hans": "提交", "en": "Submit"}


@pytest.mark.parametrize(
    ("locale", "lang"),
    [("zh-CN", "zh-Hans"), ("zh-Hans-CN", "zh-Hans"), ("zh-TW", "zh-Hans"), ("en-GB", "en")],
)
def test_offline_in_the_browser_language(
    browser: Browser, live_server: LiveServer, locale: str, lang: str
) -> None:
    """Whatever the browser's tag, the page it gets online opens offline too, and so does
    each language of the form (needs_assessment has no zh-Hant: zh-TW reads zh-Hans)."""
    context = browser.new_context(viewport=PHONE, locale=locale)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = open_form(context, live_server, query="")
        expect(page.locator("html")).to_have_attribute("lang", lang)
        ready(page)
        cut(context)
        asked = [("", lang), (f"?lang={locale}", lang), ("?lang=en", "en")]
        for query, want in [*asked, ("?lang=zh-Hans", "zh-Hans")]:
            page.goto(f"{live_server.url}/forms/{FORM}{query}")
            expect(page.locator("html")).to_have_attribute("lang", want)
            expect(page.locator("#fs-submit")).to_have_text(SUBMIT[want])
    finally:
        context.close()


def test_service_worker_and_manifest(live_server: LiveServer) -> None:
    sw = httpx.get(f"{live_server.url}/sw.js")
    assert sw.headers["cache-control"] == "no-cache"
    assert sw.headers["content-type"].startswith("text/javascript")
    manifest = httpx.get(f"{live_server.url}/forms/{FORM}/offline.json").json()
    assert manifest["pages"] == [f"/forms/{FORM}?lang=zh-Hans", f"/forms/{FORM}?lang=en"]
    assert all(re.fullmatch(r"/static/[\w.]+\?v=\w+", url) for url in manifest["static"])
    assert manifest["version"].startswith(manifest["form_version"] + "-")
    # A form for collectors: not without signing in.
    closed = httpx.get(
        f"{live_server.url}/forms/worker_intake/offline.json",
        headers={"Accept": "application/json"},
    )
    assert closed.status_code == 401
