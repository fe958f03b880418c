"""Users, roles, passwords, API tokens, and who may do what.

Users live in the private database beside the submissions (tables ``_users`` and
``_tokens``; the leading ``_`` keeps them apart from form tables, whose names never
start with one). Passwords are hashed with Argon2; API tokens are random and only
their SHA-256 is stored. No web code here: the web layer asks :func:`can`.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from forms_server.storage import Storage

Role = Literal["admin", "staff", "collector", "researcher"]
ROLES: tuple[Role, ...] = ("admin", "staff", "collector", "researcher")
USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9_.-]{1,39}")
MIN_PASSWORD = 8
#: How long an API token's user is taken from memory before it is looked up again.
TOKEN_RECHECK_S = 2.0
_MAX_CACHED_TOKENS = 1000

#: What each role may do. Collectors see only their own recent submissions.
PERMISSIONS: dict[str, frozenset[Role]] = {
    "fill": frozenset({"admin", "staff", "collector"}),
    "review": frozenset({"admin", "staff"}),
    "edit": frozenset({"admin", "staff"}),
    "pdf": frozenset({"admin", "staff"}),
    "export": frozenset({"admin", "staff"}),
    "research": frozenset({"admin", "staff", "researcher"}),
    "audit": frozenset({"admin"}),
    "manage_users": frozenset({"admin"}),
}

#: Collectors see their own submissions received in the last this many days.
RECENT_DAYS = 30

_hasher = PasswordHasher()


@dataclass(frozen=True)
class User:
    username: str
    role: Role
    disabled: bool = False
    #: Changes when the password changes or the user is disabled: old sessions end.
    session_version: int = 1


class AccountError(ValueError):
    """A refused account operation, with a message for the person."""


def can(user: User | None, action: str) -> bool:
    """Whether ``user`` may do ``action`` (a key of :data:`PERMISSIONS`)."""
    return user is not None and not user.disabled and user.role in PERMISSIONS[action]


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def new_password() -> str:
    return secrets.token_urlsafe(12)


class Accounts:
    """The users of one private database."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        with storage.transaction() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS _users (username TEXT PRIMARY KEY, role TEXT NOT NULL,"
                " password_hash TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0,"
                " session_version INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL)"
            )
            db.execute(
                "CREATE TABLE IF NOT EXISTS _tokens (token_hash TEXT PRIMARY KEY,"
                " username TEXT NOT NULL REFERENCES _users(username), created_at TEXT NOT NULL)"
            )
        self._dummy_hash = _hasher.hash(secrets.token_hex(8))
        #: token hash -> (when it was looked up, its user or None); see by_token.
        self._tokens: dict[str, tuple[float, User | None]] = {}

    def add(self, username: str, role: str, password: str) -> User:
        username = username.strip().lower()
        if not USERNAME_RE.fullmatch(username):
            raise AccountError("a user name is 2–40 lowercase letters, digits, '.', '_' or '-'")
        checked = _role(role)
        hashed = hash_password(password)
        with self.storage.transaction() as db:
            if db.execute("SELECT 1 FROM _users WHERE username = ?", [username]).fetchone():
                raise AccountError(f"user {username!r} exists already")
            db.execute(
                "INSERT INTO _users (username, role, password_hash, created_at)"
                " VALUES (?, ?, ?, ?)",
                [username, checked, hashed, _now()],
            )
        return User(username, checked)

    def get(self, username: str) -> User | None:
        row = self._row(username)
        return _user(row) if row else None

    def all(self) -> list[User]:
        rows = self.storage.query("SELECT * FROM _users ORDER BY username")
        return [_user(row) for row in rows]

    def count(self) -> int:
        return int(self.storage.query("SELECT count(*) AS n FROM _users")[0]["n"])

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password is right and the account enabled; same cost either way."""
        row = self._row(username.strip().lower())
        if row is None:
            verify_password(self._dummy_hash, password)
            return None
        if not verify_password(str(row["password_hash"]), password) or row["disabled"]:
            return None
        return _user(row)

    def set_role(self, username: str, role: str) -> User:
        checked = _role(role)
        self._update(username, "UPDATE _users SET role = ? WHERE username = ?", [checked])
        return self._must(username)

    def set_password(self, username: str, password: str) -> User:
        hashed = hash_password(password)
        self._update(
            username,
            "UPDATE _users SET password_hash = ?, session_version = session_version + 1"
            " WHERE username = ?",
            [hashed],
        )
        return self._must(username)

    def disable(self, username: str) -> User:
        self._update(
            username,
            "UPDATE _users SET disabled = 1, session_version = session_version + 1"
            " WHERE username = ?",
            [],
        )
        with self.storage.transaction() as db:
            db.execute("DELETE FROM _tokens WHERE username = ?", [self._must(username).username])
        self._tokens.clear()
        return self._must(username)

    def new_token(self, username: str) -> str:
        """A new API token for ``username``; only its hash is kept."""
        user = self._must(username)
        token = "fs_" + secrets.token_urlsafe(32)
        with self.storage.transaction() as db:
            db.execute(
                "INSERT INTO _tokens VALUES (?, ?, ?)", [_token_hash(token), user.username, _now()]
            )
        self._tokens.clear()
        return token

    def by_token(self, token: str) -> User | None:
        """The enabled user of an API token, else None.

        Looked up at most every :data:`TOKEN_RECHECK_S` seconds per token: a client
        sends many submissions in a row. A change made through this object (another
        role, a password, disabling) counts at once; one made by another process (the
        ``users`` command beside a running server) within that many seconds.
        """
        key = _token_hash(token)
        now = time.monotonic()
        cached = self._tokens.get(key)
        if cached is not None and now - cached[0] < TOKEN_RECHECK_S:
            return cached[1]
        rows = self.storage.query(
            "SELECT u.* FROM _tokens t JOIN _users u ON u.username = t.username"
            " WHERE t.token_hash = ?",
            [key],
        )
        user = _user(rows[0]) if rows else None
        if user is not None and user.disabled:
            user = None
        if len(self._tokens) >= _MAX_CACHED_TOKENS:
            self._tokens.clear()
        self._tokens[key] = (now, user)
        return user

    def _row(self, username: str) -> dict[str, Any] | None:
        rows = self.storage.query("SELECT * FROM _users WHERE username = ?", [username])
        return rows[0] if rows else None

    def _must(self, username: str) -> User:
        user = self.get(username.strip().lower())
        if user is None:
            raise AccountError(f"no user {username!r}")
        return user

    def _update(self, username: str, sql: str, params: list[Any]) -> None:
        name = self._must(username).username
        with self.storage.transaction() as db:
            db.execute(sql, [*params, name])
        self._tokens.clear()


def ensure_admin(accounts: Accounts) -> str | None:
    """With no users at all, create ``admin`` and return its one-time password."""
    if accounts.count():
        return None
    password = new_password()
    accounts.add("admin", "admin", password)
    return password


def _role(role: str) -> Role:
    if role not in ROLES:
        raise AccountError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return role


def _user(row: dict[str, Any]) -> User:
    return User(
        str(row["username"]),
        _role(str(row["role"])),
        bool(row["disabled"]),
        int(row["session_version"]),
    )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
