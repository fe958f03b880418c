"""Who is asking: the signed session cookie or an API bearer token; sign-in and sign-out.

A session is a signed cookie (HttpOnly, SameSite=Lax, Secure over HTTPS) naming
the user and their session version; changing the password or disabling the user
bumps the version and ends every session. Failed sign-ins are slowed and, past a
limit, refused for a while, per account and per address.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from forms_server.accounts import Accounts, User, can
from forms_server.web.errors import Problem
from forms_server.web.security import CSRF_COOKIE, CSRF_FIELD, CSRF_HEADER

SESSION_COOKIE = "fs_session"
SESSION_MAX_AGE = 14 * 24 * 3600
#: Failed sign-ins allowed in the window before a lock-out, per account and per address.
MAX_FAILURES_ACCOUNT = 5
MAX_FAILURES_ADDRESS = 20
FAILURE_WINDOW_S = 15 * 60
FAILURE_DELAY_S = 0.5


@dataclass
class Throttle:
    """Recent failed sign-ins, per account and per address (kept in memory)."""

    failures: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self.failures[key]
        while times and times[0] < now - FAILURE_WINDOW_S:
            times.popleft()
        return times

    def locked(self, username: str, address: str) -> bool:
        now = time.monotonic()
        return (
            len(self._recent("u:" + username, now)) >= MAX_FAILURES_ACCOUNT
            or len(self._recent("a:" + address, now)) >= MAX_FAILURES_ADDRESS
        )

    def failed(self, username: str, address: str) -> None:
        now = time.monotonic()
        self.failures["u:" + username].append(now)
        self.failures["a:" + address].append(now)

    def succeeded(self, username: str) -> None:
        self.failures.pop("u:" + username, None)


class Sessions:
    def __init__(self, secret: bytes) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="forms-server-session")

    def cookie_value(self, user: User) -> str:
        return self._serializer.dumps([user.username, user.session_version])

    def read(self, value: str | None) -> tuple[str, int] | None:
        if not value:
            return None
        try:
            username, version = self._serializer.loads(value, max_age=SESSION_MAX_AGE)
        except (BadSignature, ValueError, TypeError):
            return None
        if not isinstance(username, str) or not isinstance(version, int):
            return None
        return username, version


def current_user(request: Request) -> User | None:
    """The signed-in user (session or ``Authorization: Bearer``), cached per request."""
    cached: tuple[User | None] | None = getattr(request.state, "user_cache", None)
    if cached is not None:
        return cached[0]
    accounts: Accounts = request.app.state.accounts
    user: User | None = None
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        user = accounts.by_token(header[7:].strip())
        request.state.by_token = user is not None
    else:
        found = request.app.state.sessions.read(request.cookies.get(SESSION_COOKIE))
        if found is not None:
            candidate = accounts.get(found[0])
            if candidate and not candidate.disabled and candidate.session_version == found[1]:
                user = candidate
    request.state.user_cache = (user,)
    return user


def require(request: Request, action: str) -> User:
    """The signed-in user allowed to do ``action``; 401 when not signed in, else 403."""
    user = current_user(request)
    if user is None:
        raise Problem(401, "please sign in")
    if not can(user, action):
        raise Problem(403, "your account may not do this")
    return user


def check_csrf_header(request: Request) -> None:
    """A session-authenticated JSON write must echo the CSRF cookie in a header."""
    if getattr(request.state, "by_token", False):
        return
    cookie = request.cookies.get(CSRF_COOKIE)
    if not request.app.state.csrf.check(cookie, request.headers.get(CSRF_HEADER)):
        raise Problem(403, f"send the {CSRF_HEADER} header with the fs_csrf token")


def address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def sign_in_response(request: Request, user: User, target: str) -> Response:
    response = RedirectResponse(_safe_next(target), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        request.app.state.sessions.cookie_value(user),
        max_age=SESSION_MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


def sign_out_response() -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


async def slow_down() -> None:
    await asyncio.sleep(FAILURE_DELAY_S)


def _safe_next(target: str) -> str:
    """Only a path on this site: never an open redirect."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


__all__ = [
    "CSRF_FIELD",
    "Sessions",
    "Throttle",
    "check_csrf_header",
    "current_user",
    "require",
]
