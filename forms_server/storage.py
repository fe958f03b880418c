"""All SQL of the private database ``forms.db``, through sqlite-utils.

One :class:`Storage` object per process serves every thread: each thread gets its own
SQLite connection (made on first use, closed by :meth:`Storage.close`), so readers never
wait for each other and a writer never sees another thread's half-done transaction.
Several processes may open the same file: every write takes SQLite's write lock up front
(``BEGIN IMMEDIATE``) and waits up to :data:`BUSY_TIMEOUT_S` for it. The file is in WAL
mode with ``synchronous=NORMAL`` (a power cut may lose the last commits, never corrupt
the file) and foreign keys on.

Storing a submission is one transaction: its ``submissions`` row (the answers as JSON),
the form's typed row and every repeat entry's row, or nothing. The submission's id is
made by the client; sending it again with the same content is a ``duplicate`` that
stores nothing, with other content a ``conflict`` that changes nothing. The content is
the answers with the form's id and version (``content_hash``: sha256 of their JSON with
sorted keys); the times and the sender are not part of it, so a resend is recognised.

Every change to a submission (created, edited, reviewed, deleted) also appends a row to
the change log ``_changes``, in the same transaction (:meth:`Storage.log_change`): the
research database (:mod:`forms_server.publish`) follows that log.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlite_utils import Database
from sqlite_utils.db import jsonify_if_needed, quote_identifier
from sqlite_utils.utils import dedupe_keys

from forms_server.model import Form
from forms_server.schema import (
    SCHEMA_VERSIONS,
    SUBMISSIONS,
    Migration,
    TablePlan,
    apply_schema,
    create_base_tables,
    plan_tables,
    table_name,
)

#: How long a write waits for another connection's write lock, in seconds.
BUSY_TIMEOUT_S = 5.0
#: WAL pages written before SQLite copies them back into the database file.
WAL_CHECKPOINT_PAGES = 10_000
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_Row = dict[str, Any]
#: The change log: one row per change to a submission, ``seq`` never reused.
CHANGES = "_changes"
#: What ``_changes.op`` says happened.
CHANGE_OPS = frozenset({"create", "edit", "review", "delete", "restore"})


class Busy(Exception):
    """Another thread or process holds the write lock (raised only when asked not to wait)."""


class SaveStatus(StrEnum):
    CREATED = "created"
    #: The same id with the same content was stored before; nothing new was stored.
    DUPLICATE = "duplicate"
    #: The same id was stored before with other content or for another form.
    CONFLICT = "conflict"


@dataclass(frozen=True)
class SaveResult:
    status: SaveStatus
    #: The id as stored: lowercase.
    submission_id: str
    #: The hash of the content sent now (for a conflict, not the stored one).
    content_hash: str
    #: When the stored submission was received: now, or the first time.
    received_at: str


@dataclass(frozen=True)
class SubmissionRecord:
    """One stored submission: its metadata and its answers as they were saved."""

    id: str
    form_id: str
    form_version: str
    submitted_by: str | None
    started_at: str | None
    completed_at: str | None
    received_at: str
    review_status: str
    content_hash: str
    instance_name: str | None
    deleted: bool
    answers: dict[str, Any]


@dataclass(frozen=True)
class NewSubmission:
    """A validated submission to store (see :meth:`Storage.save` for the fields)."""

    form: Form
    submission_id: str
    answers: Mapping[str, Any]
    submitted_by: str | None = None
    started_at: str | datetime | None = None
    completed_at: str | datetime | None = None
    instance_name: str | None = None


@dataclass(frozen=True)
class _Prepared:
    form: Form
    sid: str
    content_hash: str
    meta: _Row
    typed: list[tuple[str, _Row]]


class Storage:
    """The private database at ``path`` (created with its parent directories if missing)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._connections: list[Database] = []
        self._closed = False
        #: How many times :meth:`checkpoint` ran.
        self.checkpoints = 0
        #: form id -> (the Form object last ensured, its tables), to skip re-checking.
        self._plans: dict[str, tuple[Form, dict[str | None, TablePlan]]] = {}
        db = self._db()
        db.enable_wal()
        with self._write() as db:
            create_base_tables(db)
            db.execute(
                f"CREATE TABLE IF NOT EXISTS {CHANGES} (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                " submission_id TEXT NOT NULL, form_id TEXT NOT NULL, op TEXT NOT NULL,"
                " at TEXT NOT NULL)"
            )

    # -- connections ------------------------------------------------------------------

    def _db(self) -> Database:
        """This thread's connection."""
        db: Database | None = getattr(self._local, "db", None)
        if db is None:
            with self._lock:
                if self._closed:
                    raise RuntimeError(f"storage {self.path} is closed")
                conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
                db = Database(conn, execute_plugins=False)
                db.execute("PRAGMA foreign_keys = ON")
                db.execute("PRAGMA synchronous = NORMAL")
                db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
                # Copy the WAL back into the file every ~40 MB rather than every ~4 MB:
                # a page changed by many commits meanwhile is copied once, and the
                # writes of a busy intake cost about a fifth less.
                db.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
                db.execute(f"PRAGMA journal_size_limit = {WAL_CHECKPOINT_PAGES * 4096}")
                self._connections.append(db)
            self._local.db = db
        return db

    @contextmanager
    def _write(self, *, wait: bool = True) -> Iterator[Database]:
        """A write transaction holding the write lock from its start, committed on success.

        Taking the lock up front (rather than on the first write) means a check made
        inside the transaction still holds when the insert that depends on it runs.
        Threads of this process queue on a Python lock first: waiting there wakes at
        once, while SQLite's busy handler sleeps in growing steps and made concurrent
        writers wait up to a second. With ``wait=False``, :class:`Busy` is raised at
        once, before anything is written, when another thread or process is writing.
        """
        db = self._db()
        if not wait and not getattr(self._local, "no_checkpoint", False):
            # A caller that cannot wait (the event loop) leaves copying the WAL back
            # into the file, and the disk flush that goes with it, to checkpoint().
            db.execute("PRAGMA wal_autocheckpoint = 0")
            self._local.no_checkpoint = True
        if not self._write_lock.acquire(blocking=wait):
            raise Busy("another thread is writing")
        try:
            self._begin(db, wait)
            try:
                yield db
            except BaseException:
                db.rollback()
                raise
            try:
                db.commit()
            except BaseException:
                db.rollback()
                raise
        finally:
            self._write_lock.release()

    @staticmethod
    def _begin(db: Database, wait: bool) -> None:
        if wait:
            db.execute("BEGIN IMMEDIATE")
            return
        db.execute("PRAGMA busy_timeout = 0")
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
            raise Busy("another process is writing") from exc
        finally:
            db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """A write transaction for the other private tables (users, reviews, audit)."""
        with self._write() as db:
            yield db

    def log_change(self, db: Database, submission_id: str, form_id: str, op: str) -> None:
        """Note in the change log that a submission changed (``op``: one of
        :data:`CHANGE_OPS`); call inside the transaction ``db`` that changed it."""
        if op not in CHANGE_OPS:
            raise ValueError(f"unknown change {op!r}: use one of {sorted(CHANGE_OPS)}")
        db.execute(
            f"INSERT INTO {CHANGES} (submission_id, form_id, op, at) VALUES (?, ?, ?, ?)",
            [submission_id, form_id, op, _now()],
        )

    def apply(self, statements: Sequence[str]) -> None:
        """Run schema statements (CREATE … IF NOT EXISTS) of another private table, at once."""
        with self._write() as db:
            for statement in statements:
                db.execute(statement)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[_Row]:
        """Rows of a read-only query, as dicts."""
        if _is_select(sql):
            return _select(self._db(), sql, params)
        return list(self._db().query(sql, list(params)))

    def checkpoint(self) -> tuple[int, int]:
        """Copy what the WAL holds back into the database file, as far as readers allow,
        without blocking writers (``PASSIVE``): (frames in the WAL, frames of them now
        in the file). Writes made without waiting (:meth:`save_many` with
        ``wait=False``) rely on this: the research sync's thread calls it (see
        :mod:`forms_server.publish`)."""
        _, frames, copied = self._db().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.checkpoints += 1
        return int(frames), int(copied)

    def close(self) -> None:
        """Close every thread's connection; call at shutdown, when no thread uses it."""
        with self._lock:
            self._closed = True
            connections, self._connections = self._connections, []
        for db in connections:
            db.close()

    def __enter__(self) -> Storage:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- schema -----------------------------------------------------------------------

    def ensure_schema(self, form: Form) -> Migration:
        """Create or extend the tables of ``form``; see :mod:`forms_server.schema`."""
        plans = plan_tables(form)
        with self._write() as db:
            migration = apply_schema(db, form, plans, _now())
        self._plans[form.id] = (form, plans)
        return migration

    def _tables(self, form: Form) -> dict[str | None, TablePlan]:
        cached = self._plans.get(form.id)
        if cached is None or cached[0] is not form:
            self.ensure_schema(form)
            cached = self._plans[form.id]
        return cached[1]

    def schema_history(self, form_id: str) -> list[dict[str, Any]]:
        """The applied schemas of a form, oldest first, with their columns and changes."""
        rows = self._db().query(
            f"SELECT * FROM {SCHEMA_VERSIONS} WHERE form_id = ? ORDER BY id", [form_id]
        )
        return [
            {**row, "columns": json.loads(row["columns"]), "changes": json.loads(row["changes"])}
            for row in rows
        ]

    # -- submissions ------------------------------------------------------------------

    def save(
        self,
        form: Form,
        submission_id: str,
        answers: Mapping[str, Any],
        *,
        submitted_by: str | None = None,
        started_at: str | datetime | None = None,
        completed_at: str | datetime | None = None,
        instance_name: str | None = None,
    ) -> SaveResult:
        """Store one validated submission, once; see the module docstring for the outcomes.

        ``answers`` maps question names to typed answers; a repeat's name maps to a list
        of entries of the same shape. Timestamps must carry a time zone; they are stored
        in UTC. Raises ValueError for a malformed id, timestamp or answers.
        """
        return self.store(
            NewSubmission(
                form, submission_id, answers, submitted_by, started_at, completed_at, instance_name
            )
        )

    def store(self, item: NewSubmission) -> SaveResult:
        """:meth:`save` for a submission already gathered in a :class:`NewSubmission`."""
        outcome = self.save_many([item])[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def save_many(
        self, items: Sequence[NewSubmission], *, wait: bool = True
    ) -> list[SaveResult | Exception]:
        """Store several submissions in one transaction: one commit for all of them.

        Each gets the outcome :meth:`save` would give it alone (an exception in place of
        its result when it is malformed): a duplicate or a conflict stores nothing and
        does not disturb the others. Should anything fail inside the transaction, it is
        rolled back whole and each submission is stored on its own, so that only the one
        at fault fails.

        ``wait=False``: raise :class:`Busy`, having stored nothing, rather than wait
        while another thread or process holds the write lock; and never copy the WAL
        back into the file in this thread (see :meth:`checkpoint`).
        """
        outcomes: list[SaveResult | Exception | None] = [None] * len(items)
        prepared: list[tuple[int, _Prepared]] = []
        for i, item in enumerate(items):
            try:
                prepared.append((i, self._prepare(item)))
            except ValueError as exc:
                outcomes[i] = exc
        if len(prepared) > 1 or (prepared and not wait):
            try:
                for i, result in self._store(prepared, wait=wait).items():
                    outcomes[i] = result
                prepared = []
            except Busy:
                raise
            except Exception:
                pass  # one of them is at fault: store each alone below, to find which
        for i, one in prepared:
            try:
                outcomes[i] = self._store([(i, one)])[i]
            except Exception as exc:
                outcomes[i] = exc
        return [o if o is not None else RuntimeError("not stored") for o in outcomes]

    def _prepare(self, item: NewSubmission) -> _Prepared:
        """Everything of a submission that needs no lock: its checked id, rows and hash."""
        sid = check_submission_id(item.submission_id)
        form, answers = item.form, item.answers
        data, content_hash = _stored_json(form, answers)
        meta: _Row = {
            "id": sid,
            "form_id": form.id,
            "form_version": form.version,
            "submitted_by": item.submitted_by,
            "started_at": _utc(item.started_at),
            "completed_at": _utc(item.completed_at),
            "content_hash": content_hash,
            "data": data,
            "instance_name": item.instance_name,
        }
        return _Prepared(
            form, sid, content_hash, meta, _typed_rows(self._tables(form), sid, answers)
        )

    def _store(
        self, prepared: Sequence[tuple[int, _Prepared]], *, wait: bool = True
    ) -> dict[int, SaveResult]:
        """Insert prepared submissions in one transaction, one statement per table.

        The ids stored already are looked up first, in one query, while holding the
        write lock (so the answer still holds when the rows go in); an id sent twice in
        the same batch counts as stored by its first copy.
        """
        results: dict[int, SaveResult] = {}
        with self._write(wait=wait) as db:
            received_at = _now()
            stored = _find_many(db, {p.sid for _, p in prepared})
            metas: list[tuple[str, _Row]] = []
            tables: dict[str, list[tuple[str, _Row]]] = {}
            changes: list[tuple[str, str, str]] = []
            for i, p in prepared:
                found = stored.get(p.sid)
                if found is not None:
                    same = found["form_id"] == p.form.id
                    same = same and found["content_hash"] == p.content_hash
                    status = SaveStatus.DUPLICATE if same else SaveStatus.CONFLICT
                    results[i] = SaveResult(status, p.sid, p.content_hash, found["received_at"])
                    continue
                stored[p.sid] = {
                    "form_id": p.form.id,
                    "content_hash": p.content_hash,
                    "received_at": received_at,
                }
                meta = {**p.meta, "received_at": received_at}
                metas.append((SUBMISSIONS, meta))
                p.typed[0][1].update(
                    _system_columns(p.form, meta["submitted_by"], meta["completed_at"], received_at)
                )
                # Rows of one table together, tables in the order first met: a parent
                # table always before its repeats' tables, as foreign keys need.
                for table, row in p.typed:
                    tables.setdefault(table, []).append((table, row))
                changes.append((p.sid, p.form.id, received_at))
                results[i] = SaveResult(SaveStatus.CREATED, p.sid, p.content_hash, received_at)
            conn = db.conn
            _insert_rows(conn, metas)
            for rows in tables.values():
                _insert_rows(conn, rows)
            conn.executemany(
                f"INSERT INTO {CHANGES} (submission_id, form_id, op, at)"
                " VALUES (?, ?, 'create', ?)",
                changes,
            )
        return results

    def replace(
        self,
        db: Database,
        form: Form,
        submission_id: str,
        answers: Mapping[str, Any],
        *,
        instance_name: str | None,
    ) -> str:
        """Replace a stored submission's answers inside the caller's transaction ``db``.

        The typed rows are rewritten from ``answers``; the raw JSON, hash, form version and
        instance name follow. Returns the new content hash. Keeping the old version is
        the caller's job (the edit history).
        """
        sid = check_submission_id(submission_id)
        plans = self._tables(form)
        data, content_hash = _stored_json(form, answers)
        typed = _typed_rows(plans, sid, answers)
        meta = db.execute(
            f"SELECT submitted_by, completed_at, received_at, review_status FROM {SUBMISSIONS}"
            " WHERE id = ?",
            [sid],
        ).fetchone()
        if meta is None:
            raise ValueError(f"no submission {sid}")
        for plan in reversed(list(plans.values())):
            key = "_submission_id" if plan.repeat else "_id"
            db.execute(f"DELETE FROM [{plan.name}] WHERE [{key}] = ?", [sid])
        form_row = typed[0][1]
        form_row.update(_system_columns(form, *meta))
        _insert_rows(db.conn, typed)
        db.execute(
            f"UPDATE {SUBMISSIONS} SET data = ?, content_hash = ?, form_version = ?,"
            " instance_name = ? WHERE id = ?",
            [
                data,
                content_hash,
                form.version,
                instance_name,
                sid,
            ],
        )
        return content_hash

    def get(self, submission_id: str) -> SubmissionRecord | None:
        """The submission with this id, deleted or not; None if there is none."""
        rows = _select(
            self._db(),
            f"SELECT * FROM {SUBMISSIONS} WHERE id = ?",
            [check_submission_id(submission_id)],
        )
        return _record(rows[0]) if rows else None

    def count(self, form_id: str) -> int:
        """How many submissions of a form are stored, not counting deleted ones."""
        sql = f"SELECT count(*) FROM {SUBMISSIONS} WHERE form_id = ? AND deleted = 0"
        return int(self._db().execute(sql, [form_id]).fetchone()[0])

    def list_submissions(
        self, form_id: str, limit: int = 50, offset: int = 0
    ) -> list[SubmissionRecord]:
        """A page of a form's submissions, not deleted, the most recently received first."""
        if limit < 0 or offset < 0:
            raise ValueError("limit and offset must be 0 or more")
        rows = self._db().query(
            f"SELECT * FROM {SUBMISSIONS} WHERE form_id = ? AND deleted = 0 "
            "ORDER BY received_at DESC, rowid DESC LIMIT ? OFFSET ?",
            [form_id, limit, offset],
        )
        return [_record(row) for row in rows]

    def form_rows(self, form_id: str, repeat: str | None = None) -> list[_Row]:
        """Every row of a form's typed table, or of one repeat's table, in insertion order."""
        table = self._db().table(table_name(form_id, repeat))
        if not table.exists():
            return []
        return list(table.rows_where(order_by="rowid"))


def check_submission_id(submission_id: str) -> str:
    """The id in lowercase if it is a UUID written as 8-4-4-4-12 hex digits; else ValueError."""
    if not isinstance(submission_id, str) or not _UUID_RE.fullmatch(submission_id.lower()):
        raise ValueError(f"submission id {submission_id!r} is not a UUID")
    return submission_id.lower()


def _now() -> str:
    return stored_time(datetime.now(UTC))


def stored_time(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds, e.g. 2026-11-29T20:00:00.000Z: sorts as text."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def local_time(value: str | None, zone: tzinfo) -> str:
    """A stored time as ``YYYY-MM-DD HH:MM`` in ``zone``; "" for None, the text itself
    when unreadable, and a time without a zone taken as UTC (as stored times are)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _utc(value: str | datetime | None) -> str | None:
    """A timestamp given by the caller, in UTC; one without a time zone is refused."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    except ValueError as exc:
        raise ValueError(f"timestamp {value!r} is not ISO 8601") from exc
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no time zone")
    return stored_time(moment)


def _content_hash(form: Form, answers: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON (sorted keys) of the answers with the form's id and
    version: ``{"answers": …, "form_id": …, "form_version": …}``."""
    try:
        text = _CANONICAL_JSON(answers)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"answers are not plain JSON values: {exc}") from exc
    content = (
        f'{{"answers":{text},"form_id":{_CANONICAL_JSON(form.id)},'
        f'"form_version":{_CANONICAL_JSON(form.version)}}}'
    )
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _stored_json(form: Form, answers: Mapping[str, Any]) -> tuple[str, str]:
    """The answers as stored (JSON in the order given: the form's) and their content hash."""
    content_hash = _content_hash(form, answers)  # refuses what is not plain JSON first
    return _DATA_JSON(answers), content_hash


def _typed_rows(
    plans: Mapping[str | None, TablePlan], sid: str, answers: Mapping[str, Any]
) -> list[tuple[str, _Row]]:
    """The form's row and every repeat entry's row, each parent before its entries."""
    rows: list[tuple[str, _Row]] = []

    def level(plan: TablePlan, values: Mapping[str, Any], system: _Row, path: str) -> None:
        if not isinstance(values, Mapping):
            raise ValueError(f"an entry of '{plan.repeat}' must be a mapping of answers")
        unknown = set(values) - set(plan.columns) - set(plan.repeats)
        if unknown:
            where = f" in repeat '{plan.repeat}'" if plan.repeat else ""
            raise ValueError(f"answers for unknown questions{where}: {sorted(unknown)}")
        row = dict(system)
        get, lists = values.get, plan.list_columns
        for name in plan.columns:
            value = get(name)
            if type(value) not in _PLAIN or name in lists:
                value = _column_value(value)
            row[name] = value
        rows.append((plan.name, row))
        for repeat in plan.repeats:
            entries = values.get(repeat) or []
            if not isinstance(entries, Sequence) or isinstance(entries, str):
                raise ValueError(f"the answer of repeat '{repeat}' must be a list of entries")
            for position, entry in enumerate(entries, start=1):
                entry_path = f"{path}.{position}" if path else str(position)
                child_system = {
                    "_id": f"{sid}/{repeat}/{entry_path}",
                    "_submission_id": sid,
                    "_parent_id": row["_id"] if plan.repeat else None,
                    "_position": position,
                }
                level(plans[repeat], entry, child_system, entry_path)

    level(plans[None], answers, {"_id": sid}, "")
    return rows


def _column_value(value: Any) -> Any:
    """An answer as its column holds it: lists (select_multiple, rank) as a JSON array."""
    if isinstance(value, list | tuple | dict):
        return _COLUMN_JSON(value)
    return value


#: Made once: ``json.dumps`` with any option builds a new encoder on every call.
_CANONICAL_JSON = json.JSONEncoder(
    sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
).encode
_COLUMN_JSON = json.JSONEncoder(ensure_ascii=False).encode
_DATA_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _find_many(db: Database, sids: set[str]) -> dict[str, _Row]:
    """The stored submissions among ``sids``: id -> form id, content hash, receipt time."""
    marks = ", ".join("?" * len(sids))
    sql = f"SELECT id, form_id, content_hash, received_at FROM {SUBMISSIONS} WHERE id IN ({marks})"
    return {row["id"]: row for row in _select(db, sql, sorted(sids))}


def _is_select(sql: str) -> bool:
    """Whether ``sql`` is a plain SELECT, which cannot write: it needs no savepoint guard."""
    return sql.lstrip()[:7].upper() in ("SELECT ", "SELECT\n", "SELECT\t")


def _select(db: Database, sql: str, params: Sequence[Any] = ()) -> list[_Row]:
    """Rows of a SELECT as dicts, keyed as sqlite-utils' ``query`` keys them."""
    cursor = db.conn.execute(sql, list(params))
    keys = dedupe_keys(d[0] for d in cursor.description)
    return [dict(zip(keys, row, strict=True)) for row in cursor.fetchall()]


def _system_columns(
    form: Form,
    submitted_by: str | None,
    completed_at: str | None,
    received_at: str,
    review_status: str = "received",
) -> _Row:
    """The ``_`` columns of a submission's row in its form's table."""
    return {
        "_version": form.version,
        "_submitted_by": submitted_by,
        "_completed_at": completed_at,
        "_received_at": received_at,
        "_review_status": review_status,
    }


#: (table, its columns) -> the INSERT statement for a row of exactly those columns.
_INSERT_SQL: dict[tuple[str, tuple[str, ...]], str] = {}
#: Values SQLite takes as they are; anything else is converted as sqlite-utils did.
_PLAIN = frozenset({str, int, float, bool, type(None)})


def _insert_rows(conn: sqlite3.Connection, rows: Sequence[tuple[str, _Row]]) -> None:
    """Insert rows in order, as ``db.table(table).insert(row)`` would, one statement per
    run of rows of the same table and columns (``executemany``)."""
    i = 0
    while i < len(rows):
        table, first = rows[i]
        columns = tuple(first)
        j = i + 1
        while j < len(rows) and rows[j][0] == table and tuple(rows[j][1]) == columns:
            j += 1
        key = (table, columns)
        sql = _INSERT_SQL.get(key)
        if sql is None:
            names = ", ".join(quote_identifier(c) for c in columns)
            marks = ", ".join("?" * len(columns))
            sql = _INSERT_SQL[key] = (
                f"INSERT INTO {quote_identifier(table)} ({names}) VALUES ({marks})"
            )
        params = [_params(row) for _, row in rows[i:j]]
        if len(params) == 1:
            conn.execute(sql, params[0])
        else:
            conn.executemany(sql, params)
        i = j


def _params(row: _Row) -> list[Any]:
    """A row's values as SQLite takes them; anything else converted as sqlite-utils did."""
    values = list(row.values())
    for value in values:
        if type(value) not in _PLAIN:
            return [v if type(v) in _PLAIN else jsonify_if_needed(v) for v in values]
    return values


def _record(row: Mapping[str, Any]) -> SubmissionRecord:
    return SubmissionRecord(
        id=row["id"],
        form_id=row["form_id"],
        form_version=row["form_version"],
        submitted_by=row["submitted_by"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        received_at=row["received_at"],
        review_status=row["review_status"],
        content_hash=row["content_hash"],
        instance_name=row["instance_name"],
        deleted=bool(row["deleted"]),
        answers=json.loads(row["data"]),
    )
