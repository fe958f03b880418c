"""The web app end to end: real app, real SQLite files, HTTP through Starlette's test client."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from starlette.testclient import TestClient

from forms_server.settings import Settings
from forms_server.web.app import create_app

from .conftest import FORMS_DIR
from .samples import new_id, worker_intake_answers

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)
TINY_FORM = """
id: tiny
version: 1
title: {zh-Hans: 小表, en: Tiny}
languages: [zh-Hans, en]
access: public
questions:
  - name: family_name
    type: text
    label: {zh-Hans: 姓名, en: Name}
    required: true
    sensitive: true
  - name: age
    type: integer
    label: {zh-Hans: 年龄, en: Age}
    constraint: . >= 16
    constraint_message: {zh-Hans: 必须年满16岁, en: Must be 16 or older}
  - name: filled_on
    type: calculate
    calculation: today()
  - name: photo
    type: image
    label: {zh-Hans: 照片, en: Photo}
  - name: visit_date
    type: date
    label: {zh-Hans: 日期, en: Date}
    default: today()
  - name: province
    type: select_one
    label: {zh-Hans: 省, en: Province}
    choices:
      - {value: henan, label: {zh-Hans: 河南, en: Henan}}
      - {value: hebei, label: {zh-Hans: 河北, en: Hebei}}
  - name: city
    type: select_one
    label: {zh-Hans: 市, en: City}
    choice_filter: province = ${province}
    choices:
      - {value: zhengzhou, label: {zh-Hans: 郑州, en: Zhengzhou}, province: henan}
      - {value: baoding, label: {zh-Hans: 保定, en: Baoding}, province: hebei}
  - name: kids
    type: repeat
    label: {zh-Hans: 子女, en: Children}
    questions:
      - {name: kid_age, type: integer, label: {zh-Hans: 年龄, en: Age}}
