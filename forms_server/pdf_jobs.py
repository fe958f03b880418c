"""Batch PDFs built in the background for the web: one at a time, with their progress.

A job belongs to the user who started it; its file is kept in
``<data_dir>/pdf_jobs/<process id>`` (private, like the database) for :data:`KEEP_SECONDS`
after it finished, then deleted. Jobs live in the memory of the server process: a restart
forgets them (and deletes their files), and a server run as several processes would not
find another process's jobs (``forms-server serve`` runs one). Jobs run one after the
other on a single thread, each using up to ``workers`` processes; a user may have
:data:`MAX_ACTIVE_PER_USER` jobs queued or running.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forms_server.model import Form
from forms_server.pdf_batch import BatchError, Cancelled, Kind, default_workers, write_batch
from forms_server.pdf_filters import Filters, matching_ids
from forms_server.pdf_service import PdfError, PdfService

#: How long a finished job's file can be downloaded.
KEEP_SECONDS = 6 * 3600
MAX_ACTIVE_PER_USER = 2

log = logging.getLogger("forms_server.pdf")


@dataclass
class Job:
    id: str
    owner: str
    form_id: str
    kind: Kind
    langs: tuple[str, ...]
    filters: Filters
    total: int
    path: Path
    created: float = field(default_factory=time.time)
    #: queued, running, done, failed
    state: str = "queued"
    done: int = 0
    submissions: int = 0
    pages: int = 0
    error: str = ""
    finished: float | None = None

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "form_id": self.form_id,
            "kind": self.kind,
            "done": self.done,
            "total": self.total,
            "percent": round(100 * self.done / self.total, 1) if self.total else 100.0,
            "submissions": self.submissions,
            "pages": self.pages,
            "error": self.error,
            "filters": self.filters.to_json(),
        }


class PdfJobs:
    """The background batch jobs of one server process; :meth:`close` at shutdown."""

    def __init__(self, service: PdfService, directory: Path, *, workers: int | None = None) -> None:
        self.service = service
        self.workers = default_workers() if workers is None else workers
        _remove_orphans(Path(directory))
        self.directory = Path(directory) / str(os.getpid())
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pdf-batch")

    def start(
        self, *, owner: str, form: Form, filters: Filters, langs: tuple[str, ...], kind: Kind
    ) -> Job:
        """Queue a batch of every submission ``filters`` take; PdfError when refused."""
        if self._closing.is_set():
            raise PdfError(503, "the server is shutting down")
        self._expire()
        ids = matching_ids(self.service.storage, form, filters, self.service.zone)
        if not ids:
            raise PdfError(400, "no submissions match these filters")
        with self._lock:
            active = sum(1 for j in self._jobs.values() if j.owner == owner and j.active)
            if active >= MAX_ACTIVE_PER_USER:
                raise PdfError(429, "wait for your other PDF batches to finish first")
            job_id = secrets.token_urlsafe(12)
            job = Job(
                job_id,
                owner,
                form.id,
                kind,
                langs,
                filters,
                len(ids),
                self.directory / f"{job_id}.{kind}",
            )
            self._jobs[job_id] = job
        self._executor.submit(self._run, job, ids)
        return job

    def get(self, job_id: str) -> Job | None:
        self._expire()
        with self._lock:
            return self._jobs.get(job_id)

    def close(self) -> None:
        """Stop the running job, forget the queued ones, delete every file."""
        self._closing.set()
        self._executor.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, job: Job, ids: list[str]) -> None:
        job.state = "running"

        def progress(done: int, total: int) -> None:
            job.done = done

        try:
            result = write_batch(
                self.service,
                job.form_id,
                ids,
                job.path,
                kind=job.kind,
                langs=job.langs,
                generated_by=job.owner,
                workers=self.workers,
                progress=progress,
                cancelled=self._closing.is_set,
            )
        except Cancelled:
            job.state, job.error = "failed", "stopped: the server shut down"
        except (BatchError, PdfError) as exc:
            job.state, job.error = "failed", str(exc)
        except Exception as exc:  # a bug must not kill the worker thread silently
            log.exception("PDF batch %s failed", job.id)
            job.state, job.error = "failed", f"internal error: {type(exc).__name__}"
        else:
            job.submissions, job.pages = result.submissions, result.pages
            job.done, job.state = job.total, "done"
            for warning in result.warnings:
                log.warning("PDF batch %s: %s", job.id, warning)
        job.finished = time.time()

    def _expire(self) -> None:
        """Forget finished jobs older than :data:`KEEP_SECONDS`, with their files."""
        limit = time.time() - KEEP_SECONDS
        with self._lock:
            old = [j for j in self._jobs.values() if j.finished and j.finished < limit]
            for job in old:
                del self._jobs[job.id]
        for job in old:
            job.path.unlink(missing_ok=True)


def _remove_orphans(directory: Path) -> None:
    """Delete the job files of server processes that are gone: nobody can reach them."""
    if not directory.is_dir():
        return
    for child in directory.iterdir():
        if child.is_dir() and child.name.isdigit() and not _alive(int(child.name)):
            shutil.rmtree(child, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
