"""Browser tests: the real app served by uvicorn in a thread, driven by headless Chromium."""

from __future__ import annotations

import secrets
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Playwright,
    ViewportSize,
    sync_playwright,
)
from starlette.applications import Starlette

from forms_server.settings import Settings
from forms_server.web.app import create_app
from forms_server.web.auth import SESSION_COOKIE

from ..conftest import FORMS_DIR

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
#: A cheap Android phone's screen.
PHONE: ViewportSize = {"width": 360, "height": 740}


@dataclass(frozen=True)
class LiveServer:
    url: str
    data_dir: Path
    #: The app being served, for its state (accounts, sessions); None if not known.
    app: Starlette | None = field(default=None, compare=False, repr=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("live")
    shutil.copytree(FORMS_DIR, root / "forms")
    settings = Settings(forms_dir=root / "forms", data_dir=root / "data", port=_free_port())
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield LiveServer(f"http://127.0.0.1:{settings.port}", settings.data_dir, app)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh phone-sized browser context in Chinese."""
    context = browser.new_context(viewport=PHONE, locale="zh-CN", is_mobile=True, has_touch=True)
    yield context
    context.close()


@pytest.fixture
def phone_without_js(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport=PHONE, locale="zh-CN", java_script_enabled=False)
    yield context
    context.close()


#: The collector account the browser tests sign in as (forms with ``access: collectors``).
COLLECTOR = "browser-collector"


@pytest.fixture(scope="session")
def collector(live_server: LiveServer) -> str:
    """The user name of a collector account on the live server."""
    assert live_server.app is not None
    accounts = live_server.app.state.accounts
    if accounts.get(COLLECTOR) is None:
        accounts.add(COLLECTOR, "collector", secrets.token_urlsafe(16))
    return COLLECTOR


@pytest.fixture
def sign_in(live_server: LiveServer, collector: str) -> Callable[..., None]:
    """``sign_in(context)``: give a browser context the collector's session cookie, as the
    sign-in page would (the sign-in page itself is tested elsewhere)."""

    def add_session(context: BrowserContext, username: str = collector) -> None:
        assert live_server.app is not None
        state = live_server.app.state
        user = state.accounts.get(username)
        assert user is not None, f"no user {username!r}"
        cookie = state.sessions.cookie_value(user)
        context.add_cookies(
            [
                {
                    "name": SESSION_COOKIE,
                    "value": cookie,
                    "url": live_server.url,
                    "httpOnly": True,
                    "sameSite": "Lax",
                }
            ]
        )

    return add_session
