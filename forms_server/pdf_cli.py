"""``forms-server pdf``: a submission's record, a form's summary report, many records at once.

The command-line face of :mod:`forms_server.pdf_service` and :mod:`forms_server.pdf_batch`;
like ``serve`` it takes ``--forms-dir`` and ``--data-dir`` (or the FORMS_* environment).
Every PDF written is recorded in the audit log as ``download_pdf`` by ``cli:<user>``.
"""

from __future__ import annotations

import getpass
import shutil
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from forms_server.audit import AuditLog
from forms_server.errors import FormError
from forms_server.model import Form
from forms_server.settings import Settings

if TYPE_CHECKING:
    from forms_server.pdf_filters import Filters
    from forms_server.pdf_service import PdfService

#: ``--lang`` asking for the form's first two languages together.
BOTH = "both"

F = TypeVar("F", bound=Callable[..., Any])


def _where(command: F) -> F:
    """The options every ``pdf`` command takes: where the forms and the data are."""
    command = click.option(
        "--data-dir", type=click.Path(path_type=Path), help="Where the databases live."
    )(command)
    command = click.option(
        "--forms-dir", type=click.Path(path_type=Path), help="Form definitions directory."
    )(command)
    return click.option(
        "--lang", help="zh-Hans, en (a language of the form) or both; default: the form's first."
    )(command)


def _filters(command: F) -> F:
    """The options choosing submissions: period, review state, one answer."""
    command = click.option(
        "--filter",
        "answer",
        metavar="QUESTION:CHOICE",
        help="Only where a select_one answer is this choice.",
    )(command)
    command = click.option("--status", help="Only this review state, e.g. approved.")(command)
    command = click.option("--to", "end", metavar="DATE", help="Last completion day, YYYY-MM-DD.")(
        command
    )
    return click.option(
        "--from", "start", metavar="DATE", help="First completion day, YYYY-MM-DD."
    )(command)


@click.group()
def pdf() -> None:
    """Print PDFs: a submission's record, a form's summary report, many records at once."""


@pdf.command()
@click.argument("submission_id")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path))
@_where
def submission(
    submission_id: str,
    output: Path,
    lang: str | None,
    forms_dir: Path | None,
    data_dir: Path | None,
) -> None:
    """Write one submission's record (with its personal data) to a PDF.

    \b
    Example:
      forms-server pdf submission 0b6f3c1e-8d0a-4c55-9a57-2f1f2b9a7c11 -o record.pdf --lang both
    """
    from forms_server.pdf_service import PdfError

    service = _service(forms_dir, data_dir)
    try:
        form, _ = service.record(submission_id)
        _check_lang(form, lang)
        made = service.submission(submission_id, lang=lang, generated_by=_actor())
    except PdfError as exc:
        raise click.ClickException(exc.message) from None
    _write(output, made.content)
    _audit(service, submission_id.lower(), {"pdf": "submission", "lang": lang, "pages": made.pages})
    _report(made.warnings)
    click.echo(f"{output}: {made.pages} page{'s' if made.pages != 1 else ''}")


@pdf.command()
@click.argument("form_id")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False, path_type=Path))
@_filters
@_where
def summary(
    form_id: str,
    output: Path,
    start: str | None,
    end: str | None,
    status: str | None,
    answer: str | None,
    lang: str | None,
    forms_dir: Path | None,
    data_dir: Path | None,
) -> None:
    """Write a form's summary report (no free text, no sensitive answers) to a PDF.

    \b
    Example:
      forms-server pdf summary worker_intake -o 2026.pdf --from 2026-01-01 --to 2026-12-31
    """
    service = _service(forms_dir, data_dir)
    form, filters = _form_and_filters(service, form_id, start, end, status, answer)
    _check_lang(form, lang)
    made = service.summary(form, filters, lang=lang, generated_by=_actor())
    _write(output, made.content)
    _audit(
        service, form.id, {"pdf": "summary", "lang": lang, "pages": made.pages, **filters.to_json()}
    )
    _report(made.warnings)
    click.echo(f"{output}: {made.pages} page{'s' if made.pages != 1 else ''}")


