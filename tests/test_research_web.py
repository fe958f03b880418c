"""Datasette at /data, through the real app: who may see it, what it shows, what it never
shows, exports, and how soon a submission appears."""

from __future__ import annotations

import csv
import io
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from forms_server.settings import Settings
from forms_server.storage import Storage
from forms_server.web.app import create_app

from .conftest import FORMS_DIR
from .research_samples import Canaries, store_all
from .samples import new_id, worker_intake_answers

PASSWORD = "correct horse battery"
PUBLISHED = (
    "worker_intake",
    "worker_intake__children",
    "needs_assessment",
    "needs_assessment__children_school",
    "osh_worksite_survey",
    "osh_worksite_survey__incidents",
)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    forms = tmp_path / "forms"
    shutil.copytree(FORMS_DIR, forms)
    return Settings(forms_dir=forms, data_dir=tmp_path / "data")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


#: The users of these tests, made when first needed (hashing passwords takes a while).
ROLES = {"rita": "researcher", "sam": "staff", "ada": "admin", "carl": "collector"}


def _token(client: TestClient, username: str) -> dict[str, str]:
    accounts = client.app.state.accounts  # type: ignore[attr-defined]
    if accounts.get(username) is None:
        accounts.add(username, ROLES[username], PASSWORD)
    return {"Authorization": f"Bearer {accounts.new_token(username)}"}


def _wait(check: Callable[[], Any], seconds: float = 5.0) -> Any:
    """The first true result of ``check`` within ``seconds``; fails after that."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"not true within {seconds} s")
        time.sleep(0.05)


def _post(client: TestClient, form_id: str, answers: dict[str, Any], **extra: Any) -> str:
    sid = new_id()
    reply = client.post(
        f"/api/forms/{form_id}/submissions",
        json={"id": sid, "answers": answers, "completed_at": "2026-11-20T10:00:00+08:00"},
        **extra,
    )
    assert reply.status_code == 201, reply.text
    return sid


def _rows(client: TestClient, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    reply = client.get(f"/data/research/{path}", headers=headers)
    assert reply.status_code == 200, reply.text
    rows: list[dict[str, Any]] = reply.json()
    return rows


def _synced(client: TestClient) -> None:
    publisher = client.app.state.publisher  # type: ignore[attr-defined]
    _wait(lambda: publisher.pending() == 0 and publisher.last_error is None)


# -- who may see it -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/data/", "/data/research", "/data/research/worker_intake"])
def test_anonymous_pages_redirect_to_sign_in(client: TestClient, path: str) -> None:
    reply = client.get(path + "?_size=2", follow_redirects=False)
    assert reply.status_code == 303
    assert reply.headers["location"] == f"/login?next={path}%3F_size%3D2"


@pytest.mark.parametrize(
    "path",
    [
        "/data/research/worker_intake.json",
        "/data/research/worker_intake.csv",
        "/data/research.json",
        "/data/research/worker_intake?_format=json",
    ],
)
def test_anonymous_data_requests_get_401(client: TestClient, path: str) -> None:
    reply = client.get(path, follow_redirects=False)
    assert reply.status_code == 401
    assert reply.json()["status"] == 401


@pytest.mark.parametrize("path", ["/data/research/worker_intake", "/data/research.json"])
def test_collectors_get_403(client: TestClient, path: str) -> None:
    reply = client.get(path, headers=_token(client, "carl"), follow_redirects=False)
    assert reply.status_code == 403


@pytest.mark.parametrize("username", ["rita", "sam", "ada"])
def test_researchers_staff_and_admins_get_in(client: TestClient, username: str) -> None:
    reply = client.get("/data/research/worker_intake", headers=_token(client, username))
    assert reply.status_code == 200
    assert "工友首次接触登记表" in reply.text


def test_a_session_cookie_gets_in(client: TestClient) -> None:
    app = client.app
    _token(client, "rita")
    user = app.state.accounts.get("rita")  # type: ignore[attr-defined]
    client.cookies.set("fs_session", app.state.sessions.cookie_value(user))  # type: ignore[attr-defined]
    assert client.get("/data/research/worker_intake.json").status_code == 200
    client.cookies.clear()
    assert client.get("/data/research/worker_intake.json").status_code == 401


def test_a_disabled_researcher_is_refused(client: TestClient) -> None:
    headers = _token(client, "rita")
    client.app.state.accounts.disable("rita")  # type: ignore[attr-defined]
    assert client.get("/data/research.json", headers=headers).status_code == 401


# -- what it shows --------------------------------------------------------------------


@pytest.fixture
def filled(client: TestClient) -> dict[str, str]:
    """Submissions of every published form, synced; a researcher's bearer header."""
    carl = _token(client, "carl")
    for sector, wage in [("construction", 6500), ("manufacturing", 5200), ("construction", 7000)]:
        answers = worker_intake_answers(sector=sector, monthly_wage=wage)
        _post(client, "worker_intake", answers, headers=carl)
    storage: Storage = client.app.state.intake.storage  # type: ignore[attr-defined]
    store_all(storage, client.app.state.forms, Canaries(), per_form=2)  # type: ignore[attr-defined]
    _synced(client)
    return _token(client, "rita")


