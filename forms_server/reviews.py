"""Staff's work on a submission: review states with comments, and edits with their history.

Review states follow ODK Central: received, has issues, approved, rejected. Every
change of state is kept with who, when and an optional comment. An edit replaces
the answers and keeps the previous version in an append-only table, so the history
can always be shown as "who changed which answer from what to what".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from forms_server.model import Form
from forms_server.schema import SUBMISSIONS
from forms_server.storage import Storage, check_submission_id

REVIEW_STATES = ("received", "has_issues", "approved", "rejected")
STATE_LABELS = {
    "received": {"zh-Hans": "已收到", "en": "Received"},
    "has_issues": {"zh-Hans": "有问题", "en": "Has issues"},
    "approved": {"zh-Hans": "已核准", "en": "Approved"},
    "rejected": {"zh-Hans": "已驳回", "en": "Rejected"},
}

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS _reviews (id INTEGER PRIMARY KEY, submission_id TEXT NOT NULL,"
    " at TEXT NOT NULL, actor TEXT, status TEXT, comment TEXT)",
    "CREATE INDEX IF NOT EXISTS _reviews_submission ON _reviews (submission_id)",
    "CREATE TABLE IF NOT EXISTS _versions (id INTEGER PRIMARY KEY, submission_id TEXT NOT NULL,"
    " at TEXT NOT NULL, actor TEXT, form_version TEXT, answers TEXT NOT NULL,"
    " replaced_by TEXT)",
    "CREATE INDEX IF NOT EXISTS _versions_submission ON _versions (submission_id)",
    "CREATE TRIGGER IF NOT EXISTS _versions_no_update BEFORE UPDATE ON _versions"
    " BEGIN SELECT RAISE(ABORT, 'the edit history is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS _versions_no_delete BEFORE DELETE ON _versions"
    " BEGIN SELECT RAISE(ABORT, 'the edit history is append-only'); END",
]


@dataclass(frozen=True)
class ReviewEvent:
    at: str
    actor: str | None
    status: str | None
    comment: str | None


@dataclass(frozen=True)
class Change:
    """One answer changed by an edit; ``path`` is the field key (``children.0.child_age``)."""

    path: str
    name: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Edit:
    at: str
    actor: str | None
    changes: tuple[Change, ...]


class ReviewError(ValueError):
    pass


class Reviews:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        storage.apply(_SCHEMA)

    def set_status(
        self, form: Form, submission_id: str, status: str, *, actor: str, comment: str = ""
    ) -> None:
        """Change the review state (or only add a comment, with the same state)."""
        if status not in REVIEW_STATES:
            raise ReviewError(f"unknown review state {status!r}")
        sid = check_submission_id(submission_id)
        comment = comment.strip()[:4000]
        with self.storage.transaction() as db:
            row = db.execute(
                f"SELECT review_status FROM {SUBMISSIONS} WHERE id = ? AND form_id = ?",
                [sid, form.id],
            ).fetchone()
            if row is None:
                raise ReviewError("no such submission")
            changed = row[0] != status
            if not changed and not comment:
                return
            db.execute(f"UPDATE {SUBMISSIONS} SET review_status = ? WHERE id = ?", [status, sid])
            db.execute(f"UPDATE [{form.id}] SET _review_status = ? WHERE _id = ?", [status, sid])
            db.execute(
                "INSERT INTO _reviews (submission_id, at, actor, status, comment)"
                " VALUES (?, ?, ?, ?, ?)",
                [sid, _now(), actor, status if changed else None, comment or None],
            )
            _log_change(self.storage, db, sid, form.id, "review")

    def events(self, submission_id: str) -> list[ReviewEvent]:
        rows = self.storage.query(
            "SELECT at, actor, status, comment FROM _reviews WHERE submission_id = ? ORDER BY id",
            [check_submission_id(submission_id)],
        )
        return [ReviewEvent(r["at"], r["actor"], r["status"], r["comment"]) for r in rows]

    def edit(
        self,
        form: Form,
        submission_id: str,
        answers: dict[str, Any],
        *,
        actor: str,
        instance_name: str | None,
    ) -> bool:
        """Replace the answers, keeping the previous version; False when nothing changed."""
        sid = check_submission_id(submission_id)
        with self.storage.transaction() as db:
            row = db.execute(
                f"SELECT data, form_version, content_hash FROM {SUBMISSIONS}"
                " WHERE id = ? AND form_id = ?",
                [sid, form.id],
            ).fetchone()
            if row is None:
                raise ReviewError("no such submission")
            if json.loads(row[0]) == answers:
                return False
            db.execute(
                "INSERT INTO _versions (submission_id, at, actor, form_version, answers)"
                " VALUES (?, ?, ?, ?, ?)",
                [sid, _now(), actor, row[1], row[0]],
            )
            self.storage.replace(db, form, sid, answers, instance_name=instance_name)
            _log_change(self.storage, db, sid, form.id, "edit")
        return True

    def history(self, submission_id: str) -> list[Edit]:
        """Every edit, oldest first, as the answers it changed."""
        sid = check_submission_id(submission_id)
        versions = self.storage.query(
            "SELECT at, actor, answers FROM _versions WHERE submission_id = ? ORDER BY id", [sid]
        )
        current = self.storage.get(sid)
        if current is None:
            return []
        snapshots = [json.loads(v["answers"]) for v in versions] + [current.answers]
        return [
            Edit(v["at"], v["actor"], tuple(diff(snapshots[i], snapshots[i + 1])))
            for i, v in enumerate(versions)
        ]


def diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[Change]:
    """Answers that differ between two versions, repeat entries compared by position."""
    changes: list[Change] = []
    for name in list(dict.fromkeys([*old, *new])):
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if _entries(before) or _entries(after):
            olds, news = before or [], after or []
            for i in range(max(len(olds), len(news))):
                a = olds[i] if i < len(olds) else {}
                b = news[i] if i < len(news) else {}
                changes.extend(diff(a, b, f"{prefix}{name}.{i}."))
            continue
        changes.append(Change(prefix + name, name, before, after))
    return changes


def _entries(value: Any) -> bool:
    return isinstance(value, list) and any(isinstance(v, dict) for v in value)


def _log_change(storage: Storage, db: Any, sid: str, form_id: str, op: str) -> None:
    """Tell the research database's sync, when the storage keeps a change log."""
    log = getattr(storage, "log_change", None)
    if log is not None:
        log(db, sid, form_id, op)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
