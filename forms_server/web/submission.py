"""One submission: the staff's page with its review, the collector's read-only view, files.

Every view of a submission and every download of one of its files is written to the
audit log; so is every change of review state.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from forms_server import attachments
from forms_server.accounts import User, can
from forms_server.display import answer_tree, change_rows
from forms_server.model import Form
from forms_server.queries import Queries
from forms_server.reviews import REVIEW_STATES, ReviewError, Reviews
from forms_server.storage import SubmissionRecord
from forms_server.web.access import (
    audit,
    check_csrf,
    collector_may_edit,
    for_owner,
    for_staff,
    page_language,
    render,
)
from forms_server.web.errors import Problem
from forms_server.web.security import CSRF_FIELD

_MAX_COMMENT = 4000


async def staff_submission(request: Request) -> Response:
    """``GET /staff/submissions/{sid}``: everything about one submission, for staff."""
    user, form, record = for_staff(request, "review")
    lang = page_language(request)
    await run_in_threadpool(audit, request, user, "view", record.id)
    base = f"/staff/submissions/{record.id}"
    links = {
        "edit_url": f"{base}/edit?lang={lang}" if can(user, "edit") else "",
        "pdf_url": f"{base}.pdf?lang={lang}" if can(user, "pdf") else "",
        "review_url": f"{base}/review",
        "files_url": f"/staff/attachments/{record.id}/",
        "list_url": f"/staff/forms/{form.id}?lang={lang}",
    }
    return await _page(request, user, form, record, lang, links)


async def my_submission(request: Request) -> Response:
    """``GET /my/submissions/{sid}``: a collector's own recent submission, read-only."""
    user, form, record = for_owner(request)
    lang = page_language(request)
    await run_in_threadpool(audit, request, user, "view", record.id)
    base = f"/my/submissions/{record.id}"
    links = {
        "edit_url": f"{base}/edit?lang={lang}" if collector_may_edit(record) else "",
        "pdf_url": "",
        "review_url": "",
        "files_url": f"/my/attachments/{record.id}/",
        "list_url": f"/?lang={lang}",
    }
    return await _page(request, user, form, record, lang, links)


async def review_post(request: Request) -> Response:
    """``POST /staff/submissions/{sid}/review``: a new review state and/or a comment."""
    user, form, record = for_staff(request, "review")
    async with request.form(max_fields=20, max_files=0) as data:
        fields = {key: value for key, value in data.items() if isinstance(value, str)}
    check_csrf(request, fields.get(CSRF_FIELD))
    status = fields.get("status") or record.review_status
    comment = fields.get("comment", "").strip()[:_MAX_COMMENT]
    if status not in REVIEW_STATES:
        raise Problem(400, f"unknown review state {status[:40]!r}")
    reviews: Reviews = request.app.state.reviews
    try:
        await run_in_threadpool(
            reviews.set_status, form, record.id, status, actor=user.username, comment=comment
        )
    except ReviewError as exc:
        raise Problem(404, str(exc)) from None
    if status != record.review_status or comment:
        detail: dict[str, Any] = {"from": record.review_status, "to": status}
        if comment:
            detail["comment"] = comment
        await run_in_threadpool(audit, request, user, "review", record.id, detail)
    lang = page_language(request, fields.get("_lang"))
    return RedirectResponse(f"/staff/submissions/{record.id}?lang={lang}#review", status_code=303)


async def staff_attachment(request: Request) -> Response:
    """``GET /staff/attachments/{sid}/{name}``: a submission's file, for staff."""
    user, _, record = for_staff(request, "review")
    return await _file(request, user, record)


async def my_attachment(request: Request) -> Response:
    """``GET /my/attachments/{sid}/{name}``: a file of a collector's own recent submission."""
    user, _, record = for_owner(request)
    return await _file(request, user, record)


async def _page(
    request: Request,
    user: User,
    form: Form,
    record: SubmissionRecord,
    lang: str,
    links: dict[str, str],
) -> Response:
    reviews: Reviews = request.app.state.reviews
    events = await run_in_threadpool(reviews.events, record.id)
    history = await run_in_threadpool(reviews.history, record.id)
    edits = [
        {"at": edit.at, "actor": edit.actor, "rows": change_rows(form, edit.changes, lang)}
        for edit in reversed(history)
    ]
    context = {
        "form": form,
        "record": record,
        "title": record.instance_name or record.id,
        "tree": answer_tree(form, record.answers, lang),
        "events": events,
        "edits": edits,
        "outdated": record.form_version != form.version,
        **links,
    }
    return render(request, "staff/submission.html", lang, context, user=user)


async def _file(request: Request, user: User, record: SubmissionRecord) -> Response:
    """Only a file this submission answered, from the attachments folder, never cached."""
    name = str(request.path_params["name"])
    relative = f"{record.id}/{name}"
    queries: Queries = request.app.state.queries
    known = await run_in_threadpool(queries.attachment_names, record.id)
    data_dir = request.app.state.intake.data_dir
    path = attachments.path_of(data_dir, relative) if relative in known else None
    if path is None:
        raise Problem(404, "no such file")
    with path.open("rb") as handle:
        head = handle.read(4096)
    try:
        _, media_type = attachments.sniff(head, "file")
    except attachments.AttachmentError:
        media_type = "application/octet-stream"
    await run_in_threadpool(audit, request, user, "download", relative)
    inline = media_type.startswith("image/")
    return FileResponse(
        path,
        media_type=media_type,
        filename=name,
        content_disposition_type="inline" if inline else "attachment",
        headers={
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )
