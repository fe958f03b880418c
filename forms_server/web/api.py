"""The JSON API for other clients: forms, their definitions, submissions."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from forms_server.accounts import can
from forms_server.intake import BadSubmission, completion_time
from forms_server.queries import is_recent
from forms_server.web.auth import check_csrf_header, current_user
from forms_server.web.collect import get_form
from forms_server.web.errors import Problem
from forms_server.web.pages import language


async def list_forms(request: Request) -> Response:
    forms = request.app.state.forms.values()
    return JSONResponse(
        [
            {
                **form.summary(),
                "title": form.title.to_json(),
                "url": str(request.url_for("api_form", form_id=form.id).path),
            }
            for form in forms
        ]
    )


async def get_definition(request: Request) -> Response:
    form = get_form(request)
    return JSONResponse(request.app.state.definitions[form.id])


async def post_submission(request: Request) -> Response:
    form = get_form(request)
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise Problem(415, "send the submission as application/json")
    user = current_user(request)
    if user is not None:
        check_csrf_header(request)
    body = await _json_body(request)
    lang = language(request, form, body.get("lang") if isinstance(body.get("lang"), str) else None)
    errors: dict[str, str] = {}
    submission_id, answers = body.get("id"), body.get("answers")
    if not isinstance(submission_id, str):
        errors["id"] = "a UUID string is required"
    if not isinstance(answers, dict):
        errors["answers"] = "an object of answers is required"
    if errors:
        return JSONResponse({"status": "invalid", "errors": errors}, status_code=422)
    assert isinstance(submission_id, str) and isinstance(answers, dict)
    intake = request.app.state.intake
    try:
        now = datetime.now(UTC)
        completed_raw, started_raw = _opt_str(body, "completed_at"), _opt_str(body, "started_at")
        completed = completion_time(completed_raw, now, intake.zone, "completed_at")
        started = completion_time(started_raw, now, intake.zone, "started_at")
        outcome = await intake.receive_async(
            form,
            submission_id,
            answers,
            lang=lang,
            completed_at=completed,
            completed_given=bool(body.get("completed_at")),
            submitted_by=user.username if user else None,
            started_at=started if body.get("started_at") else None,
        )
    except BadSubmission as exc:
        return JSONResponse({"status": "invalid", "error": str(exc), "errors": {}}, status_code=422)
    if outcome.status == "invalid":
        return JSONResponse(
            {"id": outcome.submission_id, "status": "invalid", "errors": outcome.errors},
            status_code=422,
        )
    if outcome.status == "conflict":
        raise Problem(
            409, "a different submission with this id was stored already", id=outcome.submission_id
        )
    # The route "api_submission", written out: url_for searches every route each time.
    root = request.scope.get("root_path", "")
    url = f"{root}/api/forms/{form.id}/submissions/{outcome.submission_id}"
    return JSONResponse(
        {"id": outcome.submission_id, "status": outcome.status, "url": url},
        status_code=201 if outcome.status == "created" else 200,
    )


async def get_submission(request: Request) -> Response:
    """A stored submission: whole for staff; for its collector, while it is recent."""
    form = get_form(request)
    user = current_user(request)
    if user is None:
        raise Problem(401, "please sign in")
    try:
        record = request.app.state.intake.storage.get(request.path_params["submission_id"])
    except ValueError:
        record = None
    if record is None or record.form_id != form.id or record.deleted:
        raise Problem(404, "no such submission")
    if not can(user, "review") and not (
        can(user, "fill") and record.submitted_by == user.username and is_recent(record.received_at)
    ):
        raise Problem(404, "no such submission")
    return JSONResponse(
        {
            "id": record.id,
            "form_id": record.form_id,
            "form_version": record.form_version,
            "received_at": record.received_at,
            "completed_at": record.completed_at,
            "review_status": record.review_status,
            "instance_name": record.instance_name,
            "answers": record.answers,
        }
    )


def _opt_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise BadSubmission(f"{key} must be an ISO 8601 string")
    return value


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Problem(400, f"the body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise Problem(400, "the body must be a JSON object")
    return body
