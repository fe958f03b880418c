"""Pseudonymous keys for research.db: submission ids never leave forms.db.

A submission id travels in URLs, PDFs and the audit log; research.db holds instead
HMAC-SHA256 of it under a random key made on first use and kept only in forms.db
(table ``_publish_key``): stable across edits and rebuilds, not reversible, and not
matchable to the organisation's records without that key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime

from forms_server.storage import Storage

_KEY_TABLE = "_publish_key"


class Pseudonyms:
    """Submission ids to research keys: HMAC-SHA256 under a secret key, 24 hex digits."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self.key_id = hashlib.sha256(b"forms-server research key id\0" + key).hexdigest()[:16]

    def of(self, submission_id: str | None) -> str | None:
        if submission_id is None:
            return None
        return hmac.digest(self._key, submission_id.encode(), "sha256").hex()[:24]

    def of_ref(self, ref: str | None) -> str | None:
        """A repeat entry id ``<submission id>/<repeat>/<positions>`` with its id replaced."""
        if ref is None:
            return None
        sid, slash, rest = ref.partition("/")
        return f"{self.of(sid)}{slash}{rest}"


def pseudonym_key(storage: Storage) -> bytes:
    """The secret key of the pseudonyms, made on first use; it never leaves forms.db."""
    with storage.transaction() as db:
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {_KEY_TABLE} (id INTEGER PRIMARY KEY CHECK (id = 1),"
            " key TEXT NOT NULL, created_at TEXT NOT NULL)"
        )
        db.execute(
            f"INSERT OR IGNORE INTO {_KEY_TABLE} VALUES (1, ?, ?)",
            [secrets.token_hex(32), datetime.now(UTC).isoformat(timespec="seconds")],
        )
        row = db.execute(f"SELECT key FROM {_KEY_TABLE} WHERE id = 1").fetchone()
    return bytes.fromhex(str(row[0]))
