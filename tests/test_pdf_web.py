"""The staff's PDF routes: who may have them, how they answer, the audit, batches."""

from __future__ import annotations

import io
import json
import re
import shutil
import time
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pypdf import PdfReader
from starlette.testclient import TestClient

from forms_server.pdf_filters import FilterError, Filters
from forms_server.settings import Settings
from forms_server.web.app import create_app

from .conftest import FORMS_DIR
from .samples import new_id, worker_intake_answers

ZONE = ZoneInfo("Asia/Shanghai")
PASSWORD = "correct horse battery"
ROLES = {
    "staff1": "staff",
    "staff2": "staff",
    "boss": "admin",
    "walker": "collector",
    "scholar": "researcher",
}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    forms = tmp_path / "forms"
    forms.mkdir()
    shutil.copy(FORMS_DIR / "worker_intake.yaml", forms)
    settings = Settings(forms_dir=forms, data_dir=tmp_path / "data")
    app = create_app(settings)
    with TestClient(app) as test_client:
        yield test_client


def user(client: TestClient, name: str) -> None:
    """The user ``name`` (role by name: staff1, staff2, boss, walker, scholar), made once."""
    accounts = client.app.state.accounts  # type: ignore[attr-defined]
    if accounts.get(name) is None:
        accounts.add(name, ROLES[name], PASSWORD)


def auth(client: TestClient, name: str) -> dict[str, str]:
    user(client, name)
    token = client.app.state.accounts.new_token(name)  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {token}"}


def submit(client: TestClient, count: int = 1, **changes: Any) -> list[str]:
    state = client.app.state  # type: ignore[attr-defined]
    form = state.forms["worker_intake"]
    ids = []
    for i in range(count):
        sid = new_id()
        answers = worker_intake_answers(intake_date=f"2026-03-{1 + i % 28:02d}", **changes)
        when = datetime(2026, 3, 1 + i % 28, 10, tzinfo=ZONE)
        outcome = state.intake.receive(form, sid, answers, lang="zh-Hans", completed_at=when)
        assert outcome.status == "created", outcome.errors
        ids.append(sid)
    return ids


def audit(client: TestClient) -> list[dict[str, Any]]:
    return client.app.state.audit.entries(action="download_pdf")  # type: ignore[attr-defined,no-any-return]


def assert_pdf(response: Any) -> PdfReader:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["cache-control"] == "no-store"
    disposition = response.headers["content-disposition"]
    assert re.fullmatch(r'attachment; filename="[A-Za-z0-9._-]+\.pdf"', disposition), disposition
    return PdfReader(io.BytesIO(response.content))


@pytest.mark.parametrize("user", ["staff1", "boss"])
def test_staff_and_admins_get_a_submission_pdf_and_it_is_audited(
    client: TestClient, user: str
) -> None:
    (sid,) = submit(client)
    response = client.get(f"/staff/submissions/{sid}.pdf?lang=both", headers=auth(client, user))
    reader = assert_pdf(response)
    assert "张建国" in "".join(page.extract_text() for page in reader.pages)
    (entry,) = audit(client)
    assert (entry["actor"], entry["target"]) == (user, sid)
    assert json.loads(entry["detail"])["pdf"] == "submission"


