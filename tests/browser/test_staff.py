"""The staff's review and edit in a real browser, and the collector seeing the result.

A staff member signs in through /login, marks a submission "has issues" with a comment,
corrects one answer on the form page (with JavaScript, as staff use it) and reads the
change in the history; the collector who sent it signs in on a phone and finds the
status and the comment on the home page.
"""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from forms_server.accounts import Accounts
from forms_server.storage import Storage

from ..samples import worker_intake_answers
from .conftest import LiveServer

pytestmark = pytest.mark.browser

#: Fail in seconds, not in Playwright's default 30 s, when something does not show.
TIMEOUT_MS = 5000
FORM = "worker_intake"
PASSWORD = "browser-password-1"


@dataclass(frozen=True)
class People:
    staff: str
    collector: str
    collector_token: str


@pytest.fixture(scope="module")
def people(live_server: LiveServer) -> Iterator[People]:
    """A staff member and a collector of the live server, made in its database."""
    with Storage(live_server.data_dir / "forms.db") as storage:
        accounts = Accounts(storage)
        for name, role in (("staff-li", "staff"), ("field-wang", "collector")):
            if accounts.get(name) is None:
                accounts.add(name, role, PASSWORD)
        yield People("staff-li", "field-wang", accounts.new_token("field-wang"))


def _send(live_server: LiveServer, token: str, answers: dict[str, object]) -> str:
    """A submission sent through the API as the collector; its id."""
    sid = str(uuid.uuid4())
    request = urllib.request.Request(
        f"{live_server.url}/api/forms/{FORM}/submissions",
        data=json.dumps({"id": sid, "answers": answers, "lang": "zh-Hans"}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
    return sid


def _sign_in(page: Page, live_server: LiveServer, name: str, target: str = "/") -> None:
    page.goto(f"{live_server.url}/login?next={target}")
    page.fill("#username", name)
    page.fill("#password", PASSWORD)
    page.click("form.signin button[type=submit]")
    page.wait_for_url(f"{live_server.url}{target}*", timeout=TIMEOUT_MS)


@pytest.fixture
def desk(browser: Browser) -> Iterator[BrowserContext]:
    """A staff member's browser, in English."""
    context = browser.new_context(viewport={"width": 1024, "height": 800}, locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


def test_review_edit_and_the_collector_sees_the_issue(
    live_server: LiveServer, people: People, desk: BrowserContext, phone: BrowserContext
) -> None:
    sid = _send(live_server, people.collector_token, worker_intake_answers(full_name="刘明"))
    submission = f"/staff/submissions/{sid}"

    staff = desk.new_page()
    _sign_in(staff, live_server, people.staff, submission)
    expect(staff.locator("h1")).to_contain_text("刘**")
    expect(staff.locator(".sub-status")).to_contain_text("Received")
    expect(staff.locator("#answers")).to_contain_text("Average monthly take-home pay (RMB)")

    staff.get_by_label("Has issues").check()
    staff.fill("#r-comment", "工资填错了，请核对合同。")
    staff.get_by_role("button", name="Save the review").click()
    staff.wait_for_url(f"**{submission}?lang=en*")
    expect(staff.locator(".sub-status")).to_contain_text("Has issues")
    expect(staff.locator(".events")).to_contain_text("工资填错了，请核对合同。")

    staff.get_by_role("link", name="Edit the answers").click()
    wage = staff.locator("input[name=monthly_wage]")
    expect(wage).to_have_value("6500")
    wage.fill("7000")
    staff.click("#fs-submit")
    staff.wait_for_url(f"**{submission}?lang=en")
    change = staff.locator("#history table.diff tr", has_text="Average monthly take-home pay")
    expect(change.locator("del")).to_have_text("6500")
    expect(change.locator("ins")).to_have_text("7000")
    expect(staff.locator("#history")).to_contain_text(f"edited by {people.staff}")
    expect(staff.locator("#answers")).to_contain_text("7000")

    collector = phone.new_page()
    collector.set_default_timeout(TIMEOUT_MS)
    _sign_in(collector, live_server, people.collector)
    issue = collector.locator("#issues li", has_text="刘**")
    expect(issue).to_contain_text("有问题")
    expect(issue.locator(".comment")).to_contain_text("工资填错了，请核对合同。")
    issue.locator("a").click()
    expect(collector.locator(".sub-status")).to_contain_text("有问题")
    expect(collector.get_by_role("link", name="修改答案")).to_be_visible()
