"""Storing submissions from the event loop: one writer thread, many submissions per commit.

Requests that arrive together are stored together (group commit): while the writer
thread commits one batch, the event loop checks the next submissions, and the
writer takes everything that queued meanwhile as its next batch, in one transaction.
A request is answered only once its batch has committed, so an acknowledged
submission is stored; a crash before the commit loses only unacknowledged ones,
which their clients send again. Each submission keeps its own outcome (created,
duplicate, conflict or an error): see :meth:`Storage.save_many`.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections import defaultdict

from forms_server.storage import NewSubmission, SaveResult, Storage

#: The most submissions stored in one transaction.
MAX_BATCH = 256

_Outcome = SaveResult | Exception
_Waiting = tuple[NewSubmission, "asyncio.Future[_Outcome]", asyncio.AbstractEventLoop]


class BatchWriter:
    """Stores submissions for coroutines, in a thread started on first use."""

    def __init__(self, storage: Storage, max_batch: int = MAX_BATCH) -> None:
        self.storage = storage
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Waiting | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        #: How many transactions and submissions the thread has stored (for benchmarks).
        self.batches = 0
        self.stored = 0

    async def save(self, item: NewSubmission) -> SaveResult:
        """Store ``item`` as :meth:`Storage.save` does, without blocking the event loop."""
        if not self._start():
            # Closed (the server is stopping): store it alone, in a worker thread.
            return await asyncio.to_thread(self.storage.store, item)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_Outcome] = loop.create_future()
        self._queue.put((item, future, loop))
        # Shielded: a client that hangs up does not undo a save under way.
        outcome = await asyncio.shield(future)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def close(self) -> None:
        """Store what is queued, then stop the thread; later saves are stored one by one."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(None)
            thread.join()

    def _start(self) -> bool:
        with self._lock:
            if self._closed:
                return False
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="writer", daemon=True)
                self._thread.start()
            return True

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    waiting = self._queue.get_nowait()
                except queue.Empty:
                    break
                if waiting is None:
                    stopping = True
                    break
                batch.append(waiting)
            try:
                outcomes = self.storage.save_many([item for item, _, _ in batch])
            except Exception as exc:  # e.g. the database cannot be opened: tell every caller
                outcomes = [exc] * len(batch)
            self.batches += 1
            self.stored += len(batch)
            by_loop: dict[
                asyncio.AbstractEventLoop, list[tuple[asyncio.Future[_Outcome], _Outcome]]
            ]
            by_loop = defaultdict(list)
            for (_, future, loop), outcome in zip(batch, outcomes, strict=True):
                by_loop[loop].append((future, outcome))
            for loop, settled in by_loop.items():
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits
                    loop.call_soon_threadsafe(_settle, settled)


def _settle(settled: list[tuple[asyncio.Future[_Outcome], _Outcome]]) -> None:
    for future, outcome in settled:
        if not future.done():
            future.set_result(outcome)
