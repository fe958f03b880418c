"""Many PDFs at once: every submission a filter takes, as one merged PDF or a ZIP of PDFs.

Memory stays bounded whatever the number of submissions: each submission is laid out on
its own (so its pages say "第 X 页，共 Y 页" of its own record), a few at a time are
written to a temporary part, and the parts are appended to the output as they come:
copied into one PDF (:mod:`forms_server.pdf_merge`, which keeps only offsets in memory),
or added to the ZIP one PDF per submission. The output is renamed to ``target`` only
when complete.

Laying out is CPU-bound: with ``workers`` > 1 the parts are made by that many worker
processes (each with its own renderer and database connection) while the calling thread
merges, a bounded number of parts in flight. Progress is reported as (submissions done,
total) after every part.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import zipfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from forms_server.pdf import font_files
from forms_server.pdf_merge import StreamingMerger
from forms_server.pdf_service import PdfService, open_service, safe_filename
from forms_server.settings import Settings

Kind = Literal["pdf", "zip"]
Progress = Callable[[int, int], None]
#: Submissions laid out together and written as one part (a page or two each). Each part
#: carries its own copy of the fonts' glyphs: 16 records a part make a merged PDF a third
#: smaller than 8 did, for a few megabytes more per worker process.
CHUNK = 16
#: Parts queued per worker process: enough to keep it busy, few enough to bound memory.
_IN_FLIGHT = 2
#: Fewer parts than this are made in the calling thread: starting workers costs ~1 s.
_MIN_PARTS_FOR_WORKERS = 3


class BatchError(Exception):
    """The batch could not be made; the message says why."""


class Cancelled(BatchError):
    """The batch was stopped (the server is shutting down)."""


@dataclass(frozen=True)
class BatchResult:
    submissions: int
    pages: int
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Task:
    index: int
    form_id: str
    ids: tuple[str, ...]
    langs: tuple[str, ...]
    kind: Kind
    work: str
    generated_by: str
    now: datetime


@dataclass(frozen=True)
class _Part:
    #: The part's PDF (merged), or each submission's PDF (zip), with its name in the ZIP.
    files: tuple[tuple[Path, str], ...]
    requested: int
    submissions: int
    pages: int
    warnings: tuple[str, ...]


def default_workers() -> int:
    """Worker processes for a batch: one per core, at most two (each needs ~150 MB)."""
    return max(1, min(2, os.cpu_count() or 1))


def write_batch(
    service: PdfService,
    form_id: str,
    ids: Sequence[str],
    target: Path,
    *,
    kind: Kind,
    langs: Sequence[str],
    generated_by: str = "",
    workers: int = 1,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> BatchResult:
    """Write the PDFs of the submissions ``ids`` of a form to ``target`` (PDF or ZIP)."""
    service.form(form_id)
    if not ids:
        raise BatchError("no submissions to print")
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC)
    done = submissions = pages = 0
    warnings: set[str] = set()
    with tempfile.TemporaryDirectory(prefix=".pdf-batch-", dir=target.parent) as tmp:
        tasks = [
            _Task(i, form_id, tuple(ids[s : s + CHUNK]), tuple(langs), kind, tmp, generated_by, now)
            for i, s in enumerate(range(0, len(ids), CHUNK))
        ]
        partial = Path(tmp) / f"output.{kind}"
        output = _ZipOutput(partial) if kind == "zip" else _PdfOutput(partial)
        try:
            for part in _parts(service, tasks, workers, cancelled):
                output.add(part)
                done += part.requested
                submissions += part.submissions
                pages += part.pages
                warnings.update(part.warnings)
                if progress:
                    progress(done, len(ids))
        except BaseException:
            output.abort()
            raise
        output.close()
        if not submissions:
            raise BatchError("none of these submissions exists any more")
        os.replace(partial, target)
    return BatchResult(submissions, pages, sorted(warnings))


def _parts(
    service: PdfService, tasks: list[_Task], workers: int, cancelled: Callable[[], bool] | None
) -> Iterator[_Part]:
    """The parts of ``tasks`` in order, made here or by worker processes."""
    if workers <= 1 or len(tasks) < _MIN_PARTS_FOR_WORKERS:
        for task in tasks:
            if cancelled and cancelled():
                raise Cancelled("stopped")
            yield _make_part(service, task)
        return
    # Made once here, not by every worker at the same time (a few seconds the first time).
    font_files(service.data_dir)
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(service.settings,)
    )
    try:
        pending: deque[Future[_Part]] = deque()
        queue = deque(tasks)
        while True:
            while queue and len(pending) < workers * _IN_FLIGHT:
                pending.append(pool.submit(_worker_part, queue.popleft()))
            if not pending:
                return
            if cancelled and cancelled():
                raise Cancelled("stopped")
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _make_part(service: PdfService, task: _Task) -> _Part:
    """Lay out one chunk of submissions and write it: one part PDF, or one PDF each."""
    form = service.form(task.form_id)
    work = Path(task.work)
    documents = []
    files: list[tuple[Path, str]] = []
    warnings: list[str] = []
    pages = 0
    for sid in task.ids:
        record = service.storage.get(sid)
        if record is None or record.deleted or record.form_id != form.id:
            continue
        rendered = service.record_document(
            form, record, task.langs, generated_by=task.generated_by, now=task.now
        )
        pages += rendered.pages
        warnings.extend(rendered.warnings)
        if task.kind == "zip":
            path = work / f"{sid}.pdf"
            warnings.extend(service.renderer.write([rendered.document], path))
            files.append((path, safe_filename(f"{form.id}-{sid}.pdf")))
        else:
            documents.append(rendered.document)
    if documents:
        path = work / f"part-{task.index:06d}.pdf"
        warnings.extend(service.renderer.write(documents, path))
        files.append((path, path.name))
    made = len(files) if task.kind == "zip" else len(documents)
    return _Part(tuple(files), len(task.ids), made, pages, tuple(warnings))


#: The service of a worker process, made once by :func:`_start_worker`.
_worker_service: PdfService | None = None


def _start_worker(settings: Settings) -> None:
    global _worker_service
    # The parent made the forms' tables; a worker only reads.
    _worker_service = open_service(settings, ensure_schema=False)


def _worker_part(task: _Task) -> _Part:
    if _worker_service is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("worker not started")
    return _make_part(_worker_service, task)


class _PdfOutput:
    """Parts appended to one PDF as they come (:class:`StreamingMerger`), bookmarks kept."""

    def __init__(self, path: Path) -> None:
        self.merger = StreamingMerger(path)

    def add(self, part: _Part) -> None:
        for path, _ in part.files:
            self.merger.add(path)
            path.unlink()

    def close(self) -> None:
        self.merger.close()

    def abort(self) -> None:
        self.merger.abort()


class _ZipOutput:
    """Each submission's PDF added to a ZIP as it comes (PDFs are compressed already)."""

    def __init__(self, path: Path) -> None:
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED)

    def add(self, part: _Part) -> None:
        for path, name in part.files:
            self.zip.write(path, name)
            path.unlink()

    def close(self) -> None:
        self.zip.close()

    def abort(self) -> None:
        self.zip.close()
