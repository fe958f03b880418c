"""The research database ``research.db``: derived from ``forms.db``, never holding personal data.

What it holds is worked out in :mod:`forms_server.research_tables`; this module writes it.

**Rebuild.** :meth:`Publisher.rebuild` builds a whole new file from ``forms.db`` (read
in one snapshot) under ``research/`` in the data directory, indexes it, then points
the link ``research.db`` at it with one atomic rename and deletes the older builds.
Readers (Datasette) never see a half-built file; each build has its own WAL files, so
a reader still on the old build never mixes the two.

**Sync.** Every change to a submission appends a row to ``forms.db``'s change log
(``_changes``, in the same transaction as the change; see ``Storage.log_change``).
:meth:`Publisher.sync_once` applies the changes after the last one applied: for each
changed submission it deletes its rows from ``research.db`` and inserts what it now
publishes (nothing when deleted), and records the last ``seq`` applied in the same
transaction. Applying a change twice gives the same result, so a crash at any point
is repaired by the next start. The app runs :meth:`Publisher.start`: a thread that
syncs every :data:`SYNC_INTERVAL_S`, and now and then copies forms.db's WAL back into
its file (``Storage.checkpoint``: the event loop that stores submissions leaves that
to it).

**Pseudonyms.** research.db never holds a submission id: see :mod:`forms_server.pseudonyms`.

**Form versions.** A new version that only adds questions adds columns in place
(``ALTER TABLE``); anything else (a question turned sensitive, a type or label
changed, a form no longer published) rebuilds the file, so nothing that is no longer
published survives in it.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from urllib.request import pathname2url

from forms_server.model import Form
from forms_server.pseudonyms import Pseudonyms, pseudonym_key
from forms_server.research_files import build_lock, identity, switch
from forms_server.research_sql import (
    applied_seq,
    create_side_tables,
    create_sql,
    has_data,
    index_sql,
    insert_sql,
    quote,
    read_state,
    write_choice_labels,
    write_state,
)
from forms_server.research_tables import (
    FORMAT_VERSION,
    ResearchTable,
    additions,
    research_tables,
    signature,
)
from forms_server.storage import CHANGES, Storage

log = logging.getLogger(__name__)

RESEARCH_DB = "research.db"
#: The folder of the builds ``research.db`` links to.
BUILDS_DIR = "research"
SYNC_INTERVAL_S = 0.5
#: Submissions applied per transaction while catching up.
BATCH = 500
#: forms.db's WAL is copied back after this many submissions published, or seconds.
CHECKPOINT_SUBMISSIONS = 1000
CHECKPOINT_S = 10.0


class Stopped(Exception):
    """The publisher was asked to stop in the middle of a rebuild."""


@dataclass(frozen=True)
class BuildReport:
    path: Path
    #: The last change-log entry the build includes.
    seq: int
    rows: Mapping[str, int]
    seconds: float


class Publisher:
    """Keeps ``research.db`` in ``data_dir`` following ``forms.db``; shared by threads."""

    def __init__(
        self,
        storage: Storage,
        forms: Mapping[str, Form],
        data_dir: Path,
        zone: tzinfo,
        *,
        interval: float = SYNC_INTERVAL_S,
    ) -> None:
        self.storage = storage
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / RESEARCH_DB
        self.zone = zone
        self.interval = interval
        self.tables = research_tables(forms.values())
        self._by_form: dict[str, list[ResearchTable]] = {}
        for table in self.tables:
            self._by_form.setdefault(table.form.id, []).append(table)
        self.signature = signature(self.tables)
        self.pseudonyms = Pseudonyms(pseudonym_key(storage))
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._ident: tuple[int, int] | None = None
        self._rebuild_needed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: The last error of the background sync, None when it last succeeded.
        self.last_error: str | None = None
        #: False while the build on disk may hold what the forms no longer publish (a
        #: question turned sensitive …): Datasette must not serve it until rebuilt.
        self.available = True
        with self._lock:
            self._connection()

    # -- the background sync ----------------------------------------------------------

    def start(self) -> None:
        """Sync in a background thread every ``interval`` seconds until :meth:`stop`."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="research-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background sync (an unfinished rebuild is abandoned) and close."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:
            self._disconnect()

    def _run(self) -> None:
        delay = 0.0
        published, last_checkpoint = 0, time.monotonic()
        while not self._stop.wait(delay):
            try:
                published += self.sync_once()
                self.last_error = None
                delay = self.interval
            except Stopped:
                return
            except Exception as exc:  # keep syncing: the next try may well succeed
                log.exception("research.db sync failed")
                self.last_error = f"{type(exc).__name__}: {exc}"
                delay = min(max(delay * 2, 1.0), 30.0)
            # Here rather than in the event loop that stores submissions (see
            # Storage.checkpoint), whether or not the sync worked; not every round: a
            # page changed by many commits meanwhile is copied once.
            now = time.monotonic()
            if published >= CHECKPOINT_SUBMISSIONS or now - last_checkpoint >= CHECKPOINT_S:
                published, last_checkpoint = 0, now
                try:
                    self.storage.checkpoint()
                except Exception:
                    log.exception("forms.db checkpoint failed")

    # -- catching up ------------------------------------------------------------------

    def sync_once(self) -> int:
        """Apply every change not applied yet (rebuilding first if needed); how many
        submissions were re-published."""
        with self._lock:
            conn = self._connection()
            if self._rebuild_needed:
                self.rebuild()
                conn = self._connection()
            total = 0
            while not self._stop.is_set():
                done = self._apply_batch(conn)
                if done < 0:
                    break
                total += done
            return total

    def pending(self) -> int:
        """How many change-log entries wait to be applied."""
        with self._lock:
            conn = self._connection()
            applied = applied_seq(conn)
            row = conn.execute(f"SELECT count(*) FROM src.{CHANGES} WHERE seq > ?", [applied])
            return int(row.fetchone()[0])

    def _apply_batch(self, conn: sqlite3.Connection) -> int:
        """Apply up to :data:`BATCH` submissions' changes in one transaction; -1 when none."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            applied = applied_seq(conn)
            changes = conn.execute(
                f"SELECT seq, submission_id, form_id FROM src.{CHANGES} WHERE seq > ?"
                " ORDER BY seq LIMIT ?",
                [applied, BATCH],
            ).fetchall()
            if not changes:
                conn.execute("ROLLBACK")
                return -1
            by_form: dict[str, set[str]] = {}
            for _, sid, form_id in changes:
                by_form.setdefault(form_id, set()).add(sid)
            count = 0
            for form_id, sids in by_form.items():
                tables = self._by_form.get(form_id)
                if not tables:
                    continue
                count += len(sids)
                conn.execute("DELETE FROM temp.fs_batch")
                conn.executemany(
                    "INSERT INTO temp.fs_batch VALUES (?, ?)",
                    [(sid, self.pseudonyms.of(sid)) for sid in sids],
                )
                for table in reversed(tables):
                    key = "_id" if table.repeat is None else "_submission_id"
                    conn.execute(
                        f"DELETE FROM main.{quote(table.name)} WHERE {quote(key)} IN "
                        "(SELECT pseudo FROM temp.fs_batch)"
                    )
                for table in tables:
                    conn.execute(insert_sql(table, batch=True))
            write_state(conn, {"applied_seq": str(changes[-1][0])})
            conn.execute("COMMIT")
            return count
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # -- rebuilding -------------------------------------------------------------------

    def rebuild(self, *, empty: bool = False) -> BuildReport:
        """Build research.db anew from forms.db and switch to it atomically.

        ``empty``: only the tables, marked as needing a real rebuild (for a first start,
        so the app does not wait for a large build before serving).
        """
        started = time.perf_counter()
        with self._lock, build_lock(self.data_dir):
            builds = self.data_dir / BUILDS_DIR
            builds.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            target = builds / f"research-{stamp}.db"
            try:
                seq, rows = self._build(target, empty)
            except BaseException:
                for leftover in builds.glob(target.name + "*"):
                    leftover.unlink(missing_ok=True)
                raise
            switch(self.path, target)
            self._disconnect()
            self.available = True
            for old in builds.glob("research-*.db*"):
                if not old.name.startswith(target.name):
                    old.unlink(missing_ok=True)
            self._rebuild_needed = False
        return BuildReport(target, seq, rows, time.perf_counter() - started)

    def _build(self, target: Path, empty: bool) -> tuple[int, dict[str, int]]:
        conn = self._open(target)
        rows: dict[str, int] = {}
        try:
            for pragma in ("journal_mode = OFF", "synchronous = OFF", "cache_size = -262144"):
                conn.execute(f"PRAGMA main.{pragma}")
            for table in self.tables:
                conn.execute(create_sql(table))
            create_side_tables(conn, self.tables)
            conn.execute("BEGIN")
            # The first read of forms.db fixes the snapshot every insert below reads.
            seq = int(
                conn.execute(f"SELECT coalesce(max(seq), 0) FROM src.{CHANGES}").fetchone()[0]
            )
            for table in self.tables:
                self._check_stop()
                if not empty:
                    rows[table.name] = conn.execute(insert_sql(table, batch=False)).rowcount
            write_choice_labels(conn, self.tables)
            write_state(
                conn,
                {
                    "format": str(FORMAT_VERSION),
                    "key_id": self.pseudonyms.key_id,
                    "signature": json.dumps(self.signature, sort_keys=True),
                    "applied_seq": str(-1 if empty else seq),
                    "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
                },
            )
            conn.execute("COMMIT")
            for table in self.tables:
                self._check_stop()
                for column in table.columns:
                    if column.indexed:
                        conn.execute(index_sql(table.name, column.name))
            conn.execute("PRAGMA analysis_limit = 1000")
            conn.execute("ANALYZE main")
            conn.execute("PRAGMA main.journal_mode = WAL")
        finally:
            conn.close()
        with open(target, "rb+") as handle:
            os.fsync(handle.fileno())
        return seq, rows

    def _check_stop(self) -> None:
        if self._stop.is_set():
            raise Stopped

    # -- connections ------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        """The connection to the current build, reopened when a rebuild (maybe by another
        process) switched the link; checks the build against the forms on opening."""
        ident = identity(self.path)
        if ident is None:
            self.rebuild(empty=True)
            ident = identity(self.path)
        if self._conn is None or ident != self._ident:
            self._disconnect()
            self._conn = self._open(self.path)
            self._conn.execute("PRAGMA main.synchronous = NORMAL")
            self._ident = ident
            fits, safe = self._fits(self._conn)
            self._rebuild_needed = not fits
            self.available = safe
        return self._conn

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            self._ident = None

    def _open(self, path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(
            f"file:{pathname2url(str(path))}",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
            timeout=10,
        )
        conn.create_function("fs_pseudo", 1, self.pseudonyms.of, deterministic=True)
        conn.create_function("fs_pseudo_ref", 1, self.pseudonyms.of_ref, deterministic=True)
        conn.create_function("fs_local_date", 1, self._local_date, deterministic=True)
        forms_db = pathname2url(str(self.storage.path.resolve()))
        conn.execute("ATTACH DATABASE ? AS src", [f"file:{forms_db}?mode=ro"])
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS fs_batch (sid TEXT PRIMARY KEY, pseudo TEXT)")
        return conn

    def _local_date(self, moment: str | None) -> str | None:
        if not moment:
            return None
        try:
            return datetime.fromisoformat(moment).astimezone(self.zone).date().isoformat()
        except ValueError:
            return None

    def _fits(self, conn: sqlite3.Connection) -> tuple[bool, bool]:
        """Whether this build can be kept (after adding new columns in place) rather than
        rebuilt, and whether it may be served meanwhile: not when it may hold what is no
        longer published (changed tables, another format, key or forms.db)."""
        state = read_state(conn)
        if state.get("format") != str(FORMAT_VERSION):
            return False, False
        if state.get("key_id") != self.pseudonyms.key_id:
            return False, False
        if applied_seq(conn) < 0:
            return False, True  # an empty placeholder
        last = conn.execute(f"SELECT coalesce(max(seq), 0) FROM src.{CHANGES}").fetchone()[0]
        if applied_seq(conn) > int(last):
            return False, False  # forms.db went back in time (restored from a backup)
        old = json.loads(state.get("signature") or "{}")
        if old == self.signature:
            return True, True
        added = additions(old, self.signature)
        if added is None:
            return False, False
        return self._add_in_place(conn, added), True

    def _add_in_place(self, conn: sqlite3.Connection, added: Mapping[str, Sequence[str]]) -> bool:
        """Add new tables and columns; False when forms.db already has data for them."""
        tables = {t.name: t for t in self.tables}
        conn.execute("BEGIN IMMEDIATE")
        try:
            for name, new_columns in added.items():
                table = tables.get(name)
                if table is None:
                    continue  # the format entry of the signature
                exists = conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]
                ).fetchone()
                if exists is None:
                    conn.execute(create_sql(table))
                    for column in table.columns:
                        if column.indexed:
                            conn.execute(index_sql(name, column.name))
                    continue
                for column_name in new_columns:
                    column = table.column(column_name)
                    added_column = f"{quote(column.name)} {column.type}"
                    conn.execute(f"ALTER TABLE main.{quote(name)} ADD COLUMN {added_column}")
                    if column.indexed:
                        conn.execute(index_sql(name, column.name))
            if has_data(conn, tables, added):
                conn.execute("ROLLBACK")
                return False
            write_choice_labels(conn, self.tables)
            write_state(conn, {"signature": json.dumps(self.signature, sort_keys=True)})
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return True


def describe(report: BuildReport) -> dict[str, Any]:
    """A build report as plain data, for the command line."""
    return {
        "path": str(report.path),
        "seq": report.seq,
        "rows": dict(report.rows),
        "seconds": round(report.seconds, 2),
    }