"""


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    forms = tmp_path / "forms"
    shutil.copytree(FORMS_DIR, forms)
    (forms / "tiny.yaml").write_text(TINY_FORM, encoding="utf-8")
    settings = Settings(forms_dir=forms, data_dir=tmp_path / "data", max_body_bytes=200_000)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _db(client: TestClient) -> sqlite3.Connection:
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    conn = sqlite3.connect(settings.data_dir / "forms.db")
    conn.row_factory = sqlite3.Row
    return conn


def _page_fields(client: TestClient, form_id: str) -> dict[str, str]:
    page = client.get(f"/forms/{form_id}")
    assert page.status_code == 200
    hidden = dict(re.findall(r'<input[^>]*name="(_[a-z_]+)"[^>]*value="([^"]*)"', page.text))
    assert {"_id", "_csrf", "_started_at"} <= hidden.keys()
    return hidden


def _post_json(client: TestClient, form_id: str, body: Any, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(f"/api/forms/{form_id}/submissions", json=body, headers=headers)


def _token(client: TestClient, username: str = "wang", role: str = "collector") -> str:
    accounts = client.app.state.accounts  # type: ignore[attr-defined]
    if accounts.get(username) is None:
        accounts.add(username, role, "a long password")
    token: str = accounts.new_token(username)
    return token


# -- pages --------------------------------------------------------------------------


def test_home_lists_forms(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "/forms/tiny" in page.text


def test_form_page_renders_with_csrf_cookie(client: TestClient) -> None:
    page = client.get("/forms/tiny?lang=zh-Hans")
    assert page.status_code == 200
    assert "fs_csrf" in page.cookies
    set_cookie = page.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie
    assert 'id="fs-definition"' in page.text
    assert page.headers["cache-control"] == "no-store"


def test_unknown_form_is_404_in_html_and_json(client: TestClient) -> None:
    assert client.get("/forms/nope").status_code == 404
    reply = client.get("/api/forms/nope")
    assert reply.status_code == 404 and reply.json()["status"] == 404


def test_post_without_csrf_token_is_refused(client: TestClient) -> None:
    fields = _page_fields(client, "tiny")
    fields.pop("_csrf")
    reply = client.post("/forms/tiny", data={**fields, "family_name": "王"})
    assert reply.status_code == 403
    assert _db(client).execute("SELECT count(*) FROM submissions").fetchone()[0] == 0


def test_plain_html_post_stores_once_and_redirects(client: TestClient) -> None:
    fields = _page_fields(client, "tiny")
    body = {
        **fields,
        "family_name": "王芳",
        "age": "30",
        "kids.0.kid_age": "4",
        "kids.1.kid_age": "7",
    }
    first = client.post("/forms/tiny", data=body, follow_redirects=False)
    assert first.status_code == 303
    assert f"/forms/tiny/done/{fields['_id']}" in first.headers["location"]
    again = client.post("/forms/tiny", data=body, follow_redirects=False)
    assert again.status_code == 303
    db = _db(client)
    rows = db.execute("SELECT * FROM tiny").fetchall()
    assert len(rows) == 1
    assert rows[0]["family_name"] == "王芳" and rows[0]["age"] == 30
    # Without a device clock, today() is the server's date in the organisation's zone.
    assert rows[0]["filled_on"] == datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    kids = db.execute("SELECT kid_age, _position FROM tiny__kids ORDER BY _position").fetchall()
    assert [tuple(k) for k in kids] == [(4, 1), (7, 2)]


def test_invalid_html_post_rerenders_with_errors_and_answers(client: TestClient) -> None:
    fields = _page_fields(client, "tiny")
    reply = client.post(
        "/forms/tiny?lang=en", data={**fields, "_lang": "en", "age": "12", "kids.0.kid_age": "3"}
    )
    assert reply.status_code == 422
    assert "Must be 16 or older" in reply.text
    assert 'value="12"' in reply.text and 'value="3"' in reply.text
    assert 'aria-invalid="true"' in reply.text
    assert _db(client).execute("SELECT count(*) FROM submissions").fetchone()[0] == 0


def test_repeat_entries_without_javascript(client: TestClient) -> None:
    fields = _page_fields(client, "tiny")
    added = client.post("/forms/tiny", data={**fields, "_action": "add:kids", "age": "40"})
    assert added.status_code == 200
    assert 'name="kids.0.kid_age"' in added.text and 'value="40"' in added.text
    twice = client.post(
        "/forms/tiny", data={**fields, "_action": "add:kids", "kids.0.kid_age": "5"}
    )
    assert 'name="kids.1.kid_age"' in twice.text
    removed = client.post(
        "/forms/tiny",
        data={**fields, "_action": "remove:kids.0", "kids.0.kid_age": "5", "kids.1.kid_age": "8"},
    )
    assert 'name="kids.0.kid_age"' in removed.text and 'name="kids.1.kid_age"' not in removed.text
    assert 'value="8"' in removed.text
    assert _db(client).execute("SELECT count(*) FROM submissions").fetchone()[0] == 0


def test_javascript_style_post_gets_json(client: TestClient) -> None:
    fields = _page_fields(client, "tiny")
    now = datetime.now(UTC).isoformat()
    body = {**fields, "family_name": "李", "age": "20", "_completed_at": now}
    headers = {"Accept": "application/json"}
    created = client.post("/forms/tiny", data=body, headers=headers)
    assert created.status_code == 201
    assert created.json()["status"] == "created" and created.json()["id"] == fields["_id"]
    duplicate = client.post("/forms/tiny", data=body, headers=headers)
    assert duplicate.status_code == 200 and duplicate.json()["status"] == "duplicate"
    conflict = client.post("/forms/tiny", data={**body, "age": "21"}, headers=headers)
    assert conflict.status_code == 409
    invalid = client.post(
        "/forms/tiny", data={**body, "_id": new_id(), "age": "x"}, headers=headers
    )
    assert invalid.status_code == 422 and set(invalid.json()["errors"]) == {"age"}


def test_completed_at_in_the_future_is_refused(client: TestClient) -> None:
    fields = _page_fields(client, "tiny")
    future = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    reply = client.post(
        "/forms/tiny",
        data={**fields, "family_name": "李", "_completed_at": future},
        headers={"Accept": "application/json"},
    )
    assert reply.status_code == 422


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("completed_at", "yesterday", "completed_at is not an ISO 8601 time"),
        ("started_at", "2026-13-45", "started_at is not an ISO 8601 time"),
        ("started_at", "2999-01-01T00:00:00Z", "started_at lies in the future"),
    ],
)
def test_the_api_names_the_time_it_cannot_take(
    client: TestClient, key: str, value: str, message: str
) -> None:
    reply = _post_json(client, "tiny", {"id": new_id(), key: value, "answers": {}})
    assert reply.status_code == 422
    assert message in reply.json()["error"]


def test_today_is_the_completion_date(client: TestClient) -> None:
    completed = "2026-01-15T23:30:00+08:00"
    reply = _post_json(
        client,
        "tiny",
        {"id": new_id(), "completed_at": completed, "answers": {"family_name": "赵"}},
    )
    assert reply.status_code == 201, reply.text
    row = _db(client).execute("SELECT filled_on FROM tiny").fetchone()
    assert row["filled_on"] == "2026-01-15"


def test_image_upload_is_stored_and_type_checked(client: TestClient) -> None:
    fields = _page_fields(client, "tiny")
    headers = {"Accept": "application/json"}
    bad = client.post(
        "/forms/tiny",
        data={**fields, "family_name": "周"},
        headers=headers,
        files={"photo": ("x.png", b"<svg onload=alert(1)>", "image/png")},
    )
    assert bad.status_code == 422 and set(bad.json()["errors"]) == {"photo"}
    good = client.post(
        "/forms/tiny",
        data={**fields, "family_name": "周"},
        headers=headers,
        files={"photo": ("x.png", PNG, "image/png")},
    )
    assert good.status_code == 201, good.text
    stored = _db(client).execute("SELECT photo FROM tiny").fetchone()["photo"]
    settings: Settings = client.app.state.settings  # type: ignore[attr-defined]
    assert (settings.data_dir / "attachments" / stored).read_bytes() == PNG


# -- API ----------------------------------------------------------------------------


def test_api_lists_forms_and_definitions(client: TestClient) -> None:
    forms = client.get("/api/forms").json()
    assert {f["id"] for f in forms} >= {"worker_intake", "tiny"}
    definition = client.get("/api/forms/tiny").json()
    by_name = {q["name"]: q for q in definition["questions"]}
    assert by_name["age"]["constraint"] == [">=", ["dot"], ["num", 16]]
    assert "sensitive" not in json.dumps(definition)


def test_a_disabled_users_token_is_refused_at_once(client: TestClient) -> None:
    token = _token(client)
    first = {"id": new_id(), "answers": worker_intake_answers()}
    assert _post_json(client, "worker_intake", first, token).status_code == 201
    client.app.state.accounts.disable("wang")  # type: ignore[attr-defined]
    second = {"id": new_id(), "answers": worker_intake_answers()}
    assert _post_json(client, "worker_intake", second, token).status_code == 401


def test_a_token_revoked_by_another_process_is_refused_soon(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A long window while the token is still remembered (a slow machine must not see it
    # pass), then a short one to let it pass.
    monkeypatch.setattr("forms_server.accounts.TOKEN_RECHECK_S", 60.0)
    token = _token(client)

    def post() -> int:
        body = {"id": new_id(), "answers": worker_intake_answers()}
        return int(_post_json(client, "worker_intake", body, token).status_code)

    assert post() == 201
    with _db(client) as db:  # as the users command would, from its own process
        db.execute("DELETE FROM _tokens")
    assert post() == 201  # still remembered, for at most TOKEN_RECHECK_S
    monkeypatch.setattr("forms_server.accounts.TOKEN_RECHECK_S", 0.05)
    time.sleep(0.1)
    assert post() == 401


def test_api_submission_lifecycle(client: TestClient) -> None:
    sid = new_id()
    token = _token(client)
    body = {"id": sid, "answers": worker_intake_answers()}
    assert _post_json(client, "worker_intake", body).status_code == 401
    created = _post_json(client, "worker_intake", body, token)
    assert created.status_code == 201, created.text
    assert _post_json(client, "worker_intake", body, token).status_code == 200
    changed = {"id": sid, "answers": worker_intake_answers(monthly_wage=7000)}
    assert _post_json(client, "worker_intake", changed, token).status_code == 409
    url = created.json()["url"]
    assert client.get(url).status_code == 401
    fetched = client.get(url, headers={"Authorization": f"Bearer {token}"}).json()
    assert fetched["answers"]["monthly_wage"] == 6500
    assert fetched["answers"]["full_name"] == "张建国"
    other = {"Authorization": f"Bearer {_token(client, 'li', 'collector')}"}
    assert client.get(url, headers=other).status_code == 404
    researcher = {"Authorization": f"Bearer {_token(client, 'zhao', 'researcher')}"}
    assert client.get(url, headers=researcher).status_code == 403
    db = _db(client)
    row = db.execute("SELECT * FROM worker_intake").fetchone()
    assert row["monthly_wage"] == 6500.0 and json.loads(row["work_problems"]) == [
        "wage_arrears",
        "no_contract",
    ]
    kids = db.execute("SELECT child_age FROM worker_intake__children").fetchall()
    assert [k[0] for k in kids] == [9, 5]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"id": "not-a-uuid", "answers": {}}, 422),
        ({"answers": {}}, 422),
        ({"id": "00000000-0000-4000-8000-000000000000", "answers": []}, 422),
        ({"id": "00000000-0000-4000-8000-000000000000", "answers": {"nope": 1}}, 422),
        ({"id": "00000000-0000-4000-8000-000000000000", "answers": {"age": "x"}}, 422),
        ([1, 2], 400),
    ],
)
def test_api_bad_submissions(client: TestClient, body: Any, status: int) -> None:
    reply = _post_json(client, "tiny", body)
    assert reply.status_code == status, reply.text
    if status == 422:
        assert reply.json()["errors"] or reply.json().get("error")


def test_api_refuses_other_content_types_and_bad_json(client: TestClient) -> None:
    url = "/api/forms/tiny/submissions"
    assert (
        client.post(url, content=b"id=1", headers={"content-type": "text/plain"}).status_code == 415
    )
    assert (
        client.post(url, content=b"{nope", headers={"content-type": "application/json"}).status_code
        == 400
    )


def test_oversized_request_is_413(client: TestClient) -> None:
    big = {"id": new_id(), "answers": {"family_name": "x" * 300_000}}
    assert _post_json(client, "tiny", big).status_code == 413
    fields = _page_fields(client, "tiny")
    reply = client.post("/forms/tiny", data=fields, files={"photo": ("a.png", PNG * 3000)})
    assert reply.status_code == 413


def test_forms_for_collectors_need_sign_in(client: TestClient) -> None:
    page = client.get("/forms/worker_intake", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login?next=/forms/worker_intake")
    assert client.get("/forms/tiny").status_code == 200
    researcher = {"Authorization": f"Bearer {_token(client, 'zhao', 'researcher')}"}
    assert client.get("/forms/worker_intake", headers=researcher).status_code == 403
    collector = {"Authorization": f"Bearer {_token(client)}"}
    assert client.get("/forms/worker_intake", headers=collector).status_code == 200


def test_session_json_post_needs_csrf_header(client: TestClient) -> None:
    state = client.app.state  # type: ignore[attr-defined]
    user = state.accounts.add("sun", "collector", "a long password")
    client.cookies.set("fs_session", state.sessions.cookie_value(user))
    client.get("/forms/tiny")
    body = {"id": new_id(), "answers": {"family_name": "孙"}}
    assert client.post("/api/forms/tiny/submissions", json=body).status_code == 403
    headers = {"X-CSRF-Token": client.cookies["fs_csrf"]}
    reply = client.post("/api/forms/tiny/submissions", json=body, headers=headers)
    assert reply.status_code == 201
    row = _db(client).execute("SELECT submitted_by FROM submissions").fetchone()
    assert row["submitted_by"] == "sun"


def _login_token(client: TestClient) -> str:
    found = re.search(r'name="_csrf" value="([^"]+)"', client.get("/login").text)
    assert found is not None
    return found.group(1)


def test_sign_in_and_out(client: TestClient) -> None:
    state = client.app.state  # type: ignore[attr-defined]
    state.accounts.add("qian", "staff", "a long password")
    token = _login_token(client)
    form = {"_csrf": token, "username": "qian", "password": "wrong password"}
    assert client.post("/login", data=form).status_code == 401
    form["password"] = "a long password"
    reply = client.post("/login?next=/forms/worker_intake", data=form, follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/forms/worker_intake"
    cookie = reply.headers["set-cookie"].lower()
    assert "fs_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert client.get("/forms/worker_intake").status_code == 200
    out = client.post("/logout", data={"_csrf": token}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/forms/worker_intake", follow_redirects=False).status_code == 303
    actions = [e["action"] for e in state.audit.entries()]
    assert actions[:3] == ["sign_out", "sign_in", "sign_in_failed"]


def test_failed_sign_ins_lock_the_account(client: TestClient) -> None:
    client.app.state.accounts.add("zhou", "staff", "a long password")  # type: ignore[attr-defined]
    form = {"_csrf": _login_token(client), "username": "zhou", "password": "nope nope"}
    statuses = [client.post("/login", data=form).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    form["password"] = "a long password"
    assert client.post("/login", data=form, follow_redirects=False).status_code == 429


def test_sign_in_never_redirects_off_site(client: TestClient) -> None:
    client.app.state.accounts.add("wu", "staff", "a long password")  # type: ignore[attr-defined]
    form = {
        "_csrf": _login_token(client),
        "username": "wu",
        "password": "a long password",
        "next": "//evil.example/x",
    }
    reply = client.post("/login", data=form, follow_redirects=False)
    assert reply.headers["location"] == "/"


def test_page_without_javascript_gets_defaults_and_filtered_choices(client: TestClient) -> None:
    page = client.get("/forms/tiny")
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    assert re.search(rf'name="visit_date"[^>]*value="{today}"', page.text)
    fields = _page_fields(client, "tiny")
    shown = client.post("/forms/tiny", data={**fields, "_action": "refresh", "province": "henan"})
    offered = {
        value: hidden
        for hidden, value in re.findall(
            r'<label class="opt"[^>]*?( hidden)?><input type="radio"[^>]*'
            r'name="city" value="(\w+)"',
            shown.text,
        )
    }
    assert offered == {"zhengzhou": "", "baoding": " hidden"}
    wrong = client.post(
        "/forms/tiny?lang=zh-Hans",
        data={**fields, "family_name": "王", "province": "henan", "city": "baoding"},
    )
    assert wrong.status_code == 422
    assert "“保定”在这里不可选" in wrong.text