@pdf.command()
@click.argument("form_id")
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(path_type=Path),
    help="FILE.pdf: one merged PDF; FILE.zip or a directory: one PDF per submission.",
)
@click.option("--workers", type=click.IntRange(1, 16), help="Worker processes (default: up to 2).")
@_filters
@_where
def batch(
    form_id: str,
    output: Path,
    workers: int | None,
    start: str | None,
    end: str | None,
    status: str | None,
    answer: str | None,
    lang: str | None,
    forms_dir: Path | None,
    data_dir: Path | None,
) -> None:
    """Write the records of every submission of a form that the filters take.

    \b
    Examples:
      forms-server pdf batch worker_intake -o intake-2026.pdf --from 2026-01-01
      forms-server pdf batch worker_intake -o records/ --status approved
    """
    from forms_server.pdf_batch import BatchError, default_workers, write_batch
    from forms_server.pdf_filters import matching_ids

    service = _service(forms_dir, data_dir)
    form, filters = _form_and_filters(service, form_id, start, end, status, answer)
    _check_lang(form, lang)
    ids = matching_ids(service.storage, form, filters, service.zone)
    if not ids:
        raise click.ClickException("no submissions match these filters")
    suffix = output.suffix.lower()
    directory = None if suffix in (".pdf", ".zip") else output
    target = output if directory is None else Path(tempfile.mkdtemp(prefix=".pdf-")) / "batch.zip"
    langs = service.languages(form, lang)
    try:
        with click.progressbar(length=len(ids), label="PDFs", file=sys.stderr) as bar:
            seen = 0

            def progress(done: int, total: int) -> None:
                nonlocal seen
                bar.update(done - seen)
                seen = done

            result = write_batch(
                service,
                form.id,
                ids,
                target,
                kind="pdf" if suffix == ".pdf" else "zip",
                langs=langs,
                generated_by=_actor(),
                workers=workers or default_workers(),
                progress=progress,
            )
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(target) as archive:
                archive.extractall(directory)
    except BatchError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if directory is not None:
            shutil.rmtree(target.parent, ignore_errors=True)
    detail = {"pdf": "batch", "submissions": result.submissions, "pages": result.pages}
    _audit(service, form.id, {**detail, "lang": lang, **filters.to_json()})
    _report(result.warnings)
    click.echo(f"{output}: {result.submissions} submissions, {result.pages} pages")


def _service(forms_dir: Path | None, data_dir: Path | None) -> PdfService:
    from forms_server.pdf_service import open_service

    settings = Settings.from_env(forms_dir=forms_dir, data_dir=data_dir)
    try:
        return open_service(settings)
    except FormError as exc:
        click.echo(str(exc), err=True)
        raise click.ClickException(
            "the forms have errors: fix them first (forms-server check shows them all)"
        ) from None


def _form_and_filters(
    service: PdfService,
    form_id: str,
    start: str | None,
    end: str | None,
    status: str | None,
    answer: str | None,
) -> tuple[Form, Filters]:
    from forms_server.pdf_filters import FilterError, Filters
    from forms_server.pdf_service import PdfError

    try:
        form = service.form(form_id)
        return form, Filters.parse(form, start=start, end=end, status=status, answer=answer)
    except PdfError as exc:
        raise click.ClickException(f"{exc.message} (forms-server forms lists them)") from None
    except FilterError as exc:
        raise click.ClickException(str(exc)) from None


def _check_lang(form: Form, lang: str | None) -> None:
    if lang and lang != BOTH and lang not in form.languages:
        choices = ", ".join([*form.languages, BOTH])
        raise click.ClickException(f"--lang {lang}: this form has {choices}")


def _write(output: Path, content: bytes) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".part")
    partial.write_bytes(content)
    partial.replace(output)


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _audit(service: PdfService, target: str, detail: dict[str, Any]) -> None:
    AuditLog(service.storage).record(
        "download_pdf",
        actor=_actor(),
        target=target,
        detail={"via": "cli", **{k: v for k, v in detail.items() if v is not None}},
    )


def _report(warnings: list[str]) -> None:
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
