"""The SQL behind the staff's and collectors' lists: filters, pages, counts, recent work.

Read-only queries over the private ``submissions`` table (and the review and audit
tables beside it), through :class:`~forms_server.storage.Storage`. A list page is found
by keyset pagination on ``(received_at, rowid)``, newest first, so page 2,000 costs what
page 1 costs; the indexes made by :meth:`Queries.__init__` let SQLite walk each filter
in that order and stop after one page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Literal

from forms_server.accounts import RECENT_DAYS
from forms_server.schema import SUBMISSIONS
from forms_server.storage import Storage, check_submission_id, stored_time

#: Rows on one page of a submissions list.
PAGE_SIZE = 50
#: The most recent submissions a collector's home page lists.
HOME_LIMIT = 200

_INDEXES = [
    # Each starts with (form_id, deleted), so a count is read from the index alone and a
    # page is walked in received order; SQLite appends the rowid, the keyset's tie-break.
    f"CREATE INDEX IF NOT EXISTS submissions_list ON {SUBMISSIONS} (form_id, deleted, received_at)",
    f"CREATE INDEX IF NOT EXISTS submissions_status ON {SUBMISSIONS}"
    " (form_id, deleted, review_status, received_at)",
    f"CREATE INDEX IF NOT EXISTS submissions_collector ON {SUBMISSIONS}"
    " (form_id, deleted, submitted_by, received_at)",
    f"CREATE INDEX IF NOT EXISTS submissions_completed ON {SUBMISSIONS}"
    " (form_id, deleted, completed_at, received_at)",
    # A collector's own recent work, on the home page.
    f"CREATE INDEX IF NOT EXISTS submissions_by ON {SUBMISSIONS} (submitted_by, received_at)",
]
_LIST_COLUMNS = (
    "rowid AS _row, id, form_version, submitted_by, started_at, completed_at, received_at,"
    " review_status, instance_name"
)

DateField = Literal["received", "completed"]


@dataclass(frozen=True)
class ListFilter:
    """What a submissions list is narrowed to; every part optional."""

    status: str | None = None
    #: First and last day (inclusive), in the organisation's time zone.
    start: date | None = None
    end: date | None = None
    date_field: DateField = "received"
    collector: str | None = None
    #: Words looked for in the instance name and the answers (as stored JSON).
    text: str | None = None


@dataclass(frozen=True)
class Cursor:
    """A place in a list: the received time and rowid of the row next to the page."""

    received_at: str
    row: int

    def token(self) -> str:
        return f"{self.received_at}~{self.row}"

    @classmethod
    def parse(cls, token: str | None) -> Cursor | None:
        """A cursor from its token; None when absent, ValueError when malformed."""
        if not token:
            return None
        received_at, sep, row = token.rpartition("~")
        if not sep or not row.isdigit() or len(received_at) > 40:
            raise ValueError(f"not a list position: {token[:60]!r}")
        return cls(received_at, int(row))


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    #: Where the next older page starts, and the next newer one ends; None at either end.
    older: Cursor | None
    newer: Cursor | None
    #: How many match in all; None for a text search with more than a page of hits.
    total: int | None


class Queries:
    """The list queries of one private database (indexes made on construction).

    Reads the review and audit tables too: make it after :class:`~forms_server.reviews.Reviews`
    and :class:`~forms_server.audit.AuditLog`.
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        storage.apply(_INDEXES)

    # -- staff ------------------------------------------------------------------------

    def page(
        self,
        form_id: str,
        where: ListFilter,
        zone: tzinfo,
        *,
        after: Cursor | None = None,
        before: Cursor | None = None,
        size: int = PAGE_SIZE,
    ) -> Page:
        """One page of a form's submissions, newest first: the first, or the one
        ``after`` (older than) or ``before`` (newer than) a cursor."""
        conditions, params = _conditions(form_id, where, zone)
        total: int | None = None
        if not where.text:
            # Read from an index alone. A text search reads every row's answers: counting
            # its hits would read them all a second time, so it is counted only when
            # they fit on one page.
            total = int(
                self.storage.query(
                    f"SELECT count(*) AS n FROM {SUBMISSIONS} WHERE {' AND '.join(conditions)}",
                    params,
                )[0]["n"]
            )
        edge = before or after
        if edge is not None:
            # received_at <= ? is what the index can use; the OR settles the ties.
            op = ">" if before else "<"
            conditions.append(f"received_at {op}= ? AND (received_at {op} ? OR rowid {op} ?)")
            params += [edge.received_at, edge.received_at, edge.row]
        way = "ASC" if before else "DESC"
        order = f"ORDER BY received_at {way}, rowid {way}"
        # The page's rowids first, from an index where one covers the filter (a sort of
        # index entries, not of whole rows), then those rows.
        rows = self.storage.query(
            f"SELECT {_LIST_COLUMNS} FROM {SUBMISSIONS} WHERE rowid IN"
            f" (SELECT rowid FROM {SUBMISSIONS} WHERE {' AND '.join(conditions)} {order} LIMIT ?)"
            f" {order}",
            [*params, size + 1],
        )
        more = len(rows) > size
        rows = rows[:size]
        if before:
            rows.reverse()
        first = _cursor(rows[0]) if rows else None
        last = _cursor(rows[-1]) if rows else None
        if total is None and edge is None and not more:
            total = len(rows)
        if before:
            return Page(rows, older=last, newer=first if more else None, total=total)
        return Page(rows, older=last if more else None, newer=first if after else None, total=total)

    def status_counts(self, form_id: str) -> dict[str, int]:
        """Review state -> how many of the form's submissions (not deleted) are in it."""
        rows = self.storage.query(
            f"SELECT review_status, count(*) AS n FROM {SUBMISSIONS}"
            " WHERE form_id = ? AND deleted = 0 GROUP BY review_status",
            [form_id],
        )
        return {row["review_status"]: int(row["n"]) for row in rows}

    def collectors(self, form_id: str) -> list[str]:
        """Everyone who submitted this form, by name."""
        # One index seek per collector (a skip-scan), not a pass over every submission.
        rows = self.storage.query(
            "WITH RECURSIVE c(name) AS ("
            f" SELECT min(submitted_by) FROM {SUBMISSIONS}"
            "  WHERE form_id = ? AND deleted = 0 AND submitted_by IS NOT NULL"
            " UNION ALL"
            f" SELECT (SELECT min(submitted_by) FROM {SUBMISSIONS}"
            "  WHERE form_id = ? AND deleted = 0 AND submitted_by > c.name)"
            " FROM c WHERE c.name IS NOT NULL"
            ") SELECT name FROM c WHERE name IS NOT NULL",
            [form_id, form_id],
        )
        return [str(row["name"]) for row in rows]

    def attachment_names(self, submission_id: str) -> set[str]:
        """Every file name a version of this submission (current or edited away) answered."""
        sid = check_submission_id(submission_id)
        rows = self.storage.query(
            f"SELECT data FROM {SUBMISSIONS} WHERE id = ?"
            " UNION ALL SELECT answers FROM _versions WHERE submission_id = ?",
            [sid, sid],
        )
        names: set[str] = set()
        for row in rows:
            _strings(json.loads(row["data"]), names)
        return {name for name in names if name.startswith(sid + "/")}

    # -- collectors -------------------------------------------------------------------

    def recent_by(self, username: str, now: datetime | None = None) -> list[dict[str, Any]]:
        """A collector's own submissions of the last
        :data:`~forms_server.accounts.RECENT_DAYS` days, newest
        first, each with the latest review comment (``comment``, ``comment_at``)."""
        rows = self.storage.query(
            f"SELECT id, form_id, received_at, completed_at, review_status, instance_name"
            f" FROM {SUBMISSIONS} WHERE submitted_by = ? AND deleted = 0 AND received_at >= ?"
            " ORDER BY received_at DESC, rowid DESC LIMIT ?",
            [username, recent_since(now), HOME_LIMIT],
        )
        comments = self.latest_comments([row["id"] for row in rows])
        for row in rows:
            found = comments.get(row["id"])
            row["comment"] = found["comment"] if found else None
            row["comment_at"] = found["at"] if found else None
            row["comment_by"] = found["actor"] if found else None
        return rows

    def latest_comments(self, submission_ids: list[str]) -> dict[str, dict[str, Any]]:
        """submission id -> its latest review comment (at, actor, comment), when it has one."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(submission_ids), 500):
            chunk = submission_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.storage.query(
                "SELECT submission_id, at, actor, comment FROM _reviews"
                f" WHERE submission_id IN ({marks}) AND comment IS NOT NULL ORDER BY id",
                chunk,
            )
            for row in rows:
                found[row["submission_id"]] = row
        return found

    # -- audit ------------------------------------------------------------------------

    def audit_actions(self) -> list[str]:
        rows = self.storage.query("SELECT DISTINCT action FROM _audit ORDER BY action")
        return [str(row["action"]) for row in rows]

    def audit_count(self, action: str | None = None) -> int:
        where, params = ("WHERE action = ?", [action]) if action else ("", [])
        return int(self.storage.query(f"SELECT count(*) AS n FROM _audit {where}", params)[0]["n"])


def recent_since(now: datetime | None = None) -> str:
    """The received time (stored form: UTC, milliseconds, ``Z``) from which work is recent."""
    moment = (now or datetime.now(UTC)) - timedelta(days=RECENT_DAYS)
    return stored_time(moment)


def is_recent(received_at: str, now: datetime | None = None) -> bool:
    return received_at >= recent_since(now)


def day_start(day: date, zone: tzinfo) -> str:
    """The first moment of a local day, as stored times are written (UTC)."""
    return stored_time(datetime.combine(day, time(0), tzinfo=zone))


def like_pattern(text: str) -> str:
    """A LIKE pattern finding ``text`` anywhere, its ``%``, ``_`` and ``\\`` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _conditions(form_id: str, where: ListFilter, zone: tzinfo) -> tuple[list[str], list[Any]]:
    conditions = ["form_id = ?", "deleted = 0"]
    params: list[Any] = [form_id]
    if where.status:
        conditions.append("review_status = ?")
        params.append(where.status)
    if where.collector:
        conditions.append("submitted_by = ?")
        params.append(where.collector)
    column = "completed_at" if where.date_field == "completed" else "received_at"
    if where.start:
        conditions.append(f"{column} >= ?")
        params.append(day_start(where.start, zone))
    if where.end:
        conditions.append(f"{column} < ?")
        params.append(day_start(where.end + timedelta(days=1), zone))
    if where.text:
        pattern = like_pattern(where.text)
        conditions.append(
            "(instance_name LIKE ? ESCAPE '\\' OR data LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\')"
        )
        params += [pattern, pattern, pattern]
    return conditions, params


def _cursor(row: dict[str, Any]) -> Cursor:
    return Cursor(str(row["received_at"]), int(row["_row"]))


def _strings(value: Any, out: set[str]) -> None:
    if isinstance(value, str):
        out.add(value)
    elif isinstance(value, list):
        for item in value:
            _strings(item, out)
    elif isinstance(value, dict):
        for item in value.values():
            _strings(item, out)
