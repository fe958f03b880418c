"""Storing submissions from the event loop: many submissions per commit.

Requests that arrive together are stored together (group commit). A checked
submission joins its event loop's pending batch; the first to join schedules the
batch's commit for the end of the loop's current round (``call_soon``), so every
request read in that round goes into the same transaction. The commit runs on the
event loop itself: on two cores, handing it to a thread made both threads wait for
each other's turn to run Python, and stored about a fifth fewer submissions per
second. Should another thread or process hold the write lock, the batch waits for it
in a worker thread instead, so the loop never waits on a lock.

A request is answered only once its batch has committed, so an acknowledged
submission is stored; a crash before the commit loses only unacknowledged ones,
which their clients send again. Each submission keeps its own outcome (created,
duplicate, conflict or an error): see :meth:`Storage.save_many`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Sequence

from forms_server.storage import Busy, NewSubmission, SaveResult, Storage

#: The most submissions stored in one transaction.
MAX_BATCH = 256

_Outcome = SaveResult | Exception
_Waiting = tuple[NewSubmission, "asyncio.Future[_Outcome]"]


class BatchWriter:
    """Stores submissions for coroutines, those of one loop round in one transaction."""

    def __init__(self, storage: Storage, max_batch: int = MAX_BATCH) -> None:
        self.storage = storage
        self.max_batch = max_batch
        self._pending: dict[asyncio.AbstractEventLoop, list[_Waiting]] = {}
        self._closed = False
        #: How many transactions and submissions have been stored (for benchmarks).
        self.batches = 0
        self.stored = 0
        #: How many batches waited for the write lock in a worker thread.
        self.waited = 0

    async def save(self, item: NewSubmission) -> SaveResult:
        """Store ``item`` as :meth:`Storage.save` does, without blocking the event loop."""
        if self._closed:
            # The server is stopping: store it alone, in a worker thread.
            return await asyncio.to_thread(self.storage.store, item)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_Outcome] = loop.create_future()
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            loop.call_soon(self._flush, loop)
        pending.append((item, future))
        # Shielded: a client that hangs up does not undo a save under way.
        outcome = await asyncio.shield(future)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def close(self) -> None:
        """Store what is pending; later saves are stored one by one."""
        self._closed = True
        for loop in list(self._pending):
            batch = self._pending.pop(loop, [])
            outcomes = self._save_many([item for item, _ in batch], wait=True)
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits
                loop.call_soon_threadsafe(_settle, batch, outcomes)

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._pending.pop(loop, [])
        for start in range(0, len(batch), self.max_batch):
            chunk = batch[start : start + self.max_batch]
            items = [item for item, _ in chunk]
            try:
                outcomes = self._save_many(items, wait=False)
            except Busy:
                self.waited += 1
                waiting = loop.run_in_executor(None, self._save_many, items)
                waiting.add_done_callback(functools.partial(_settle_from, chunk))
                continue
            _settle(chunk, outcomes)

    def _save_many(self, items: Sequence[NewSubmission], wait: bool = True) -> list[_Outcome]:
        try:
            outcomes = self.storage.save_many(items, wait=wait)
        except Busy:
            raise
        except Exception as exc:  # e.g. the database cannot be opened: tell every caller
            outcomes = [exc] * len(items)
        self.batches += 1
        self.stored += len(items)
        return outcomes


def _settle(batch: Sequence[_Waiting], outcomes: Sequence[_Outcome]) -> None:
    for (_, future), outcome in zip(batch, outcomes, strict=True):
        if not future.done():
            future.set_result(outcome)


def _settle_from(batch: Sequence[_Waiting], done: asyncio.Future[list[_Outcome]]) -> None:
    if done.cancelled():  # the loop is closing: nobody is left to answer
        return
    error = done.exception()
    _settle(batch, [error] * len(batch) if isinstance(error, Exception) else done.result())
