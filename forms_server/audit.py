"""The audit log: who viewed, edited, reviewed, exported or downloaded what, and when.

Append-only: triggers refuse any UPDATE or DELETE, and the app has no route that
writes to it except by appending.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from forms_server.storage import Storage

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS _audit (id INTEGER PRIMARY KEY, at TEXT NOT NULL,"
    " actor TEXT, role TEXT, action TEXT NOT NULL, target TEXT, detail TEXT, address TEXT)",
    "CREATE INDEX IF NOT EXISTS _audit_at ON _audit (at)",
    "CREATE TRIGGER IF NOT EXISTS _audit_no_update BEFORE UPDATE ON _audit"
    " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS _audit_no_delete BEFORE DELETE ON _audit"
    " BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
]


class AuditLog:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        storage.apply(_SCHEMA)

    def record(
        self,
        action: str,
        *,
        actor: str | None,
        role: str | None = None,
        target: str | None = None,
        detail: dict[str, Any] | None = None,
        address: str | None = None,
    ) -> None:
        with self.storage.transaction() as db:
            db.execute(
                "INSERT INTO _audit (at, actor, role, action, target, detail, address)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    datetime.now(UTC).isoformat(timespec="milliseconds"),
                    actor,
                    role,
                    action,
                    target,
                    json.dumps(detail, ensure_ascii=False) if detail else None,
                    address,
                ],
            )

    def entries(
        self, *, limit: int = 100, offset: int = 0, action: str | None = None
    ) -> list[dict[str, Any]]:
        where, params = ("WHERE action = ?", [action]) if action else ("", [])
        return self.storage.query(
            f"SELECT * FROM _audit {where} ORDER BY id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
