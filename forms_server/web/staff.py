"""The staff's lists: every form with its counts, one form's submissions, the audit log."""

from __future__ import annotations

import json
from datetime import date
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from forms_server.model import Form
from forms_server.queries import Cursor, DateField, ListFilter, Page, Queries
from forms_server.reviews import REVIEW_STATES
from forms_server.web.access import page_language, render
from forms_server.web.auth import require
from forms_server.web.errors import Problem

#: Entries on one page of the audit log.
AUDIT_PAGE_SIZE = 100
_MAX_TEXT = 200


async def staff_index(request: Request) -> Response:
    """``GET /staff``: the forms, with how many submissions are in each review state."""
    user = require(request, "review")
    lang = page_language(request)
    queries: Queries = request.app.state.queries
    forms = []
    for form in request.app.state.forms.values():
        counts = await run_in_threadpool(queries.status_counts, form.id)
        forms.append({"form": form, "counts": counts, "total": sum(counts.values())})
    return render(request, "staff/index.html", lang, {"forms": forms}, user=user)


async def submissions_list(request: Request) -> Response:
    """``GET /staff/forms/{form_id}``: a form's submissions, newest first, filtered."""
    user = require(request, "review")
    form = _form(request)
    lang = page_language(request)
    where = _filter(request)
    try:
        after = Cursor.parse(request.query_params.get("after"))
        before = Cursor.parse(request.query_params.get("before"))
    except ValueError as exc:
        raise Problem(400, str(exc)) from None
    state = request.app.state
    queries: Queries = state.queries
    page: Page = await run_in_threadpool(
        queries.page, form.id, where, state.intake.zone, after=after, before=before
    )
    collectors = await run_in_threadpool(queries.collectors, form.id)
    base = _filter_params(where, lang)
    context: dict[str, Any] = {
        "form": form,
        "page": page,
        "where": where,
        "collectors": collectors,
        "filtered": any(value for key, value in base.items() if key not in ("lang", "date")),
        "older_url": _url(request, {**base, "after": page.older.token()}) if page.older else "",
        "newer_url": _url(request, {**base, "before": page.newer.token()}) if page.newer else "",
        "first_url": _url(request, base) if page.newer else "",
        "lang_url": _url(request, {**base, "lang": "en" if lang.startswith("zh") else "zh-Hans"}),
    }
    return render(request, "staff/list.html", lang, context, user=user)


async def audit_page(request: Request) -> Response:
    """``GET /staff/audit``: the audit log, newest first, for admins; read-only."""
    user = require(request, "audit")
    lang = page_language(request)
    action = request.query_params.get("action") or None
    try:
        page = min(max(1, int(request.query_params.get("page", "1"))), 10**9)
    except ValueError:
        raise Problem(400, "page must be a whole number") from None
    state = request.app.state
    queries: Queries = state.queries
    offset = (page - 1) * AUDIT_PAGE_SIZE
    entries = await run_in_threadpool(
        state.audit.entries, limit=AUDIT_PAGE_SIZE + 1, offset=offset, action=action
    )
    total = await run_in_threadpool(queries.audit_count, action)
    actions = await run_in_threadpool(queries.audit_actions)
    params = {"lang": lang, **({"action": action} if action else {})}
    context = {
        "entries": [_audit_row(entry) for entry in entries[:AUDIT_PAGE_SIZE]],
        "actions": actions,
        "action": action or "",
        "total": total,
        "page_number": page,
        "older_url": _url(request, {**params, "page": page + 1})
        if len(entries) > AUDIT_PAGE_SIZE
        else "",
        "newer_url": _url(request, {**params, "page": page - 1}) if page > 1 else "",
        "lang_url": _url(request, {**params, "lang": "en" if lang.startswith("zh") else "zh-Hans"}),
    }
    return render(request, "staff/audit.html", lang, context, user=user)


def _form(request: Request) -> Form:
    form: Form | None = request.app.state.forms.get(request.path_params["form_id"])
    if form is None:
        raise Problem(404, "no such form")
    return form


def _filter(request: Request) -> ListFilter:
    """The list's filters from the query string; 400 for a value no form control sends."""
    query = request.query_params
    status = query.get("status") or None
    if status is not None and status not in REVIEW_STATES:
        raise Problem(400, f"unknown review state {status[:40]!r}")
    date_field: DateField = "completed" if query.get("date") == "completed" else "received"
    text = (query.get("q") or "").strip()[:_MAX_TEXT] or None
    collector = (query.get("collector") or "").strip()[:_MAX_TEXT] or None
    return ListFilter(
        status=status,
        start=_day(query.get("from")),
        end=_day(query.get("to")),
        date_field=date_field,
        collector=collector,
        text=text,
    )


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Problem(400, f"{value[:20]!r} is not a date (YYYY-MM-DD)") from None


def _filter_params(where: ListFilter, lang: str) -> dict[str, str]:
    params = {
        "status": where.status or "",
        "from": where.start.isoformat() if where.start else "",
        "to": where.end.isoformat() if where.end else "",
        "date": where.date_field if where.date_field != "received" else "",
        "collector": where.collector or "",
        "q": where.text or "",
    }
    return {"lang": lang, **{key: value for key, value in params.items() if value}}


def _url(request: Request, params: dict[str, Any]) -> str:
    return f"{request.url.path}?{urlencode(params)}"


def _audit_row(entry: dict[str, Any]) -> dict[str, Any]:
    detail = entry.get("detail")
    try:
        parsed = json.loads(detail) if detail else None
    except ValueError:
        parsed = detail
    shown = json.dumps(parsed, ensure_ascii=False) if isinstance(parsed, dict | list) else parsed
    return {**entry, "detail": shown or ""}
