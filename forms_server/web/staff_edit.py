"""Editing a stored submission through the same form page, checked the same way.

The page is the collectors' form page prefilled with the stored answers; the post is
validated with the time the submission was completed and its own id as the seed, so
``today()`` and ``uuid()`` give what they gave the first time (``today()`` in the
organisation's time zone). The instance name is made in the form's default language,
whichever language the editor reads. A file question keeps
its stored file unless a new one is uploaded (the page names the earlier file); an
upload is checked and named as :mod:`forms_server.intake` does. The previous answers
stay in the edit history (:meth:`forms_server.reviews.Reviews.edit`).

Staff edit at ``/staff/submissions/{sid}/edit``; a collector edits their own recent
submission at ``/my/submissions/{sid}/edit`` while it is received or has issues.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from forms_server import attachments
from forms_server.accounts import User
from forms_server.attachments import AttachmentError, Upload
from forms_server.display import to_raw
from forms_server.intake import field_key, put_answer
from forms_server.model import Form, Question
from forms_server.reviews import ReviewError, Reviews
from forms_server.storage import SubmissionRecord
from forms_server.validation import from_form_data, validate
from forms_server.web.access import audit, check_csrf, for_owner, for_staff
from forms_server.web.collect import _read_form
from forms_server.web.errors import Problem, wants_json
from forms_server.web.pages import language, render_form
from forms_server.web.security import CSRF_FIELD

_FILE_TYPES = ("image", "file")


async def staff_edit_page(request: Request) -> Response:
    _, form, record = for_staff(request, "edit")
    return _edit_page(request, form, record, f"/staff/submissions/{record.id}")


async def staff_edit_post(request: Request) -> Response:
    user, form, record = for_staff(request, "edit")
    return await _edit_post(request, user, form, record, f"/staff/submissions/{record.id}")


async def my_edit_page(request: Request) -> Response:
    _, form, record = for_owner(request, editing=True)
    return _edit_page(request, form, record, f"/my/submissions/{record.id}")


async def my_edit_post(request: Request) -> Response:
    user, form, record = for_owner(request, editing=True)
    return await _edit_post(request, user, form, record, f"/my/submissions/{record.id}")


def _edit_page(request: Request, form: Form, record: SubmissionRecord, base: str) -> Response:
    lang = language(request, form)
    return render_form(
        request,
        form,
        lang,
        raw=to_raw(record.answers),
        submission_id=record.id,
        started_at=record.started_at or "",
        action_url=f"{base}/edit",
    )


async def _edit_post(
    request: Request, user: User, form: Form, record: SubmissionRecord, base: str
) -> Response:
    fields, items, uploads = await _read_form(request)
    check_csrf(request, fields.get(CSRF_FIELD))
    lang = language(request, form, fields.get("_lang"))
    raw = from_form_data(form, items)
    action = fields.get("_action", "")
    # The reply names the id the page sent, as a new submission's reply does; the
    # submission edited is always the one of the URL.
    posted_id = fields.get("_id") or record.id

    def page(errors: dict[str, str] | None = None) -> Response:
        return render_form(
            request,
            form,
            lang,
            raw=raw,
            submission_id=record.id,
            started_at=record.started_at or "",
            errors=errors,
            action=action,
            action_url=f"{base}/edit",
        )

    if action:
        _keep_files(form.questions, raw, record.answers, set(), "")
        return page()
    errors: dict[str, str] = {}
    accepted: dict[str, tuple[str, bytes]] = {}
    for key, upload in uploads.items():
        name = _accept(form, record.id, key, upload, lang, errors)
        if name is not None:
            accepted[key] = (name, upload.content)
    _keep_files(form.questions, raw, record.answers, set(accepted), "")
    for key, (name, _) in accepted.items():
        put_answer(raw, key, name)
    zone = request.app.state.intake.zone
    completed = datetime.fromisoformat(record.completed_at or record.received_at).astimezone(zone)
    result = validate(form, raw, now=completed, lang=lang, seed=record.id)
    errors.update({field_key(form, e.name, e.index): e.message for e in result.errors})
    if errors:
        if wants_json(request):
            return JSONResponse(
                {"id": posted_id, "status": "invalid", "errors": errors}, status_code=422
            )
        response = page(errors)
        response.status_code = 422
        return response
    instance_name = result.instance_name
    if lang != form.default_language:
        # Named in the form's own language whoever edits, so that lists stay uniform.
        named = validate(form, raw, now=completed, lang=form.default_language, seed=record.id)
        instance_name = named.instance_name
    data_dir = request.app.state.intake.data_dir
    for name, content in accepted.values():
        await run_in_threadpool(attachments.write, data_dir, name, content)
    reviews: Reviews = request.app.state.reviews
    try:
        changed = await run_in_threadpool(
            reviews.edit,
            form,
            record.id,
            result.answers,
            actor=user.username,
            instance_name=instance_name,
        )
    except ReviewError as exc:
        raise Problem(404, str(exc)) from None
    if changed:
        history = await run_in_threadpool(reviews.history, record.id)
        paths = [change.path for change in history[-1].changes] if history else []
        await run_in_threadpool(audit, request, user, "edit", record.id, {"changed": paths})
    url = f"{base}?lang={lang}"
    if wants_json(request):
        status = "edited" if changed else "unchanged"
        return JSONResponse({"id": posted_id, "status": status, "url": url})
    return RedirectResponse(url, status_code=303)


def _accept(
    form: Form, sid: str, key: str, upload: Upload, lang: str, errors: dict[str, str]
) -> str | None:
    """The stored name for an accepted upload (as intake names it), or None with an error."""
    question = form.by_name.get(key.rsplit(".", 1)[-1])
    if question is None or question.type not in _FILE_TYPES:
        errors[key] = "unknown file field" if lang == "en" else "未知的文件字段"
        return None
    try:
        ext, _ = attachments.sniff(upload.content, question.type)
    except AttachmentError as exc:
        errors[key] = exc.message(lang)
        return None
    digest = hashlib.sha256(upload.content).hexdigest()[:16]
    return f"{sid}/{question.name}_{digest}.{ext}"


def _keep_files(
    questions: tuple[Question, ...],
    raw: dict[str, Any],
    stored: dict[str, Any],
    uploaded: set[str],
    prefix: str,
) -> None:
    """Put each stored file answer back where nothing new was uploaded.

    A browser posts nothing for a file input left alone; a posted *text* for a file
    question is dropped, so an edit can only point at this submission's own files.
    Repeat entries are matched by position.
    """
    for q in questions:
        if q.type == "group":
            _keep_files(q.questions, raw, stored, uploaded, prefix)
        elif q.type == "repeat":
            entries, kept = raw.get(q.name), stored.get(q.name)
            if not isinstance(entries, list):
                continue
            old = kept if isinstance(kept, list) else []
            for i, entry in enumerate(entries):
                if isinstance(entry, dict):
                    before = old[i] if i < len(old) and isinstance(old[i], dict) else {}
                    _keep_files(q.questions, entry, before, uploaded, f"{prefix}{q.name}.{i}.")
        elif q.type in _FILE_TYPES and prefix + q.name not in uploaded:
            if stored.get(q.name) is not None:
                raw[q.name] = stored[q.name]
            else:
                raw.pop(q.name, None)