def test_every_published_form_has_its_table(client: TestClient, filled: dict[str, str]) -> None:
    tables = {t["name"] for t in client.get("/data/research.json", headers=filled).json()["tables"]}
    assert set(PUBLISHED) <= tables
    assert not any(t.startswith("legal_aid_intake") for t in tables)
    for table in PUBLISHED:
        reply = client.get(f"/data/research/{table}", headers=filled)
        assert reply.status_code == 200, table
    assert client.get("/data/research/legal_aid_intake", headers=filled).status_code == 404


def test_facets_on_a_select_one_and_a_select_multiple(
    client: TestClient, filled: dict[str, str]
) -> None:
    reply = client.get(
        "/data/research/worker_intake.json?_facet=sector&_facet_array=needs", headers=filled
    )
    facets = reply.json()["facet_results"]
    sectors = {r["value"]: r["count"] for r in facets["sector"]["results"]}
    assert sectors["construction"] == 3  # two posted, one stored directly
    assert facets["needs"]["type"] == "array"
    needs = {r["value"]: r["count"] for r in facets["needs"]["results"]}
    assert needs["legal_advice"] == 4  # three posted, one stored directly
    page = client.get("/data/research/worker_intake?_facet=sector_label", headers=filled)
    assert "建筑工地" in page.text


def test_canned_queries(client: TestClient, filled: dict[str, str]) -> None:
    rows = _rows(client, "worker_intake_sector_counts.json?_shape=array", filled)
    counts = {r["value"]: (r["label_zh_hans"], r["label_en"], r["n"]) for r in rows}
    assert counts["construction"] == ("建筑工地", "Construction", 3)
    weeks = _rows(client, "worker_intake_per_week.json?_shape=array", filled)
    assert sum(w["submissions"] for w in weeks) == 5
    assert client.get("/data/research/worker_intake_per_week", headers=filled).status_code == 200


def test_pagination_links_work_under_data(client: TestClient, filled: dict[str, str]) -> None:
    seen: list[str] = []
    url: str | None = "/data/research/worker_intake.json?_size=2"
    while url:
        page = client.get(url, headers=filled).json()
        seen.extend(row[0] for row in page["rows"])
        url = page["next_url"]
        if url:
            assert urlsplit(url).path == "/data/research/worker_intake.json"
    assert len(seen) == len(set(seen)) == 5
    html = client.get("/data/research/worker_intake?_size=2", headers=filled).text
    link = re.search(r'href="([^"]*_next=[^"]*)"', html)
    assert link is not None
    target = urlsplit(link.group(1).replace("&amp;", "&"))
    assert target.path == "/data/research/worker_intake"
    assert client.get(f"{target.path}?{target.query}", headers=filled).status_code == 200


def test_csv_export_opens_in_excel_and_is_audited(
    client: TestClient, filled: dict[str, str]
) -> None:
    for path in ("worker_intake.csv", "worker_intake.csv?_dl=1&_stream=on"):
        reply = client.get(f"/data/research/{path}", headers=filled)
        assert reply.status_code == 200
        assert reply.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.DictReader(io.StringIO(reply.content.decode("utf-8-sig"))))
        assert len(rows) == 5
        assert {"建筑工地", "工厂/制造业"} <= {r["sector_label"] for r in rows}
    download = client.get("/data/research/worker_intake.csv?_dl=1", headers=filled)
    assert download.headers["content-type"].startswith("text/csv")
    entries = client.app.state.audit.entries(action="export")  # type: ignore[attr-defined]
    targets = [(e["actor"], e["role"], e["target"]) for e in entries]
    assert ("rita", "researcher", "/data/research/worker_intake.csv") in targets


def test_json_export(client: TestClient, filled: dict[str, str]) -> None:
    rows = _rows(client, "worker_intake__children.json?_shape=array", filled)
    assert len(rows) == 3 * 2 + 2 * 2
    parents = {r["_id"] for r in _rows(client, "worker_intake.json?_shape=array", filled)}
    assert {r["_submission_id"] for r in rows} <= parents
    entries = client.app.state.audit.entries(action="export")  # type: ignore[attr-defined]
    assert any(e["target"] == "/data/research/worker_intake__children.json" for e in entries)


# -- what it never shows --------------------------------------------------------------


