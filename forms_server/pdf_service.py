"""Every PDF the server makes, from ids to bytes: a submission's record, a form's summary.

:class:`PdfService` is the one object the web layer, the batch jobs and the command line
share: it reads the private database, builds the pure views (:mod:`pdf_record`,
:mod:`pdf_report`) and has them rendered (:mod:`forms_server.pdf`). It knows nothing of
requests or exit codes; problems are :class:`PdfError` with an HTTP-like status.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from forms_server.i18n import pick_language
from forms_server.loader import load_forms
from forms_server.model import Form
from forms_server.pdf import Rendered, Renderer, page_style
from forms_server.pdf_filters import Filters, filters_text
from forms_server.pdf_record import record_view
from forms_server.pdf_report import summarise
from forms_server.pdf_words import vocabulary
from forms_server.reviews import Reviews
from forms_server.settings import Settings
from forms_server.storage import Storage, SubmissionRecord, check_submission_id

#: ``lang`` asking for every language of the form (the first two) together.
BOTH = "both"


class PdfError(Exception):
    """A PDF that cannot be made: ``status`` 404 (nothing there) or 400 (bad request)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class PdfFile:
    content: bytes
    pages: int
    #: A safe download name: ASCII letters, digits, ``-``, ``_`` and ``.`` only.
    filename: str
    warnings: list[str] = field(default_factory=list)


class PdfService:
    """The PDFs of one private database; one per process (it holds the renderer)."""

    def __init__(
        self,
        *,
        storage: Storage,
        reviews: Reviews,
        forms: Mapping[str, Form],
        settings: Settings,
        renderer: Renderer | None = None,
    ) -> None:
        self.storage = storage
        self.reviews = reviews
        self.forms = forms
        self.settings = settings
        self.data_dir = settings.data_dir
        self.zone = ZoneInfo(settings.timezone)
        self._renderer = renderer
        self._lock = threading.Lock()

    @property
    def renderer(self) -> Renderer:
        """Made at the first PDF, not at start-up (it loads and cuts the font)."""
        with self._lock:
            if self._renderer is None:
                self._renderer = Renderer(
                    self.settings.data_dir, organisation=self.settings.organisation_name
                )
            return self._renderer

    # -- look-ups -----------------------------------------------------------------------

    def form(self, form_id: str) -> Form:
        form = self.forms.get(form_id)
        if form is None:
            raise PdfError(404, f"no form {form_id!r}")
        return form

    def record(self, submission_id: str) -> tuple[Form, SubmissionRecord]:
        try:
            sid = check_submission_id(submission_id)
        except ValueError:
            raise PdfError(404, "no such submission") from None
        record = self.storage.get(sid)
        if record is None or record.deleted:
            raise PdfError(404, "no such submission")
        form = self.forms.get(record.form_id)
        if form is None:
            raise PdfError(404, f"the form {record.form_id!r} of this submission is not loaded")
        return form, record

    @staticmethod
    def languages(
        form: Form, lang: str | None, accept_language: str | None = None
    ) -> tuple[str, ...]:
        """The languages a PDF shows: ``both`` → the form's first two, else one of the form's."""
        if lang == BOTH:
            return tuple(form.languages[:2])
        return (pick_language(lang, accept_language, form.languages),)

    # -- a submission ---------------------------------------------------------------------

    def record_document(
        self,
        form: Form,
        record: SubmissionRecord,
        langs: Sequence[str],
        *,
        generated_by: str = "",
        now: datetime | None = None,
    ) -> Rendered:
        """The laid-out record of one submission (for :meth:`submission` and batches)."""
        html = self.record_html(form, record, langs, generated_by=generated_by, now=now)
        return self.renderer.render(html, margins=page_style(langs, notice=True))

    def record_html(
        self,
        form: Form,
        record: SubmissionRecord,
        langs: Sequence[str],
        *,
        generated_by: str = "",
        now: datetime | None = None,
    ) -> str:
        """The HTML :meth:`record_document` lays out."""
        view = record_view(
            form,
            record,
            langs=langs,
            history=self.reviews.history(record.id),
            events=self.reviews.events(record.id),
            zone=self.zone,
            data_dir=self.data_dir,
            generated_by=generated_by,
            now=now or datetime.now(UTC),
        )
        return self.renderer.html(
            "submission.html",
            {"v": view, "w": vocabulary(langs), "html_lang": _html_lang(langs)},
        )

    def submission(
        self,
        submission_id: str,
        *,
        lang: str | None = None,
        accept_language: str | None = None,
        generated_by: str = "",
    ) -> PdfFile:
        """One submission's record as a PDF (not a deleted one)."""
        form, record = self.record(submission_id)
        langs = self.languages(form, lang, accept_language)
        rendered = self.record_document(form, record, langs, generated_by=generated_by)
        content, warnings = self._bytes(rendered)
        return PdfFile(
            content,
            rendered.pages,
            safe_filename(f"{form.id}-{record.id}.pdf"),
            rendered.warnings + warnings,
        )

    # -- a form's summary ---------------------------------------------------------------

    def summary(
        self,
        form: Form,
        filters: Filters,
        *,
        lang: str | None = None,
        accept_language: str | None = None,
        generated_by: str = "",
        now: datetime | None = None,
    ) -> PdfFile:
        """A form's summary report for the submissions ``filters`` take."""
        langs = self.languages(form, lang, accept_language)
        summary = summarise(self.storage, form, filters, langs=langs, zone=self.zone)
        w = vocabulary(langs)
        html = self.renderer.html(
            "summary.html",
            {
                "s": summary,
                "w": w,
                "filters": filters_text(form, filters, langs, w),
                "generated_at": (now or datetime.now(UTC))
                .astimezone(self.zone)
                .strftime("%Y-%m-%d %H:%M"),
                "generated_by": generated_by,
                "html_lang": _html_lang(langs),
            },
        )
        rendered = self.renderer.render(html, margins=page_style(langs, notice=False))
        content, warnings = self._bytes(rendered)
        period = "-".join(d.isoformat() for d in (filters.start, filters.end) if d)
        name = f"{form.id}-summary{'-' + period if period else ''}.pdf"
        return PdfFile(content, rendered.pages, safe_filename(name), rendered.warnings + warnings)

    def _bytes(self, rendered: Rendered) -> tuple[bytes, list[str]]:
        sink = io.BytesIO()
        warnings = self.renderer.write([rendered.document], sink)
        return sink.getvalue(), warnings


def open_service(settings: Settings, *, ensure_schema: bool = True) -> PdfService:
    """A service of its own for ``settings`` (the command line, a batch worker process).

    ``ensure_schema=False`` leaves the forms' tables as they are: for a batch worker,
    which only reads submissions, of a database whose tables its parent already made.
    """
    storage = Storage(settings.data_dir / "forms.db")
    forms = load_forms(settings.forms_dir)
    if ensure_schema:
        for form in forms.values():
            storage.ensure_schema(form)
    return PdfService(storage=storage, reviews=Reviews(storage), forms=forms, settings=settings)


def safe_filename(name: str) -> str:
    """``name`` with anything but ASCII letters, digits, ``.``, ``-`` and ``_`` replaced."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "document"
    return cleaned[:120]


def _html_lang(langs: Sequence[str]) -> str:
    return next((lang for lang in langs if lang.startswith("zh")), langs[0])
