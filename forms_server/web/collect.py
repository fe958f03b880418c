"""The form pages outreach workers fill: render, re-render with errors, receive.

Everything works as plain HTML; forms.js adds live logic and posts the same
multipart body with ``Accept: application/json``, getting JSON back.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from forms_server.attachments import MAX_ATTACHMENT_BYTES, Upload
from forms_server.intake import BadSubmission, completion_time
from forms_server.model import Form
from forms_server.validation import from_form_data
from forms_server.web.auth import current_user, require
from forms_server.web.errors import Problem, wants_json
from forms_server.web.pages import language, render_form, set_csrf_cookie
from forms_server.web.security import CSRF_COOKIE, CSRF_FIELD

_MAX_FIELDS = 5000
_MAX_FILES = 50


def get_form(request: Request) -> Form:
    """The form of the path; a form that is not public needs a signed-in collector or staff."""
    form: Form | None = request.app.state.forms.get(request.path_params["form_id"])
    if form is None:
        raise Problem(404, f"no form {request.path_params['form_id']!r}")
    if form.access != "public":
        require(request, "fill")
    return form


async def form_page(request: Request) -> Response:
    form = get_form(request)
    lang = language(request, form)
    response = render_form(
        request,
        form,
        lang,
        raw={},
        submission_id=str(uuid.uuid4()),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    return response


async def form_post(request: Request) -> Response:
    form = get_form(request)
    fields, items, uploads = await _read_form(request)
    csrf = request.app.state.csrf
    if not csrf.check(request.cookies.get(CSRF_COOKIE), fields.get(CSRF_FIELD)):
        raise Problem(403, "the form's security token is missing or expired: reload the page")
    lang = language(request, form, fields.get("_lang"))
    raw = from_form_data(form, items)
    submission_id = fields.get("_id") or str(uuid.uuid4())
    started_at = _parse_time(fields.get("_started_at"))
    action = fields.get("_action", "")
    if action:
        return render_form(
            request,
            form,
            lang,
            raw=raw,
            submission_id=submission_id,
            started_at=fields.get("_started_at", ""),
            action=action,
        )
    intake = request.app.state.intake
    try:
        completed = completion_time(fields.get("_completed_at"), datetime.now(UTC), intake.zone)
        outcome = await intake.receive_async(
            form,
            submission_id,
            raw,
            lang=lang,
            completed_at=completed,
            completed_given=bool(fields.get("_completed_at")),
            started_at=started_at,
            submitted_by=_username(request),
            uploads=uploads,
        )
    except BadSubmission as exc:
        raise Problem(422, str(exc), errors={}) from None
    if outcome.status == "invalid":
        if wants_json(request):
            return JSONResponse(
                {"id": outcome.submission_id, "status": "invalid", "errors": outcome.errors},
                status_code=422,
            )
        response = render_form(
            request,
            form,
            lang,
            raw=raw,
            submission_id=submission_id,
            started_at=fields.get("_started_at", ""),
            errors=outcome.errors,
        )
        response.status_code = 422
        return response
    if outcome.status == "conflict":
        raise Problem(
            409, "a different submission with this id was stored already", id=outcome.submission_id
        )
    done = request.url_for("done", form_id=form.id, submission_id=outcome.submission_id)
    url = f"{done.path}?lang={lang}"
    if wants_json(request):
        return JSONResponse(
            {"id": outcome.submission_id, "status": outcome.status, "url": url},
            status_code=201 if outcome.status == "created" else 200,
        )
    return RedirectResponse(url, status_code=303)


def _username(request: Request) -> str | None:
    user = current_user(request)
    return user.username if user else None


async def done_page(request: Request) -> Response:
    form = get_form(request)
    lang = language(request, form)
    templates = request.app.state.templates
    response: Response = templates.TemplateResponse(
        request,
        "done.html",
        {
            "form": form,
            "lang": lang,
            "t": request.app.state.translators(lang),
            "submission_id": request.path_params["submission_id"],
        },
    )
    set_csrf_cookie(request, response)
    return response


async def _read_form(
    request: Request,
) -> tuple[dict[str, str], list[tuple[str, str]], dict[str, Upload]]:
    """(the ``_`` fields, the answers as posted, the uploaded files), read and closed."""
    try:
        async with request.form(
            max_files=_MAX_FILES, max_fields=_MAX_FIELDS, max_part_size=1024 * 1024
        ) as data:
            fields: dict[str, str] = {}
            items: list[tuple[str, str]] = []
            uploads: dict[str, Upload] = {}
            for key, value in data.multi_items():
                if isinstance(value, UploadFile):
                    if value.filename:
                        content = await value.read(MAX_ATTACHMENT_BYTES + 1)
                        uploads[key] = Upload(value.filename, content)
                elif key.startswith("_"):
                    fields.setdefault(key, value)
                else:
                    items.append((key, value))
    except MultiPartException as exc:
        raise Problem(400, f"malformed form data: {exc.message}") from None
    return fields, items, uploads


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
