"""The staff's PDFs: a submission's record, a form's summary report, batches in the background.

Staff and admins only (``pdf`` permission). Every PDF answers ``Cache-Control: no-store``
with an ASCII file name, and every download is written to the audit log. A batch is
started with a form post (CSRF token, or an API token), runs in the background
(:mod:`forms_server.pdf_jobs`) and is followed on a small page that polls its progress
as JSON; only the user who started it, or an admin, may see or download it.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from forms_server.accounts import User
from forms_server.i18n import translator
from forms_server.model import Form
from forms_server.pdf_filters import FilterError, Filters, can_filter
from forms_server.pdf_jobs import Job, PdfJobs
from forms_server.pdf_service import BOTH, PdfError, PdfService, safe_filename
from forms_server.pdf_words import vocabulary
from forms_server.reviews import REVIEW_STATES, STATE_LABELS
from forms_server.storage import Storage
from forms_server.web.access import audit, check_csrf, page_language
from forms_server.web.auth import require
from forms_server.web.errors import Problem, wants_json
from forms_server.web.pages import csrf_token, set_csrf_cookie
from forms_server.web.security import CSRF_FIELD

_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def pdf_routes() -> list[Route]:
    """The PDF routes; list them before routes with a bare ``{submission_id}``."""
    return [
        Route("/staff/submissions/{submission_id}.pdf", submission_pdf, name="submission_pdf"),
        Route("/staff/forms/{form_id}/summary.pdf", summary_pdf, name="summary_pdf"),
        Route("/staff/forms/{form_id}/pdf", pdf_page, name="pdf_page"),
        Route("/staff/forms/{form_id}/batch", start_batch, methods=["POST"], name="pdf_batch"),
        Route("/staff/jobs/{job_id}.json", job_progress, name="pdf_job_json"),
        Route("/staff/jobs/{job_id}/download", job_download, name="pdf_job_download"),
        Route("/staff/jobs/{job_id}", job_page, name="pdf_job"),
    ]


def setup_pdfs(app: Starlette, storage: Storage) -> None:
    """Make the PDF service and the batch jobs (after ``reviews`` and ``audit``)."""
    state = app.state
    state.pdfs = PdfService(
        storage=storage, reviews=state.reviews, forms=state.forms, settings=state.settings
    )
    state.pdf_jobs = PdfJobs(state.pdfs, state.settings.data_dir / "pdf_jobs")


def close_pdfs(app: Starlette) -> None:
    """Stop the batch jobs; before the storage closes."""
    jobs: PdfJobs | None = getattr(app.state, "pdf_jobs", None)
    if jobs is not None:
        jobs.close()


async def submission_pdf(request: Request) -> Response:
    """``GET /staff/submissions/{id}.pdf?lang=zh-Hans|en|both``."""
    user = require(request, "pdf")
    service: PdfService = request.app.state.pdfs
    sid = str(request.path_params["submission_id"])
    lang = request.query_params.get("lang")
    try:
        pdf = await run_in_threadpool(
            service.submission,
            sid,
            lang=lang,
            accept_language=request.headers.get("accept-language"),
            generated_by=user.username,
        )
    except PdfError as exc:
        raise Problem(exc.status, exc.message) from None
    _audit(request, user, sid.lower(), {"pdf": "submission", "lang": lang, "pages": pdf.pages})
    return _download(pdf.content, pdf.filename)


async def summary_pdf(request: Request) -> Response:
    """``GET /staff/forms/{form_id}/summary.pdf?from=&to=&status=&filter=q:choice&lang=``."""
    user = require(request, "pdf")
    service: PdfService = request.app.state.pdfs
    form = _form(request)
    filters = _filters(form, request.query_params)
    lang = request.query_params.get("lang")
    try:
        pdf = await run_in_threadpool(
            service.summary,
            form,
            filters,
            lang=lang,
            accept_language=request.headers.get("accept-language"),
            generated_by=user.username,
        )
    except PdfError as exc:
        raise Problem(exc.status, exc.message) from None
    detail = {"pdf": "summary", "lang": lang, "pages": pdf.pages, **filters.to_json()}
    _audit(request, user, form.id, detail)
    return _download(pdf.content, pdf.filename)


async def pdf_page(request: Request) -> Response:
    """``GET /staff/forms/{form_id}/pdf``: the summary and batch forms."""
    user = require(request, "pdf")
    form = _form(request)
    lang = page_language(request)
    questions = [q for q in form.walk() if q.label and can_filter(form, q)]
    context = {
        "form": form,
        "user": user,
        "questions": questions,
        "states": [(s, STATE_LABELS[s].get(lang, s)) for s in REVIEW_STATES],
        "csrf_token": csrf_token(request),
        "both": BOTH,
    }
    response = _page(request, "pdf/web_form.html", lang, context)
    set_csrf_cookie(request, response)
    return response


async def start_batch(request: Request) -> Response:
    """``POST /staff/forms/{form_id}/batch``: queue a merged PDF or a ZIP, then follow it."""
    user = require(request, "pdf")
    form = _form(request)
    async with request.form(max_files=0, max_fields=50) as data:
        fields = {k: v for k, v in data.items() if isinstance(v, str)}
    if not getattr(request.state, "by_token", False):
        check_csrf(request, fields.get(CSRF_FIELD))
    kind = fields.get("format", "pdf")
    if kind not in ("pdf", "zip"):
        raise Problem(400, "format must be pdf or zip")
    filters = _filters(form, fields)
    service: PdfService = request.app.state.pdfs
    langs = service.languages(form, fields.get("lang"), request.headers.get("accept-language"))
    jobs: PdfJobs = request.app.state.pdf_jobs
    try:
        job = await run_in_threadpool(
            jobs.start,
            owner=user.username,
            form=form,
            filters=filters,
            langs=langs,
            kind="zip" if kind == "zip" else "pdf",
        )
    except PdfError as exc:
        raise Problem(exc.status, exc.message) from None
    page = request.url_for("pdf_job", job_id=job.id).path
    if wants_json(request):
        body = {**_job_json(request, job), "page": page}
        return JSONResponse(body, status_code=202, headers=_NO_STORE)
    lang = page_language(request, fields.get("lang"))
    return RedirectResponse(f"{page}?lang={lang}", status_code=303)


async def job_page(request: Request) -> Response:
    """``GET /staff/jobs/{job_id}``: progress, polled by a few lines of JavaScript."""
    user = require(request, "pdf")
    job = _job(request, user)
    lang = page_language(request)
    context = {"job": job, "user": user, "progress": _job_json(request, job)}
    response = _page(request, "pdf/web_job.html", lang, context)
    response.headers.update(_NO_STORE)
    return response


async def job_progress(request: Request) -> Response:
    """``GET /staff/jobs/{job_id}.json``."""
    user = require(request, "pdf")
    return JSONResponse(_job_json(request, _job(request, user)), headers=_NO_STORE)


async def job_download(request: Request) -> Response:
    """``GET /staff/jobs/{job_id}/download``: the finished batch file."""
    user = require(request, "pdf")
    job = _job(request, user)
    if job.state != "done" or not job.path.is_file():
        raise Problem(409, "this batch is not ready to download")
    detail = {
        "pdf": "batch",
        "format": job.kind,
        "job": job.id,
        "submissions": job.submissions,
        "pages": job.pages,
        **job.filters.to_json(),
    }
    _audit(request, user, job.form_id, detail)
    name = safe_filename(f"{job.form_id}-{job.id[:8]}.{job.kind}")
    media = "application/zip" if job.kind == "zip" else "application/pdf"
    return FileResponse(
        job.path,
        media_type=media,
        headers={**_NO_STORE, "Content-Disposition": f'attachment; filename="{name}"'},
    )


def _job_json(request: Request, job: Job) -> dict[str, Any]:
    body = job.to_json()
    body["progress"] = request.url_for("pdf_job_json", job_id=job.id).path
    body["download"] = (
        request.url_for("pdf_job_download", job_id=job.id).path if job.state == "done" else None
    )
    return body


def _job(request: Request, user: User) -> Job:
    jobs: PdfJobs = request.app.state.pdf_jobs
    job = jobs.get(str(request.path_params["job_id"]))
    if job is None:
        raise Problem(404, "no such PDF batch (batches are kept for a few hours)")
    if job.owner != user.username and user.role != "admin":
        raise Problem(403, "only the person who started this batch may see it")
    return job


def _form(request: Request) -> Form:
    form: Form | None = request.app.state.forms.get(request.path_params["form_id"])
    if form is None:
        raise Problem(404, f"no form {request.path_params['form_id']!r}")
    return form


def _filters(form: Form, values: Any) -> Filters:
    try:
        return Filters.parse(
            form,
            start=values.get("from"),
            end=values.get("to"),
            status=values.get("status"),
            answer=values.get("filter"),
        )
    except FilterError as exc:
        raise Problem(400, str(exc)) from None


def _audit(request: Request, user: User, target: str, detail: dict[str, Any]) -> None:
    """A download in the audit log, without the details that are None."""
    details = {k: v for k, v in detail.items() if v is not None}
    audit(request, user, "download_pdf", target, details)


def _download(content: bytes, filename: str) -> Response:
    headers = {**_NO_STORE, "Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(content, media_type="application/pdf", headers=headers)


def _page(request: Request, template: str, lang: str, context: dict[str, Any]) -> Response:
    templates = request.app.state.templates
    response: Response = templates.TemplateResponse(
        request,
        template,
        {**context, "lang": lang, "t": translator(lang), "w": vocabulary((lang,))},
    )
    return response
