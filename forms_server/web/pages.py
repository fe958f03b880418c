"""Rendering form pages: the context the templates get, and the no-JavaScript repeat buttons."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from forms_server.expressions import Context, evaluate, to_boolean, to_string
from forms_server.i18n import LANGUAGE_NAMES, pick_language
from forms_server.intake import field_key
from forms_server.model import Form, Question
from forms_server.validation import validate
from forms_server.web.security import CSRF_COOKIE

#: A year: the token must outlive any page kept open or any submission queued offline.
_CSRF_MAX_AGE = 365 * 24 * 3600


def language(request: Request, form: Form, asked: str | None = None) -> str:
    return pick_language(
        asked or request.query_params.get("lang"),
        request.headers.get("accept-language"),
        form.languages,
    )


def csrf_token(request: Request) -> str:
    """The token of this browser: its cookie's when valid, else a new one."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if request.app.state.csrf.is_signed(cookie):
        return str(cookie)
    token: str | None = getattr(request.state, "csrf_token", None)
    if token is None:
        token = request.app.state.csrf.new_token()
        request.state.csrf_token = token
    return token


def set_csrf_cookie(request: Request, response: Response) -> None:
    token = csrf_token(request)
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(
            CSRF_COOKIE,
            token,
            max_age=_CSRF_MAX_AGE,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )


def render_form(
    request: Request,
    form: Form,
    lang: str,
    *,
    raw: dict[str, Any],
    submission_id: str,
    started_at: str,
    errors: dict[str, str] | None = None,
    action: str = "",
    action_url: str | None = None,
) -> Response:
    """The form page for ``raw`` answers, after applying a no-JS add/remove ``action``.

    The page posts to ``action_url`` (an edit's URL), by default to the form's own.
    """
    state = request.app.state
    if action:
        _apply_action(form, raw, action)
    entries: dict[str, int] = {}
    _count_entries(form.questions, raw, "", entries)
    now = datetime.now(UTC).astimezone(state.intake.zone)
    result = validate(form, raw, now=now, lang=lang)
    irrelevant = {field_key(form, name, index) for (name, index) in result.irrelevant}
    calculated: dict[str, str] = {}
    _collect_calculated(form, form.questions, result.answers, "", calculated)
    t = state.translators(lang)
    context = {
        "form": form,
        "lang": lang,
        "t": t,
        "languages": [(tag, LANGUAGE_NAMES.get(tag, tag)) for tag in form.languages],
        "answers": raw,
        "errors": errors or {},
        "form_errors": [t("Please correct the answers marked below")] if errors else [],
        "irrelevant": irrelevant,
        "offered": _offered(form, result.answers, now),
        "fresh_defaults": {} if raw else _fresh_defaults(form, now),
        "calculated": calculated,
        "entries": entries,
        "submission_id": submission_id,
        "started_at": started_at,
        "csrf_token": csrf_token(request),
        "action": action_url or str(request.url_for("form_post", form_id=form.id).path),
        "definition": state.page_definitions[(form.id, lang)],
        "static_url": state.static_url,
    }
    response: Response = state.templates.TemplateResponse(request, "form.html", context)
    response.headers["Cache-Control"] = "no-store"
    set_csrf_cookie(request, response)
    return response


def _offered(form: Form, answers: dict[str, Any], now: datetime) -> dict[str, set[str]]:
    """For each select with a choice filter, by field key: the values it offers now."""
    offered: dict[str, set[str]] = {}
    for q in form.walk():
        if q.choice_filter is None:
            continue
        for index, prefix in _instances(form, answers, q.repeats):
            ctx = Context(answers=answers, fields=form.fields, now=now, here=q.name, index=index)
            offered[prefix + q.name] = {
                c.value
                for c in q.choices
                if to_boolean(
                    evaluate(
                        q.choice_filter,
                        replace(ctx, choice={**c.attrs, "value": c.value, "name": c.value}),
                    )
                )
            }
    return offered


def _instances(
    form: Form, answers: dict[str, Any], repeats: tuple[str, ...]
) -> list[tuple[tuple[int, ...], str]]:
    """(entry indexes, field key prefix) of every place a question of ``repeats`` stands."""
    places: list[tuple[tuple[int, ...], str, dict[str, Any]]] = [((), "", answers)]
    for repeat in repeats:
        places = [
            ((*index, i), f"{prefix}{repeat}.{i}.", entry)
            for index, prefix, level in places
            for i, entry in enumerate(level.get(repeat) or [])
            if isinstance(entry, dict)
        ]
    return [(index, prefix) for index, prefix, _ in places]


def _fresh_defaults(form: Form, now: datetime) -> dict[str, str]:
    """Expression defaults (``today()``…) of the top level, for a page seen without scripts."""
    ctx = Context(answers={}, fields=form.fields, now=now)
    return {
        q.name: to_string(evaluate(q.default_expr, replace(ctx, here=q.name)))
        for q in form.walk()
        if q.default_expr is not None and not q.repeats
    }


def _collect_calculated(
    form: Form,
    questions: tuple[Question, ...],
    answers: dict[str, Any],
    prefix: str,
    out: dict[str, str],
) -> None:
    for q in questions:
        if q.type == "repeat":
            for i, entry in enumerate(answers.get(q.name) or []):
                _collect_calculated(form, q.questions, entry, f"{prefix}{q.name}.{i}.", out)
        elif q.type == "group":
            _collect_calculated(form, q.questions, answers, prefix, out)
        elif q.calculation is not None and answers.get(q.name) is not None:
            out[prefix + q.name] = str(answers[q.name])


def _count_entries(
    questions: tuple[Question, ...], raw: dict[str, Any], prefix: str, out: dict[str, int]
) -> None:
    for q in questions:
        if q.type == "group":
            _count_entries(q.questions, raw, prefix, out)
        elif q.type == "repeat":
            found = raw.get(q.name)
            entries = found if isinstance(found, list) else []
            count = max(len(entries), q.min_count or 0)
            out[prefix + q.name] = count
            for i in range(count):
                entry = entries[i] if i < len(entries) and isinstance(entries[i], dict) else {}
                _count_entries(q.questions, entry, f"{prefix}{q.name}.{i}.", out)


def _apply_action(form: Form, raw: dict[str, Any], action: str) -> None:
    """``add:children`` appends an entry; ``remove:children.1`` removes one."""
    verb, _, key = action.partition(":")
    parts = key.split(".")
    if verb not in ("add", "remove") or not parts:
        return
    if verb == "remove":
        if len(parts) < 2 or not parts[-1].isdigit():
            return
        entries = _entries_at(raw, parts[:-1])
        index = int(parts[-1])
        if entries is not None and index < len(entries):
            del entries[index]
        return
    repeat = form.by_name.get(parts[-1])
    entries = _entries_at(raw, parts)
    if repeat is None or repeat.type != "repeat" or entries is None:
        return
    if repeat.max_count is None or len(entries) < repeat.max_count:
        entries.append({})


def _entries_at(raw: dict[str, Any], parts: list[str]) -> list[Any] | None:
    """The entry list at ``outer.0.inner`` (created when missing), or None if malformed."""
    target = raw
    for i in range(0, len(parts) - 1, 2):
        entries = target.get(parts[i])
        if not isinstance(entries, list) or not parts[i + 1].isdigit():
            return None
        index = int(parts[i + 1])
        while len(entries) <= index:
            entries.append({})
        target = entries[index]
    found = target.setdefault(parts[-1], [])
    return found if isinstance(found, list) else None
