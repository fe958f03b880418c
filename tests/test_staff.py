"""The staff's pages, the collector's home and own submissions, and who may reach what.

A real app on temporary files, driven through Starlette's test client; what the pages
show is checked against the database itself.
"""

from __future__ import annotations

import html
import json
import re
import sqlite3
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from argon2 import PasswordHasher
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from forms_server import accounts
from forms_server.attachments import Upload
from forms_server.i18n import MESSAGES
from forms_server.queries import PAGE_SIZE
from forms_server.settings import Settings
from forms_server.web.app import create_app

from .conftest import ROOT

ZONE = ZoneInfo("Asia/Shanghai")
PASSWORD = "password-1"
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)
#: Users of every role: two collectors, staff, a researcher, an admin.
USERS = {
    "alice": "collector",
    "bob": "collector",
    "sam": "staff",
    "rita": "researcher",
    "ada": "admin",
}
FORM = """
id: casework
version: 1
title: {zh-Hans: 个案记录, en: Casework}
languages: [zh-Hans, en]
access: collectors
instance_name: concat(${full_name}, ' · ', jr:choice-name(${district}, '${district}'))
questions:
  - name: full_name
    type: text
    label: {zh-Hans: 姓名, en: Full name}
    required: true
    sensitive: true
  - name: district
    type: select_one
    label: {zh-Hans: 所在区, en: District}
    choices:
      - {value: chaoyang, label: {zh-Hans: 朝阳区, en: Chaoyang}}
      - {value: haidian, label: {zh-Hans: 海淀区, en: Haidian}}
  - name: problems
    type: select_multiple
    label: {zh-Hans: 遇到的问题, en: Problems}
    choices:
      - {value: wages, label: {zh-Hans: 拖欠工资, en: Unpaid wages}}
      - {value: injury, label: {zh-Hans: 工伤, en: Injury}}
      - {value: contract, label: {zh-Hans: 没有合同, en: No contract}}
  - name: work
    type: group
    label: {zh-Hans: 工作情况, en: Work}
    questions:
      - name: wage
        type: decimal
        label: {zh-Hans: 月工资, en: Monthly wage}
      - name: employer
        type: text
        label: {zh-Hans: 雇主名称, en: Employer name}
  - name: has_kids
    type: select_one
    label: {zh-Hans: 有随迁子女吗？, en: Children with you?}
    choices: yes_no
  - name: kids
    type: repeat
    relevant: ${has_kids} = 'yes'
    label: {zh-Hans: 随迁子女, en: Children}
    questions:
      - name: kid_age
        type: integer
        label: {zh-Hans: 子女年龄, en: Child's age}
        constraint: . < 18
  - name: photo
    type: image
    label: {zh-Hans: 照片, en: Photo}
  - name: filled_on
    type: calculate
    calculation: today()
  - name: ref
    type: calculate
    calculation: uuid()
choices:
  yes_no:
    - {value: 'yes', label: {zh-Hans: 是, en: 'Yes'}}
    - {value: 'no', label: {zh-Hans: 否, en: 'No'}}
"""
FORM_ID = "casework"
XSS = ['<script>alert("x")</script>', '"><img src=x onerror=alert(1)>']


def answers(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "full_name": "张建国",
        "district": "chaoyang",
        "problems": ["wages", "injury"],
        "wage": 6500,
        "has_kids": "yes",
        "kids": [{"kid_age": 9}, {"kid_age": 5}],
    }
    base.update(changes)
    return base