@pytest.mark.parametrize(
    "path",
    [
        "/staff/submissions/{sid}.pdf",
        "/staff/forms/worker_intake/summary.pdf",
        "/staff/forms/worker_intake/pdf",
        "/staff/jobs/abc",
        "/staff/jobs/abc.json",
        "/staff/jobs/abc/download",
    ],
)
def test_who_may_not_have_pdfs(client: TestClient, path: str) -> None:
    (sid,) = submit(client)
    url = path.format(sid=sid)
    anonymous = client.get(url, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")
    assert client.get(url, headers={"Accept": "application/json"}).status_code == 401
    for user in ("walker", "scholar"):
        assert client.get(url, headers=auth(client, user)).status_code == 403
    assert audit(client) == []


def test_unknown_or_deleted_submission_is_not_found(client: TestClient) -> None:
    headers = auth(client, "staff1")
    assert client.get(f"/staff/submissions/{new_id()}.pdf", headers=headers).status_code == 404
    assert client.get("/staff/submissions/nope.pdf", headers=headers).status_code == 404
    (sid,) = submit(client)
    storage = client.app.state.intake.storage  # type: ignore[attr-defined]
    with storage.transaction() as db:
        db.execute("UPDATE submissions SET deleted = 1 WHERE id = ?", [sid])
    assert client.get(f"/staff/submissions/{sid}.pdf", headers=headers).status_code == 404
    assert audit(client) == []


def test_summary_pdf_with_filters_is_audited(client: TestClient) -> None:
    submit(client, 4)
    submit(client, 2, sector="manufacturing")
    response = client.get(
        "/staff/forms/worker_intake/summary.pdf",
        params={"from": "2026-01-01", "to": "2026-12-31", "filter": "sector:construction"},
        headers=auth(client, "staff1"),
    )
    reader = assert_pdf(response)
    text = "".join(page.extract_text() for page in reader.pages)
    assert "共 4 份提交" in text
    assert "张建国" not in text and "13812345678" not in text
    (entry,) = audit(client)
    detail = json.loads(entry["detail"])
    assert detail["pdf"] == "summary" and detail["filter"] == "sector:construction"
    assert entry["target"] == "worker_intake"


@pytest.mark.parametrize(
    "query",
    ["from=2026-99-01", "status=lost", "filter=full_name:x", "filter=sector:moon"],
)
def test_summary_with_a_bad_filter_is_a_bad_request(client: TestClient, query: str) -> None:
    response = client.get(
        f"/staff/forms/worker_intake/summary.pdf?{query}",
        headers={**auth(client, "staff1"), "Accept": "application/json"},
    )
    assert response.status_code == 400
    assert (
        client.get("/staff/forms/nope/summary.pdf", headers=auth(client, "staff1")).status_code
        == 404
    )


def _sign_in(client: TestClient, name: str) -> None:
    user(client, name)
    page = client.get("/login")
    token = re.search(r'name="_csrf" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    response = client.post(
        "/login",
        data={"username": name, "password": PASSWORD, "_csrf": token[1]},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


def _wait(client: TestClient, url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(url, headers=headers or {}).json()
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise AssertionError("the batch did not finish")


def test_batch_from_the_page_with_its_csrf_token(client: TestClient) -> None:
    ids = submit(client, 5)
    _sign_in(client, "staff1")
    page = client.get("/staff/forms/worker_intake/pdf")
    assert page.status_code == 200
    token = re.search(r'name="_csrf" value="([^"]+)"', page.text)
    assert token
    refused = client.post("/staff/forms/worker_intake/batch", data={"format": "pdf"})
    assert refused.status_code == 403
    started = client.post(
        "/staff/forms/worker_intake/batch",
        data={"_csrf": token[1], "format": "pdf", "lang": "zh-Hans", "from": "2026-03-01"},
        follow_redirects=False,
    )
    assert started.status_code == 303
    job_page = client.get(started.headers["location"])
    assert job_page.status_code == 200 and "<progress" in job_page.text
    assert job_page.headers["cache-control"] == "no-store"
    progress = re.search(r'data-progress="([^"]+)"', job_page.text)
    assert progress
    job = _wait(client, progress[1])
    assert job["state"] == "done" and job["done"] == job["total"] == 5
    assert audit(client) == []
    response = client.get(job["download"])
    reader = assert_pdf(response)
    assert len(reader.pages) == job["pages"]
    text = "".join(page.extract_text() for page in reader.pages)
    assert all(sid[:8] in text for sid in ids)
    (entry,) = audit(client)
    assert entry["actor"] == "staff1" and json.loads(entry["detail"])["submissions"] == 5


def test_only_the_starter_or_an_admin_may_follow_or_download_a_batch(client: TestClient) -> None:
    submit(client, 3)
    started = client.post(
        "/staff/forms/worker_intake/batch",
        data={"format": "zip", "lang": "en"},
        headers={**auth(client, "staff1"), "Accept": "application/json"},
    )
    assert started.status_code == 202, started.text
    job = _wait(client, started.json()["progress"], auth(client, "staff1"))
    assert job["state"] == "done"
    for url in (job["progress"], job["download"], started.json()["page"]):
        assert client.get(url, headers=auth(client, "staff2")).status_code == 403
    response = client.get(job["download"], headers=auth(client, "boss"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["cache-control"] == "no-store"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert len(archive.namelist()) == 3
    (entry,) = audit(client)
    assert entry["actor"] == "boss" and json.loads(entry["detail"])["format"] == "zip"


def test_a_batch_of_nothing_is_refused(client: TestClient) -> None:
    submit(client, 1)
    response = client.post(
        "/staff/forms/worker_intake/batch",
        data={"format": "pdf", "status": "approved"},
        headers={**auth(client, "staff1"), "Accept": "application/json"},
    )
    assert response.status_code == 400
    assert "no submissions match" in response.json()["error"]


def test_unknown_job_is_not_found(client: TestClient) -> None:
    headers = {**auth(client, "staff1"), "Accept": "application/json"}
    assert client.get("/staff/jobs/nope.json", headers=headers).status_code == 404


SENSITIVE_GROUP = """
id: hardship
version: 1
title: {zh-Hans: 困难, en: Hardship}
languages: [zh-Hans, en]
questions:
  - name: sector
    type: select_one
    label: {zh-Hans: 行业, en: Sector}
    choices:
      - {value: building, label: {zh-Hans: 建筑, en: Building}}
      - {value: factory, label: {zh-Hans: 工厂, en: Factory}}
  - name: private
    type: group
    sensitive: true
    label: {zh-Hans: 隐私, en: Private}
    questions:
      - name: debt
        type: select_one
        label: {zh-Hans: 欠债, en: In debt}
        choices:
          - {value: "yes", label: {zh-Hans: 是, en: "Yes"}}
          - {value: "no", label: {zh-Hans: 否, en: "No"}}
"""


def test_the_page_offers_exactly_the_filters_a_batch_accepts(tmp_path: Path) -> None:
    forms = tmp_path / "forms"
    forms.mkdir()
    (forms / "hardship.yaml").write_text(SENSITIVE_GROUP, "utf-8")
    app = create_app(Settings(forms_dir=forms, data_dir=tmp_path / "data"))
    with TestClient(app) as client:
        _sign_in(client, "staff1")
        page = client.get("/staff/forms/hardship/pdf")
        offered = re.findall(r'<option value="([^"]+:[^"]+)"', page.text)
        # A select_one inside a sensitive group is as sensitive as the group.
        assert set(offered) == {"sector:building", "sector:factory"}  # in both forms of the page
        form = client.app.state.forms["hardship"]  # type: ignore[attr-defined]
    for value in offered:
        Filters.parse(form, answer=value)
    with pytest.raises(FilterError, match="sensitive"):
        Filters.parse(form, answer="debt:yes")
