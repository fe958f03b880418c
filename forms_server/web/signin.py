"""Sign-in and sign-out pages."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from forms_server.accounts import Accounts
from forms_server.i18n import pick_language
from forms_server.web.auth import (
    address,
    current_user,
    sign_in_response,
    sign_out_response,
    slow_down,
)
from forms_server.web.errors import Problem
from forms_server.web.pages import csrf_token, set_csrf_cookie
from forms_server.web.security import CSRF_COOKIE, CSRF_FIELD

_LANGS = ("zh-Hans", "en")


def _lang(request: Request, asked: str | None = None) -> str:
    return pick_language(
        asked or request.query_params.get("lang"), request.headers.get("accept-language"), _LANGS
    )


def _page(
    request: Request, lang: str, *, error: str = "", username: str = "", status: int = 200
) -> Response:
    state = request.app.state
    target = request.query_params.get("next", "/")
    response: Response = state.templates.TemplateResponse(
        request,
        "login.html",
        {
            "lang": lang,
            "t": state.translators(lang),
            "error": error,
            "username": username,
            "next": target,
            "csrf_token": csrf_token(request),
            "user": current_user(request),
        },
        status_code=status,
    )
    response.headers["Cache-Control"] = "no-store"
    set_csrf_cookie(request, response)
    return response


async def login_page(request: Request) -> Response:
    return _page(request, _lang(request))


async def login(request: Request) -> Response:
    async with request.form(max_fields=20, max_files=0) as data:
        fields = {k: v for k, v in data.items() if isinstance(v, str)}
    state = request.app.state
    if not state.csrf.check(request.cookies.get(CSRF_COOKIE), fields.get(CSRF_FIELD)):
        raise Problem(403, "the form's security token is missing or expired: reload the page")
    lang = _lang(request, fields.get("_lang"))
    t = state.translators(lang)
    username = fields.get("username", "").strip().lower()[:40]
    password = fields.get("password", "")[:1000]
    where = address(request)
    if state.throttle.locked(username, where):
        state.audit.record("sign_in_locked", actor=username or None, address=where)
        return _page(
            request,
            lang,
            username=username,
            status=429,
            error=t("Too many failed sign-ins. Wait 15 minutes and try again."),
        )
    accounts: Accounts = state.accounts
    user = accounts.authenticate(username, password) if username and password else None
    if user is None:
        state.throttle.failed(username, where)
        state.audit.record("sign_in_failed", actor=username or None, address=where)
        await slow_down()
        return _page(
            request, lang, username=username, status=401, error=t("Wrong user name or password.")
        )
    state.throttle.succeeded(username)
    state.audit.record("sign_in", actor=user.username, role=user.role, address=where)
    target = fields.get("next") or request.query_params.get("next") or "/"
    return sign_in_response(request, user, target)


async def logout(request: Request) -> Response:
    async with request.form(max_fields=20, max_files=0) as data:
        token = data.get(CSRF_FIELD)
    state = request.app.state
    if not state.csrf.check(
        request.cookies.get(CSRF_COOKIE), token if isinstance(token, str) else None
    ):
        raise Problem(403, "the form's security token is missing or expired: reload the page")
    user = current_user(request)
    if user is not None:
        state.audit.record(
            "sign_out", actor=user.username, role=user.role, address=address(request)
        )
    return sign_out_response()
