"""Arbitrary bodies posted to the submission endpoints never get a 500."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from forms_server.settings import Settings
from forms_server.web.app import create_app

from .conftest import FORMS_DIR

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
# Question names of worker_intake, so fuzzed answers reach the real checks, not only "unknown".
NAMES = st.sampled_from(
    [
        "consent",
        "birth_date",
        "children",
        "monthly_wage",
        "work_problems",
        "child_age",
        "hometown_city",
        "intake_date",
        "_id",
        "nope",
        "children.0.child_age",
        "children.x.child_age",
        "children.99999999.child_age",
        "",
    ]
)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    root = tmp_path_factory.mktemp("fuzz")
    shutil.copytree(FORMS_DIR, root / "forms")
    app = create_app(Settings(forms_dir=root / "forms", data_dir=root / "data"))
    with TestClient(app) as test_client:
        yield test_client


def _statuses_ok(status: int) -> bool:
    return 200 <= status < 500


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.one_of(
        json_values,
        st.fixed_dictionaries(
            {
                "id": st.one_of(st.uuids().map(str), st.text(max_size=40)),
                "answers": st.dictionaries(NAMES, json_values, max_size=6),
            },
            optional={"completed_at": st.text(max_size=30), "lang": json_values},
        ),
    )
)
def test_json_api_never_500(client: TestClient, body: Any) -> None:
    reply = client.post("/api/forms/worker_intake/submissions", json=body)
    assert _statuses_ok(reply.status_code), reply.text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fields=st.lists(st.tuples(NAMES | st.text(max_size=20), st.text(max_size=40)), max_size=12),
    completed=st.one_of(st.none(), st.text(max_size=30)),
)
def test_form_post_never_500(
    client: TestClient, fields: list[tuple[str, str]], completed: str | None
) -> None:
    page = client.get("/forms/worker_intake")
    token = re.search(r'name="_csrf"[^>]*value="([^"]+)"', page.text)
    assert token is not None
    data = [*fields, ("_csrf", token.group(1))]
    if completed is not None:
        data.append(("_completed_at", completed))
    reply = client.post(
        "/forms/worker_intake", data=_multidict(data), headers={"Accept": "application/json"}
    )
    assert _statuses_ok(reply.status_code), reply.text


@settings(max_examples=60, deadline=None)
@given(raw=st.binary(max_size=300))
def test_raw_bytes_never_500(client: TestClient, raw: bytes) -> None:
    for content_type in (
        "application/json",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
    ):
        reply = client.post(
            "/api/forms/worker_intake/submissions",
            content=raw,
            headers={"content-type": content_type},
        )
        assert _statuses_ok(reply.status_code)
        reply = client.post(
            "/forms/worker_intake", content=raw, headers={"content-type": content_type}
        )
        assert _statuses_ok(reply.status_code)


def _multidict(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, value in pairs:
        out.setdefault(key, []).append(value)
    return out


PAGES = [
    "/",
    "/staff",
    "/staff/audit",
    "/staff/forms/worker_intake",
    "/staff/forms/worker_intake/pdf",
    "/staff/forms/worker_intake/summary.pdf",
    "/forms/worker_intake",
    "/login",
]
PARAMS = st.sampled_from(
    ["page", "after", "before", "from", "to", "status", "q", "lang", "collector", "date",
     "action", "filter", "next"]
)  # fmt: skip


@pytest.fixture(scope="module")
def admin(client: TestClient) -> dict[str, str]:
    accounts = client.app.state.accounts  # type: ignore[attr-defined]
    accounts.add("fuzzadmin", "admin", "a long password")
    return {"Authorization": f"Bearer {accounts.new_token('fuzzadmin')}"}


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from(PAGES),
    query=st.dictionaries(PARAMS, st.text(max_size=25) | st.integers().map(str), max_size=4),
)
def test_pages_with_any_query_never_500(
    client: TestClient, admin: dict[str, str], path: str, query: dict[str, str]
) -> None:
    reply = client.get(path, params=query, headers=admin)
    assert _statuses_ok(reply.status_code), (path, query, reply.text[:300])