# -- fixtures and helpers -------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def _quick_passwords() -> Iterator[None]:
    """Argon2 at its cheapest: these tests sign in by session cookie, never by password,
    and five accounts per app would otherwise cost seconds."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
        )
        yield


def _new_app(root: Path) -> Starlette:
    forms = root / "forms"
    forms.mkdir()
    (forms / "casework.yaml").write_text(textwrap.dedent(FORM), encoding="utf-8")
    app = create_app(Settings(forms_dir=forms, data_dir=root / "data"))
    for name, role in USERS.items():
        app.state.accounts.add(name, role, PASSWORD)
    return app


@pytest.fixture
def app(tmp_path: Path) -> Starlette:
    return _new_app(tmp_path)


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


def submit(
    app: Starlette,
    by: str | None = "alice",
    raw: dict[str, Any] | None = None,
    *,
    completed: datetime | None = None,
    photo: bytes | None = None,
) -> str:
    """Store a submission as if ``by`` had sent it; its id."""
    sid = str(uuid.uuid4())
    outcome = app.state.intake.receive(
        app.state.forms[FORM_ID],
        sid,
        raw if raw is not None else answers(),
        lang="zh-Hans",
        completed_at=completed or datetime.now(ZONE),
        submitted_by=by,
        uploads={"photo": Upload("p.png", photo)} if photo else None,
    )
    assert outcome.status == "created", outcome
    return sid


def db(app: Starlette) -> sqlite3.Connection:
    conn = sqlite3.connect(app.state.settings.data_dir / "forms.db")
    conn.row_factory = sqlite3.Row
    return conn


def set_received(app: Starlette, sid: str, moment: datetime) -> None:
    stamp = moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    with db(app) as conn:
        conn.execute("UPDATE submissions SET received_at = ? WHERE id = ?", [stamp, sid])


def sign_in(client: TestClient, name: str | None) -> None:
    """Be ``name`` (None: nobody) for the following requests, keeping the CSRF cookie."""
    csrf = client.cookies.get("fs_csrf")
    client.cookies.clear()
    if csrf:
        client.cookies.set("fs_csrf", csrf)
    if name is not None:
        user = client.app.state.accounts.get(name)  # type: ignore[attr-defined]
        client.cookies.set("fs_session", client.app.state.sessions.cookie_value(user))  # type: ignore[attr-defined]


def csrf(client: TestClient) -> str:
    """The CSRF token of this client (a page is fetched to get the cookie if needed)."""
    if not client.cookies.get("fs_csrf"):
        client.get("/login")
    token = client.cookies.get("fs_csrf")
    assert token
    return token


def text_of(page: str) -> str:
    """The visible text of a page, one space between words."""
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body))).strip()


def listed_ids(page: str) -> list[str]:
    return re.findall(r'href="/staff/submissions/([0-9a-f-]{36})\?', page)


def link(page: str, rel: str) -> str | None:
    found = re.search(rf'href="([^"]+)" rel="{rel}"', page)
    return html.unescape(found.group(1)) if found else None


def all_listed(client: TestClient, url: str) -> list[str]:
    """Every id of a list, following the "older" links page by page."""
    ids: list[str] = []
    next_url: str | None = url
    while next_url:
        page = client.get(next_url)
        assert page.status_code == 200, page.text
        ids += listed_ids(page.text)
        next_url = link(page.text, "next")
    return ids


def audit_rows(app: Starlette, action: str) -> list[sqlite3.Row]:
    with db(app) as conn:
        return conn.execute(
            "SELECT * FROM _audit WHERE action = ? ORDER BY id", [action]
        ).fetchall()


# -- the submissions list ------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    app: Starlette
    client: TestClient
    sids: list[str]


@pytest.fixture(scope="module")
def listing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listing]:
    """One app for the tests that only read lists (signed in as staff)."""
    app = _new_app(tmp_path_factory.mktemp("listing"))
    sids = _spread(app)
    with TestClient(app, follow_redirects=False) as client:
        sign_in(client, "sam")
        yield Listing(app, client, sids)


def _spread(app: Starlette) -> list[str]:
    """Thirty submissions over sixty days, by two collectors, in every review state."""
    form = app.state.forms[FORM_ID]
    now = datetime.now(UTC)
    sids = []
    for i in range(30):
        name = f"{'王李张'[i % 3]}{i:02d}"
        sid = submit(
            app,
            "alice" if i % 3 else "bob",
            answers(full_name=name, district="haidian" if i % 4 == 0 else "chaoyang"),
            completed=now - timedelta(days=2 * i, hours=5),
        )
        set_received(app, sid, now - timedelta(days=2 * i))
        status = ("received", "has_issues", "approved", "rejected")[i % 4]
        if status != "received":
            app.state.reviews.set_status(form, sid, status, actor="sam")
        sids.append(sid)
    return sids


def _local_day(stamp: str | None) -> date | None:
    if stamp is None:
        return None
    return datetime.fromisoformat(stamp).astimezone(ZONE).date()


def _expected(app: Starlette, **where: Any) -> list[str]:
    """The ids a filter should list, newest first, worked out from the rows in Python."""
    with db(app) as conn:
        rows = conn.execute(
            "SELECT rowid, * FROM submissions WHERE form_id = ? AND deleted = 0", [FORM_ID]
        ).fetchall()
    chosen = []
    for row in rows:
        day = _local_day(row["completed_at" if where.get("date") == "completed" else "received_at"])
        text = where.get("q")
        if (
            (where.get("status") in (None, row["review_status"]))
            and (where.get("collector") in (None, row["submitted_by"]))
            and (not where.get("from") or (day and day >= date.fromisoformat(where["from"])))
            and (not where.get("to") or (day and day <= date.fromisoformat(where["to"])))
            and (not text or text in (row["instance_name"] or "") or text in row["data"])
        ):
            chosen.append(row)
    chosen.sort(key=lambda r: (r["received_at"], r["rowid"]), reverse=True)
    return [row["id"] for row in chosen]


def _days_ago(n: int) -> str:
    return (datetime.now(ZONE) - timedelta(days=n)).date().isoformat()


@pytest.mark.parametrize(
    "where",
    [
        {},
        {"status": "has_issues"},
        {"status": "approved", "collector": "alice"},
        {"collector": "bob"},
        {"from": _days_ago(20)},
        {"from": _days_ago(40), "to": _days_ago(10)},
        {"date": "completed", "from": _days_ago(21), "to": _days_ago(3)},
        {"q": "王"},
        {"q": "海淀"},
        {"q": "李07"},
        {"q": "%"},
        {"q": "nobody-has-this"},
        {"status": "received", "q": "朝阳", "from": _days_ago(50)},
    ],
    ids=lambda where: "&".join(f"{k}={v}" for k, v in where.items()) or "all",
)
def test_list_filters_match_the_database(listing: Listing, where: dict[str, str]) -> None:
    query = "&".join(f"{key}={value}" for key, value in where.items())
    listed = all_listed(listing.client, f"/staff/forms/{FORM_ID}?lang=en&{query}")
    assert listed == _expected(listing.app, **where)


def test_list_shows_title_time_collector_and_state(app: Starlette, client: TestClient) -> None:
    spread = _spread(app)
    sign_in(client, "sam")
    page = client.get(f"/staff/forms/{FORM_ID}?lang=en")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    newest = text_of(page.text)
    assert "30 submissions" in newest
    row = app.state.intake.storage.get(spread[0])
    received = datetime.fromisoformat(row.received_at).astimezone(ZONE).strftime("%Y-%m-%d %H:%M")
    assert f"王00 · 海淀区 Received Received {received} Collector: bob" in newest
    untitled = submit(app, "alice")
    with db(app) as conn:
        conn.execute("UPDATE submissions SET instance_name = NULL WHERE id = ?", [untitled])
    page = client.get(f"/staff/forms/{FORM_ID}?lang=zh-Hans")
    assert f">{untitled}</a>" in page.text, "no instance name: the id is the title"
    assert "31 份提交" in text_of(page.text)


def test_list_pages_newest_first_with_ties(app: Starlette, client: TestClient) -> None:
    sids = [submit(app, "alice") for _ in range(2 * PAGE_SIZE + 7)]
    same = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    for sid in sids[:60]:
        set_received(app, sid, same)
    sign_in(client, "sam")
    first = client.get(f"/staff/forms/{FORM_ID}")
    assert len(listed_ids(first.text)) == PAGE_SIZE
    assert link(first.text, "prev") is None
    ids = all_listed(client, f"/staff/forms/{FORM_ID}")
    assert ids == _expected(app)
    assert sorted(ids) == sorted(sids), "every submission once, ties included"
    second_url = link(first.text, "next")
    assert second_url is not None
    second = client.get(second_url)
    third = client.get(link(second.text, "next") or "")
    assert len(listed_ids(third.text)) == 7 and link(third.text, "next") is None
    back = client.get(link(third.text, "prev") or "")
    assert listed_ids(back.text) == listed_ids(second.text)
    assert link(back.text, "prev") is not None
    assert client.get(f"/staff/forms/{FORM_ID}?after=garbage").status_code == 400


@pytest.mark.parametrize(
    "query", ["status=lost", "from=yesterday", "to=2026-02-30", "after=x~y", "before=1"]
)
def test_list_refuses_values_no_control_sends(listing: Listing, query: str) -> None:
    assert listing.client.get(f"/staff/forms/{FORM_ID}?{query}").status_code == 400


def test_staff_home_counts_each_state(listing: Listing) -> None:
    page = text_of(listing.client.get("/staff?lang=en").text)
    assert "Casework 30 in all Received 8 Has issues 8 Approved 7 Rejected 7" in page
    assert "Audit log" not in page, "the audit log is for admins"


# -- one submission ------------------------------------------------------------------


def test_submission_page_shows_labels_and_choice_labels(app: Starlette, client: TestClient) -> None:
    sid = submit(app, "alice", answers(), photo=PNG)
    sign_in(client, "sam")
    page = client.get(f"/staff/submissions/{sid}?lang=en")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    shown = text_of(page.text)
    assert "张建国 · 朝阳区" in shown, "the instance name, as computed when received"
    for expected in [
        "Full name sensitive 张建国",
        "District Chaoyang",
        "Problems Unpaid wages Injury",
        "Work Monthly wage 6500",
        "Children with you? Yes",
        "Children Entry 1 Child's age 9 Entry 2 Child's age 5",
        "Collector alice",
        "Form Casework · version 1",
    ]:
        assert expected in shown, expected
    assert "Employer name" not in shown, "an unanswered question is left out"
    assert f"/staff/submissions/{sid}.pdf?lang=en" in page.text
    assert f"/staff/submissions/{sid}/edit?lang=en" in page.text
    photo = app.state.intake.storage.get(sid).answers["photo"]
    assert f'src="/staff/attachments/{photo}"' in page.text
    zh = text_of(client.get(f"/staff/submissions/{sid}").text)
    assert "所在区 朝阳区" in zh and "遇到的问题 拖欠工资 工伤" in zh and "第 2 项" in zh
    assert [row["target"] for row in audit_rows(app, "view")] == [sid, sid]


def test_irrelevant_answers_are_left_out(app: Starlette, client: TestClient) -> None:
    sid = submit(app, "alice", answers(has_kids="no"))
    sign_in(client, "sam")
    shown = text_of(client.get(f"/staff/submissions/{sid}?lang=en").text)
    assert "Children with you? No" in shown
    assert "Child's age" not in shown and "Entry 1" not in shown


def test_review_with_comment_is_recorded(app: Starlette, client: TestClient) -> None:
    sid = submit(app, "alice")
    sign_in(client, "sam")
    token = csrf(client)
    response = client.post(
        f"/staff/submissions/{sid}/review",
        data={"_csrf": token, "status": "has_issues", "comment": "电话号码少一位", "_lang": "en"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/staff/submissions/{sid}?lang=en#review"
    events = app.state.reviews.events(sid)
    assert [(e.actor, e.status, e.comment) for e in events] == [
        ("sam", "has_issues", "电话号码少一位")
    ]
    with db(app) as conn:
        assert conn.execute("SELECT _review_status FROM casework").fetchone()[0] == "has_issues"
    (entry,) = audit_rows(app, "review")
    assert (entry["actor"], entry["role"], entry["target"]) == ("sam", "staff", sid)
    assert json.loads(entry["detail"]) == {
        "from": "received",
        "to": "has_issues",
        "comment": "电话号码少一位",
    }
    shown = text_of(client.get(f"/staff/submissions/{sid}?lang=en").text)
    assert "Review status: Has issues" in shown
    assert "sam set the status to Has issues 电话号码少一位" in shown
    comment_only = {"_csrf": token, "status": "has_issues", "comment": "已打电话"}
    assert client.post(f"/staff/submissions/{sid}/review", data=comment_only).status_code == 303
    assert [e.comment for e in app.state.reviews.events(sid)][-1] == "已打电话"
    assert len(audit_rows(app, "review")) == 2


def test_review_and_edit_need_the_csrf_token(app: Starlette, client: TestClient) -> None:
    sid = submit(app, "alice")
    sign_in(client, "sam")
    csrf(client)
    for data in [{"status": "approved"}, {"status": "approved", "_csrf": "forged.token"}]:
        response = client.post(f"/staff/submissions/{sid}/review", data=data)
        assert response.status_code == 403
    assert app.state.intake.storage.get(sid).review_status == "received"
    assert app.state.reviews.events(sid) == []
    fields = _edit_fields(client.get(f"/staff/submissions/{sid}/edit").text)
    del fields["_csrf"]
    edit = client.post(f"/staff/submissions/{sid}/edit", data=_form_post(fields, **EDITED))
    assert edit.status_code == 403
    assert app.state.reviews.history(sid) == []


def test_unknown_review_state_is_refused(app: Starlette, client: TestClient) -> None:
    sid = submit(app, "alice")
    sign_in(client, "sam")
    data = {"_csrf": csrf(client), "status": "deleted"}
    assert client.post(f"/staff/submissions/{sid}/review", data=data).status_code == 400


def test_attachments_are_served_only_to_whom_may_see_them(
    app: Starlette, client: TestClient
) -> None:
    sid = submit(app, "alice", photo=PNG)
    other = submit(app, "alice", photo=PNG[:-1] + b"\x83")
    name = app.state.intake.storage.get(sid).answers["photo"].split("/")[1]
    other_name = app.state.intake.storage.get(other).answers["photo"].split("/")[1]
    sign_in(client, "sam")
    got = client.get(f"/staff/attachments/{sid}/{name}")
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["content-type"] == "image/png"
    assert got.headers["cache-control"] == "no-store"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert [row["target"] for row in audit_rows(app, "download")] == [f"{sid}/{name}"]
    for bad in [other_name, "photo_0000000000000000.png", "..%2F..%2Fforms.db", "secret_key"]:
        assert client.get(f"/staff/attachments/{sid}/{bad}").status_code == 404, bad
    sign_in(client, "alice")
    assert client.get(f"/my/attachments/{sid}/{name}").status_code == 200
    assert client.get(f"/staff/attachments/{sid}/{name}").status_code == 403
    sign_in(client, "bob")
    assert client.get(f"/my/attachments/{sid}/{name}").status_code == 404


# -- editing -------------------------------------------------------------------------


def _edit_fields(page: str) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="(_[a-z_]+)" value="([^"]*)"', page))


def _form_post(fields: dict[str, str], **answers: Any) -> dict[str, Any]:
    """What a browser posts: the page's hidden fields and these answers."""
    return {**fields, **answers}