def test_no_canary_in_any_page_or_export(client: TestClient) -> None:
    app = client.app
    canaries = Canaries()
    carl = _token(client, "carl")
    # Through the real app: sensitive answers, and an instance name made from the name.
    name, notes = "雀" + canaries.new("")[6:14], canaries.new("-notes")
    canaries.values.append(name)
    employer = canaries.new("-employer")
    sid = _post(
        client,
        "worker_intake",
        worker_intake_answers(
            full_name=name, employer_name=employer, collector_notes=notes, phone="13912345678"
        ),
        headers=carl,
    )
    canaries.values += [sid, "13912345678", "carl"]
    # Straight into storage: every sensitive answer and attachment of every form.
    storage: Storage = app.state.intake.storage  # type: ignore[attr-defined]
    store_all(storage, app.state.forms, canaries, per_form=2)  # type: ignore[attr-defined]
    _synced(client)
    rita = _token(client, "rita")
    pages = ["/data/", "/data/research", "/data/research.json", "/data/-/metadata.json"]
    for table in (*PUBLISHED, "_choice_labels"):
        base = f"/data/research/{table}"
        pages += [f"{base}?_size=max", f"{base}.json?_size=max", f"{base}.csv?_size=max"]
        rows = client.get(f"{base}.json?_shape=array", headers=rita).json()
        pages += [f"{base}/{row['_id'].replace('/', '~2F')}" for row in rows[:2] if "_id" in row]
    queries = client.get("/data/research.json", headers=rita).json()["queries"]
    pages += [f"/data/research/{q['name']}.json" for q in queries]
    pages += [f"/data/research/{q['name']}" for q in queries[:5]]
    pages.append("/data/research?sql=select+*+from+sqlite_master")
    checked = 0
    for page in pages:
        reply = client.get(page, headers=rita)
        assert reply.status_code == 200, page
        found = canaries.found_in(reply.content.decode("utf-8-sig"))
        assert not found, (page, found)
        checked += 1
    assert checked > 80
    # Datasette's own catalogue of databases is not for researchers either.
    assert client.get("/data/_internal", headers=rita).status_code in (403, 404)


# -- how soon -------------------------------------------------------------------------


def test_a_submission_an_edit_and_a_deletion_show_within_seconds(client: TestClient) -> None:
    app = client.app
    publisher = app.state.publisher  # type: ignore[attr-defined]
    _synced(client)
    rita = _token(client, "rita")
    started = time.monotonic()
    sid = _post(client, "worker_intake", worker_intake_answers(), headers=_token(client, "carl"))
    key = publisher.pseudonyms.of(sid)
    path = f"worker_intake.json?_shape=array&_id={key}"
    row = _wait(lambda: _rows(client, path, rita))[0]
    assert time.monotonic() - started < 5
    assert row["monthly_wage"] == 6500

    form = app.state.forms["worker_intake"]  # type: ignore[attr-defined]
    edited = {**app.state.intake.storage.get(sid).answers, "monthly_wage": 8800}  # type: ignore[attr-defined]
    app.state.reviews.edit(form, sid, edited, actor="sam", instance_name=None)  # type: ignore[attr-defined]
    _wait(lambda: [r for r in _rows(client, path, rita) if r["monthly_wage"] == 8800])

    storage: Storage = app.state.intake.storage  # type: ignore[attr-defined]
    with storage.transaction() as db:
        db.execute("UPDATE submissions SET deleted = 1 WHERE id = ?", [sid])
        storage.log_change(db, sid, form.id, "delete")
    _wait(lambda: _rows(client, path, rita) == [])
    children = f"worker_intake__children.json?_shape=array&_submission_id={key}"
    assert _rows(client, children, rita) == []


def test_what_was_stored_while_the_server_was_down_appears_on_start(settings: Settings) -> None:
    app = create_app(settings)
    with TestClient(app) as client:
        _post(client, "worker_intake", worker_intake_answers(), headers=_token(client, "carl"))
    with Storage(settings.data_dir / "forms.db") as storage:
        store_all(storage, app.state.forms, Canaries(), per_form=3)
    again = create_app(settings)
    with TestClient(again) as client:
        rita = _token(client, "rita")
        _wait(lambda: len(_rows(client, "worker_intake.json?_shape=array", rita)) == 4)
        rows = _rows(client, "osh_worksite_survey__incidents.json?_shape=array", rita)
        assert len(rows) == 6


def test_nothing_is_served_until_a_question_turned_sensitive_is_gone(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        _post(client, "worker_intake", worker_intake_answers(), headers=_token(client, "carl"))
        _synced(client)
    path = settings.forms_dir / "worker_intake.yaml"
    wage = "      - name: monthly_wage\n        type: decimal\n"
    text = path.read_text(encoding="utf-8")
    assert wage in text
    path.write_text(text.replace(wage, wage + "        sensitive: true\n"), encoding="utf-8")
    changed = create_app(settings)
    idle = TestClient(changed)  # no lifespan: no sync thread, nothing rebuilt yet
    rita = _token(idle, "rita")
    for page in ("/data/research/worker_intake.json", "/data/research/worker_intake"):
        assert idle.get(page, headers=rita).status_code == 503
    with TestClient(changed) as client:
        table = "/data/research/worker_intake.json"
        reply = _wait(lambda: (r := client.get(table, headers=rita)).status_code == 200 and r)
        assert "monthly_wage" not in reply.json()["columns"]
        assert len(reply.json()["rows"]) == 1
