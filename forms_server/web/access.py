"""Who may see or change a submission, and the frame shared by the staff's pages.

Staff and admins reach every submission through ``/staff/...``. A collector reaches only
their own, and only while it is recent (:data:`~forms_server.accounts.RECENT_DAYS`),
through ``/my/...``; they may edit it while its review state is in
:data:`EDITABLE_BY_COLLECTOR`. Anything a person may not see answers 404, so that a
submission's existence is not given away.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from forms_server.accounts import User
from forms_server.i18n import pick_language
from forms_server.model import Form
from forms_server.queries import is_recent
from forms_server.reviews import REVIEW_STATES, STATE_LABELS
from forms_server.storage import SubmissionRecord, check_submission_id, local_time
from forms_server.web.auth import address, require
from forms_server.web.errors import Problem
from forms_server.web.pages import csrf_token, set_csrf_cookie
from forms_server.web.security import CSRF_COOKIE

#: The interface languages of the staff's and collectors' pages, default first.
LANGUAGES = ("zh-Hans", "en")
#: Review states in which a collector may still correct their own submission.
EDITABLE_BY_COLLECTOR = ("received", "has_issues")


def page_language(request: Request, asked: str | None = None) -> str:
    return pick_language(
        asked or request.query_params.get("lang"),
        request.headers.get("accept-language"),
        LANGUAGES,
    )


def submission_id(request: Request) -> str:
    return check_submission_id(str(request.path_params["sid"]))


def find(request: Request, sid: str) -> tuple[Form, SubmissionRecord]:
    """The submission and its form; 404 when missing, deleted or of an unknown form."""
    record = request.app.state.intake.storage.get(sid)
    form: Form | None = request.app.state.forms.get(record.form_id) if record else None
    if record is None or record.deleted or form is None:
        raise Problem(404, "no such submission")
    return form, record


def for_staff(request: Request, action: str) -> tuple[User, Form, SubmissionRecord]:
    """A signed-in staff member or admin allowed to ``action``, and the submission."""
    user = require(request, action)
    form, record = find(request, submission_id(request))
    return user, form, record


def for_owner(request: Request, *, editing: bool = False) -> tuple[User, Form, SubmissionRecord]:
    """A collector's own recent submission (404 otherwise); 403 to edit one no longer
    open for corrections."""
    user = require(request, "fill")
    form, record = find(request, submission_id(request))
    if record.submitted_by != user.username or not is_recent(record.received_at):
        raise Problem(404, "no such submission")
    if editing and not collector_may_edit(record):
        raise Problem(403, "this submission has been reviewed: ask the staff to change it")
    return user, form, record


def collector_may_edit(record: SubmissionRecord) -> bool:
    return record.review_status in EDITABLE_BY_COLLECTOR and is_recent(record.received_at)


def check_csrf(request: Request, token: str | None) -> None:
    if not request.app.state.csrf.check(request.cookies.get(CSRF_COOKIE), token):
        raise Problem(403, "the form's security token is missing or expired: reload the page")


def audit(
    request: Request,
    user: User,
    action: str,
    target: str,
    detail: dict[str, Any] | None = None,
) -> None:
    request.app.state.audit.record(
        action,
        actor=user.username,
        role=user.role,
        target=target,
        detail=detail,
        address=address(request),
    )


def render(
    request: Request,
    template: str,
    lang: str,
    context: Mapping[str, Any],
    *,
    user: User | None,
    status: int = 200,
) -> Response:
    """A private page: the shared context, never cached, with the CSRF cookie set."""
    state = request.app.state
    zone = state.intake.zone
    response: Response = state.templates.TemplateResponse(
        request,
        template,
        {
            "lang": lang,
            "t": state.translators(lang),
            "user": user,
            "csrf_token": csrf_token(request),
            "static_url": state.static_url,
            "states": REVIEW_STATES,
            "state_label": lambda status: STATE_LABELS.get(status, {}).get(lang, status),
            "local_time": lambda value: local_time(value, zone),
            "other_lang": "en" if lang.startswith("zh") else "zh-Hans",
            **context,
        },
        status_code=status,
    )
    response.headers["Cache-Control"] = "no-store"
    set_csrf_cookie(request, response)
    return response