EDITED = {
    "full_name": "张建国",
    "district": "haidian",
    "problems": ["wages", "injury"],
    "wage": "7000",
    "has_kids": "yes",
    "kids.0.kid_age": "9",
    "kids.1.kid_age": "6",
}


def test_edit_page_is_the_form_prefilled(app: Starlette, client: TestClient) -> None:
    sid = submit(app, "alice")
    sign_in(client, "sam")
    page = client.get(f"/staff/submissions/{sid}/edit?lang=en")
    assert page.status_code == 200
    assert f'action="/staff/submissions/{sid}/edit"' in page.text
    assert _edit_fields(page.text)["_id"] == sid
    assert 'name="wage" value="6500"' in page.text, "6500.0 is shown as 6500"
    assert re.search(r'value="chaoyang" checked', page.text)
    assert 'name="kids.1.kid_age" value="5"' in page.text


def test_edit_changes_the_typed_row_and_the_history_shows_it(
    app: Starlette, client: TestClient
) -> None:
    completed = datetime(2026, 1, 5, 10, 0, tzinfo=ZONE)
    sid = submit(app, "alice", completed=completed)
    before = app.state.intake.storage.get(sid).answers
    assert before["filled_on"] == "2026-01-05"
    sign_in(client, "sam")
    fields = _edit_fields(client.get(f"/staff/submissions/{sid}/edit").text)
    response = client.post(
        f"/staff/submissions/{sid}/edit",
        data=_form_post(fields, **EDITED, _lang="en"),
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/staff/submissions/{sid}?lang=en"
    after = app.state.intake.storage.get(sid)
    assert after.answers["filled_on"] == "2026-01-05", "today() is the completion day"
    assert after.answers["ref"] == before["ref"], "uuid() is seeded by the submission id"
    assert after.instance_name == "张建国 · 海淀区"
    with db(app) as conn:
        row = conn.execute("SELECT district, wage FROM casework WHERE _id = ?", [sid]).fetchone()
        assert tuple(row) == ("haidian", 7000.0)
        ages = conn.execute("SELECT kid_age FROM casework__kids ORDER BY _position").fetchall()
        assert [a[0] for a in ages] == [9, 6]
    history = text_of(client.get(f"/staff/submissions/{sid}?lang=en").text)
    assert "edited by sam" in history
    assert "District Chaoyang Haidian" in history
    assert "Monthly wage 6500 7000" in history
    assert "Children · Entry 2 · Child's age 5 6" in history
    (entry,) = audit_rows(app, "edit")
    assert entry["target"] == sid and entry["actor"] == "sam"
    assert json.loads(entry["detail"]) == {"changed": ["district", "wage", "kids.1.kid_age"]}


def test_invalid_edit_rerenders_with_errors_and_changes_nothing(
    app: Starlette, client: TestClient
) -> None:
    sid = submit(app, "alice")
    stored = app.state.intake.storage.get(sid)
    sign_in(client, "sam")
    fields = _edit_fields(client.get(f"/staff/submissions/{sid}/edit").text)
    bad = {**EDITED, "full_name": "", "kids.1.kid_age": "30"}
    response = client.post(
        f"/staff/submissions/{sid}/edit",
        data=_form_post(fields, **bad),
    )
    assert response.status_code == 422
    assert 'id="e-full_name"' in response.text and 'id="e-kids.1.kid_age"' in response.text
    assert 'name="kids.1.kid_age" value="30"' in response.text, "the answers come back"
    assert f'action="/staff/submissions/{sid}/edit"' in response.text
    assert app.state.intake.storage.get(sid) == stored
    assert app.state.reviews.history(sid) == []
    assert audit_rows(app, "edit") == []


def test_edit_from_the_page_script_gets_json(app: Starlette, client: TestClient) -> None:
    sid = submit(app, "alice")
    sign_in(client, "sam")
    fields = _edit_fields(client.get(f"/staff/submissions/{sid}/edit").text)
    headers = {"Accept": "application/json"}
    url = f"/staff/submissions/{sid}/edit"
    bad = client.post(url, data={**fields, "full_name": ""}, headers=headers)
    assert bad.status_code == 422 and "full_name" in bad.json()["errors"]
    same = _form_post(fields, **{**EDITED, "district": "chaoyang", "wage": "6500",
                                 "kids.1.kid_age": "5"})  # fmt: skip
    unchanged = client.post(url, data=same, headers=headers)
    assert unchanged.json() == {
        "id": sid,
        "status": "unchanged",
        "url": f"/staff/submissions/{sid}?lang=zh-Hans",
    }
    assert app.state.reviews.history(sid) == []
    # The page's offline queue gives the form an id of its own: the reply names it.
    queued_id = str(uuid.uuid4())
    edited = client.post(url, data=_form_post({**fields, "_id": queued_id}, **EDITED),
                         headers=headers)  # fmt: skip
    assert edited.status_code == 200
    assert edited.json()["status"] == "edited" and edited.json()["id"] == queued_id
    assert app.state.intake.storage.get(sid).answers["district"] == "haidian"
    assert app.state.intake.storage.get(queued_id) is None


def test_edit_keeps_the_file_unless_a_new_one_is_uploaded(
    app: Starlette, client: TestClient
) -> None:
    sid = submit(app, "alice", photo=PNG)
    old = app.state.intake.storage.get(sid).answers["photo"]
    sign_in(client, "sam")
    page = client.get(f"/staff/submissions/{sid}/edit")
    assert f'data-file="{old}"' in page.text
    fields = _edit_fields(page.text)
    url = f"/staff/submissions/{sid}/edit"
    posted = _form_post(fields, **EDITED, photo=f"{sid}/../x/photo_0000000000000000.png")
    assert client.post(url, data=posted).status_code == 303
    assert app.state.intake.storage.get(sid).answers["photo"] == old, "a posted name is ignored"
    new_png = PNG[:-1] + b"\x83"
    response = client.post(
        url,
        data=_form_post(fields, **EDITED),
        files={"photo": ("new.png", new_png, "image/png")},
    )
    assert response.status_code == 303
    new = app.state.intake.storage.get(sid).answers["photo"]
    assert new != old and new.startswith(f"{sid}/photo_") and new.endswith(".png")
    data_dir = app.state.settings.data_dir
    assert (data_dir / "attachments" / new).read_bytes() == new_png
    assert (data_dir / "attachments" / old).read_bytes() == PNG, "the old file stays"
    history = client.get(f"/staff/submissions/{sid}?lang=en").text
    assert f"/staff/attachments/{old}" in history and f"/staff/attachments/{new}" in history
    assert client.get(f"/staff/attachments/{old}").status_code == 200, "history's files too"
    refused = client.post(
        url,
        data=_form_post(fields, **EDITED),
        files={"photo": ("x.png", b"<svg onload=alert(1)>", "image/png")},
    )
    assert refused.status_code == 422
    assert app.state.intake.storage.get(sid).answers["photo"] == new


def test_edit_adds_repeat_entries_without_javascript(app: Starlette, client: TestClient) -> None:
    sid = submit(app, "alice")
    sign_in(client, "sam")
    fields = _edit_fields(client.get(f"/staff/submissions/{sid}/edit").text)
    url = f"/staff/submissions/{sid}/edit"
    added = client.post(url, data=_form_post(fields, **EDITED, _action="add:kids"))
    assert added.status_code == 200
    assert 'name="kids.2.kid_age"' in added.text
    assert f'action="{url}"' in added.text
    assert app.state.reviews.history(sid) == []


# -- collectors ----------------------------------------------------------------------


def test_collector_home_lists_own_recent_work_issues_first(
    app: Starlette, client: TestClient
) -> None:
    form = app.state.forms[FORM_ID]
    mine = submit(app, "alice", answers(full_name="王小明"))
    flagged = submit(app, "alice", answers(full_name="李大海"))
    old = submit(app, "alice", answers(full_name="陈旧"))
    set_received(app, old, datetime.now(UTC) - timedelta(days=31))
    theirs = submit(app, "bob", answers(full_name="赵别人"))
    app.state.reviews.set_status(form, flagged, "has_issues", actor="sam", comment="年龄写错了")
    app.state.reviews.set_status(form, flagged, "has_issues", actor="sam", comment="请补照片")
    sign_in(client, "alice")
    page = client.get("/?lang=zh-Hans")
    assert page.status_code == 200
    shown = text_of(page.text)
    assert shown.index("需要修改") < shown.index("李大海 · 朝阳区 有问题 个案记录 请补照片 — sam")
    assert "年龄写错了" not in shown, "the latest comment"
    assert f"/my/submissions/{mine}" in page.text and f"/my/submissions/{flagged}" in page.text
    assert "陈旧" not in shown and f"/my/submissions/{old}" not in page.text
    assert "赵别人" not in shown and theirs not in page.text
    assert "/forms/casework" in page.text
    assert "/staff" not in page.text
    assert 'class="sub st-row-has_issues"' in page.text


def test_collector_sees_and_edits_own_recent_submission_only(
    app: Starlette, client: TestClient
) -> None:
    form = app.state.forms[FORM_ID]
    sid = submit(app, "alice")
    old = submit(app, "alice")
    set_received(app, old, datetime.now(UTC) - timedelta(days=31))
    sign_in(client, "alice")
    page = client.get(f"/my/submissions/{sid}?lang=en")
    assert page.status_code == 200
    assert "张建国" in page.text and f"/my/submissions/{sid}/edit?lang=en" in page.text
    assert ".pdf" not in page.text and "/review" not in page.text, "read-only, no PDF"
    assert client.get(f"/my/submissions/{old}").status_code == 404
    assert client.get(f"/my/submissions/{old}/edit").status_code == 404
    assert client.get(f"/staff/submissions/{sid}").status_code == 403
    sign_in(client, "bob")
    assert client.get(f"/my/submissions/{sid}").status_code == 404
    assert client.get(f"/my/submissions/{sid}/edit").status_code == 404

    sign_in(client, "alice")
    app.state.reviews.set_status(form, sid, "has_issues", actor="sam", comment="区选错了")
    page = client.get(f"/my/submissions/{sid}/edit")
    assert page.status_code == 200 and f'action="/my/submissions/{sid}/edit"' in page.text
    fields = _edit_fields(page.text)
    response = client.post(
        f"/my/submissions/{sid}/edit",
        data=_form_post(fields, **EDITED),
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"/my/submissions/{sid}?")
    assert app.state.intake.storage.get(sid).answers["district"] == "haidian"
    (entry,) = audit_rows(app, "edit")
    assert (entry["actor"], entry["role"]) == ("alice", "collector")
    shown = text_of(client.get(f"/my/submissions/{sid}?lang=en").text)
    assert "区选错了" in shown and "edited by alice" in shown

    app.state.reviews.set_status(form, sid, "approved", actor="sam")
    assert client.get(f"/my/submissions/{sid}/edit").status_code == 403
    posted = client.post(
        f"/my/submissions/{sid}/edit",
        data=_form_post(fields, **{**EDITED, "district": "chaoyang"}),
    )
    assert posted.status_code == 403
    assert app.state.intake.storage.get(sid).answers["district"] == "haidian"
    assert f"/my/submissions/{sid}/edit" not in client.get(f"/my/submissions/{sid}").text


def test_home_for_anonymous_staff_and_researchers(app: Starlette, client: TestClient) -> None:
    page = client.get("/?lang=en")
    assert page.status_code == 200
    assert "/login" in page.text and "/forms/casework" not in page.text, "not a public form"
    sign_in(client, "sam")
    assert "/staff?lang=" in client.get("/").text
    sign_in(client, "ada")
    assert "/staff/audit?lang=" in client.get("/").text
    sign_in(client, "rita")
    page = client.get("/")
    assert 'href="/data/"' in page.text and "/staff" not in page.text
    assert "/forms/casework" not in page.text


# -- audit log -----------------------------------------------------------------------


def test_audit_page_for_admins_filtered_and_paged(app: Starlette, client: TestClient) -> None:
    sid = submit(app, "alice")
    for _ in range(120):
        app.state.audit.record("view", actor="sam", role="staff", target=sid)
    app.state.audit.record("download", actor="sam", role="staff", target=f"{sid}/photo_1.png")
    sign_in(client, "sam")
    assert client.get("/staff/audit").status_code == 403
    sign_in(client, "ada")
    page = client.get("/staff/audit?lang=en")
    assert page.status_code == 200
    assert "121 entries" in text_of(page.text)
    assert page.text.count("<tr>") == 1 + 100
    older = link(page.text, "next")
    assert older is not None
    assert client.get(older).text.count("<tr>") == 1 + 21
    only = client.get("/staff/audit?lang=en&action=download")
    assert "1 entries" in text_of(only.text) and f"{sid}/photo_1.png" in only.text
    posts = re.findall(r'<form method="post" action="([^"]+)"', only.text)
    assert posts == ["/logout"], "nothing to change here"


# -- escaping ------------------------------------------------------------------------


@pytest.mark.parametrize("payload", XSS)
def test_user_text_is_escaped_on_every_page(
    app: Starlette, client: TestClient, payload: str
) -> None:
    form = app.state.forms[FORM_ID]
    sid = submit(app, "alice", answers(full_name=payload))
    app.state.reviews.set_status(form, sid, "has_issues", actor="sam", comment=payload)
    app.state.reviews.edit(form, sid, {**app.state.intake.storage.get(sid).answers,
                                       "employer": payload}, actor="sam",
                           instance_name=payload)  # fmt: skip
    app.state.audit.record("view", actor="sam", target=payload, detail={"note": payload})
    pages = {
        "ada": ["/staff", f"/staff/forms/{FORM_ID}", f"/staff/submissions/{sid}",
                f"/staff/submissions/{sid}/edit", "/staff/audit",
                f"/staff/forms/{FORM_ID}?q={payload}"],
        "alice": ["/", f"/my/submissions/{sid}", f"/my/submissions/{sid}/edit"],
    }  # fmt: skip
    no_user_text = {"/staff"}
    for name, urls in pages.items():
        sign_in(client, name)
        for url in urls:
            page = client.get(url)
            assert page.status_code == 200, url
            assert payload not in page.text, url
            assert "<script>alert" not in page.text and "<img src=x" not in page.text, url
            if url not in no_user_text:
                assert payload in html.unescape(page.text), url


# -- translations --------------------------------------------------------------------


def test_every_text_of_these_pages_is_translated() -> None:
    used: set[tuple[str, str]] = set()
    for path in [*(ROOT / "templates" / "staff").glob("*.html"), ROOT / "templates" / "home.html"]:
        used |= set(re.findall(r"""\bt\(\s*(?:"([^"]+)"|'([^']+)')""", path.read_text("utf-8")))
    texts = {a or b for a, b in used} | {"Confirmed"}
    assert "Edit history" in texts
    missing = sorted(t for t in texts if "zh-Hans" not in MESSAGES.get(t, {}))
    assert not missing


# -- who may reach what: every route, every role ---------------------------------------

ROLES = ("anonymous", "alice", "bob", "sam", "rita", "ada")
#: Shorthands for a row of the table: the status each role gets, in ROLES order.
#:   anonymous alice(owner) bob(other collector) sam(staff) rita(researcher) ada(admin)
EVERYONE = (200, 200, 200, 200, 200, 200)
STAFF_ONLY = (303, 403, 403, 200, 403, 200)  # 303: an HTML page sends to /login
FILLERS = (303, 200, 200, 200, 403, 200)
OWNER_ONLY = (303, 200, 404, 404, 403, 404)
NO_SUCH_JOB = (303, 403, 403, 404, 403, 404)  # a staff page, asked for a job never started
#: (method, route path) -> statuses. A POST is sent with a valid CSRF token and no answers.
EXPECTED: dict[tuple[str, str], tuple[int, ...]] = {
    ("GET", "/"): EVERYONE,
    ("GET", "/healthz"): EVERYONE,
    ("GET", "/sw.js"): EVERYONE,
    ("GET", "/login"): EVERYONE,
    ("POST", "/login"): (401, 401, 401, 401, 401, 401),  # no user name: wrong
    ("POST", "/logout"): (303, 303, 303, 303, 303, 303),
    ("GET", "/forms/{form_id}"): FILLERS,
    ("POST", "/forms/{form_id}"): (303, 422, 422, 422, 403, 422),  # 422: no answers
    ("GET", "/forms/{form_id}/done/{submission_id}"): FILLERS,
    ("GET", "/forms/{form_id}/offline.json"): FILLERS,
    ("GET", "/api/forms"): EVERYONE,
    ("GET", "/api/forms/{form_id}"): (401, 200, 200, 200, 403, 200),
    ("POST", "/api/forms/{form_id}/submissions"): (401, 422, 422, 422, 403, 422),
    ("GET", "/api/forms/{form_id}/submissions/{submission_id}"): (401, 200, 404, 200, 403, 200),
    ("GET", "/staff"): STAFF_ONLY,
    ("GET", "/staff/audit"): (303, 403, 403, 403, 403, 200),
    ("GET", "/staff/forms/{form_id}"): STAFF_ONLY,
    ("GET", "/staff/forms/{form_id}/summary.pdf"): STAFF_ONLY,
    ("GET", "/staff/forms/{form_id}/pdf"): STAFF_ONLY,
    ("POST", "/staff/forms/{form_id}/batch"): (303, 403, 403, 303, 403, 303),  # to the job
    ("GET", "/staff/jobs/{job_id}"): NO_SUCH_JOB,
    ("GET", "/staff/jobs/{job_id}.json"): NO_SUCH_JOB,
    ("GET", "/staff/jobs/{job_id}/download"): NO_SUCH_JOB,
    ("GET", "/staff/submissions/{sid}"): STAFF_ONLY,
    ("GET", "/staff/submissions/{submission_id}.pdf"): STAFF_ONLY,
    ("POST", "/staff/submissions/{sid}/review"): (303, 403, 403, 303, 403, 303),
    ("GET", "/staff/submissions/{sid}/edit"): STAFF_ONLY,
    ("POST", "/staff/submissions/{sid}/edit"): (303, 403, 403, 422, 403, 422),
    ("GET", "/staff/attachments/{sid}/{name}"): STAFF_ONLY,
    ("GET", "/my/submissions/{sid}"): OWNER_ONLY,
    ("GET", "/my/submissions/{sid}/edit"): OWNER_ONLY,
    ("POST", "/my/submissions/{sid}/edit"): (303, 422, 404, 404, 403, 404),
    ("GET", "/my/attachments/{sid}/{name}"): OWNER_ONLY,
    # The research database: its front page, not Datasette's internals.
    ("GET", "/data/"): (303, 403, 403, 200, 200, 200),
}
#: Mounted apps whose insides are not walked (their own tests cover them).
SKIPPED_MOUNTS = {"/static"}
SECRET = "甲乙丙丁-secret"


def _routes(app: Starlette) -> list[tuple[str, str]]:
    """(method, path) of every route of the app; a mount by its front page."""
    found: list[tuple[str, str]] = []
    for route in app.routes:
        if isinstance(route, Route):
            methods = sorted((route.methods or {"GET"}) - {"HEAD"})
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
            found += [(method, path) for method in methods]
        elif isinstance(route, Mount):
            if route.path not in SKIPPED_MOUNTS:
                found.append(("GET", route.path + "/"))
        else:
            pytest.fail(f"a route of an unknown kind: {route!r}")
    return found


def _fill(path: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            pytest.fail(f"no test value for the path parameter {name!r} in {path}")
        return values[name]

    return re.sub(r"\{(\w+)\}", value, path)


def test_every_route_for_every_role(app: Starlette, client: TestClient) -> None:
    sid = submit(app, "alice", answers(full_name=SECRET), photo=PNG)
    photo = app.state.intake.storage.get(sid).answers["photo"]
    values = {
        "form_id": FORM_ID,
        "sid": sid,
        "submission_id": sid,
        "name": photo.split("/")[1],
        "job_id": "no-such-job",
    }
    routes = _routes(app)
    unlisted = sorted({key for key in routes if key not in EXPECTED})
    assert not unlisted, f"add these routes to EXPECTED: {unlisted}"
    token = csrf(client)
    wrong: list[str] = []
    for method, path in routes:
        url = _fill(path, values)
        for role, expected in zip(ROLES, EXPECTED[(method, path)], strict=True):
            sign_in(client, None if role == "anonymous" else role)
            client.cookies.set("fs_csrf", token)
            if method == "GET":
                response = client.get(url)
            elif path.startswith("/api/"):
                response = client.post(
                    url, json={}, headers={"x-csrf-token": token, "Accept": "application/json"}
                )
            else:
                # A user name of one's own, so that sign-in failures lock no one out.
                response = client.post(url, data={"_csrf": token, "username": f"x-{role}"})
            if response.status_code != expected:
                wrong.append(f"{method} {path} as {role}: {response.status_code}, not {expected}")
            if role in ("anonymous", "bob", "rita") and SECRET in response.text:
                wrong.append(f"{method} {path} as {role}: shows alice's submission")
    assert not wrong, "\n".join(wrong)
    assert app.state.intake.storage.get(sid).review_status == "received"
