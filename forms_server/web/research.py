"""Datasette on research.db, inside the app at ``/data``, for researchers, staff and admins.

The guard in front of Datasette: who is asking (session cookie or bearer token), and
whether they may (``research``). Anonymous people asking for a page are sent to sign
in; a JSON or CSV request gets 401; a signed-in user without the right gets 403.
Datasette itself sees the request without ``/data`` in its path (it adds its
``base_url`` to every link it makes, so pagination links stay right).

CSV responses start with a UTF-8 byte order mark, so Excel opens Chinese text
correctly; every JSON or CSV response is recorded in the audit log as an ``export``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from datasette.app import Datasette
from datasette.database import Database
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from forms_server.accounts import can
from forms_server.model import Form
from forms_server.research_files import identity
from forms_server.research_metadata import BASE_FILE, DATABASE, build_metadata, load_base
from forms_server.web.auth import address, current_user
from forms_server.web.errors import Problem

PREFIX = "/data"
BOM = "\ufeff".encode()
#: Datasette's settings for research.db; ``base_url`` is added by :func:`make_datasette`.
SETTINGS: Mapping[str, Any] = {
    # Suggestions cost ~800 ms a page on a million rows; researchers pick facets.
    "suggest_facets": False,
    "allow_download": False,
    # A page of 100 rows of some 70 columns is 750 KB of HTML and most of a page's time.
    "default_page_size": 20,
    # Researchers' own queries over a million rows need more than the default second.
    "sql_time_limit_ms": 5000,
    "facet_time_limit_ms": 1000,
}
_DATA_FORMATS = ("json", "csv")
MMAP_BYTES = 2**31


class ResearchDatabase(Database):  # type: ignore[misc]
    """research.db for Datasette, reopened whenever a rebuild switched the link.

    Datasette keeps one connection per thread; a rebuild replaces the file the link
    points to, so each query first checks that its connection still reads the current
    build. (Datasette 0.65 keys its per-thread connections by database name only.)
    """

    def __init__(self, ds: Datasette, path: Path) -> None:
        super().__init__(ds, path=str(path), is_mutable=True)
        self._local = threading.local()

    async def execute_fn(self, fn: Callable[[Any], Any]) -> Any:
        if self.ds.executor is None:
            return await super().execute_fn(fn)

        def in_thread() -> Any:
            ident = identity(Path(self.path))
            held = getattr(self._local, "held", None)
            if held is None or held[0] != ident:
                if held is not None:
                    held[1].close()
                conn = self.connect()
                self.ds._prepare_connection(conn, self.name)
                # Facets scan whole indexes: read them from the OS cache in place rather
                # than copy them through SQLite's small default page cache.
                conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
                held = (ident, conn)
                self._local.held = held
            return fn(held[1])

        return await asyncio.get_running_loop().run_in_executor(self.ds.executor, in_thread)


def make_datasette(path: Path, metadata: Mapping[str, Any], *, base_url: str = "/") -> Datasette:
    """Datasette serving ``path`` (read-only) as the database ``research``."""
    ds = Datasette(
        files=[str(path)],
        settings={**SETTINGS, "base_url": base_url},
        metadata=dict(metadata),
    )
    for name, db in list(ds.databases.items()):
        if db.path == str(path):
            ds.remove_database(name)
    ds.add_database(ResearchDatabase(ds, path), name=DATABASE)
    return ds


def metadata_for(forms: Iterable[Form], repo_dir: Path) -> dict[str, Any]:
    """The metadata for these forms, with the organisation's hand-written part."""
    return build_metadata(forms, load_base(repo_dir / BASE_FILE))


def mount(path: Path, forms: Iterable[Form], repo_dir: Path) -> ResearchGuard:
    """The ASGI app to mount at ``/data``."""
    ds = make_datasette(path, metadata_for(forms, repo_dir), base_url=PREFIX + "/")
    return ResearchGuard(ds.app())


class ResearchGuard:
    """Lets only signed-in users with the ``research`` right through to Datasette."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        data_format = _data_format(scope)
        user = current_user(request)
        if user is None or not can(user, "research"):
            code = 401 if user is None else 403
            message = "please sign in" if user is None else "your account may not see research data"
            if data_format is None:
                raise Problem(code, message)
            headers = {"WWW-Authenticate": "Bearer"} if user is None else None
            reply = JSONResponse({"error": message, "status": code}, code, headers=headers)
            await reply(scope, receive, send)
            return
        publisher = getattr(request.app.state, "publisher", None)
        if publisher is not None and not publisher.available:
            message = "research data is being rebuilt after a change of the forms: try again soon"
            if data_format is None:
                raise Problem(503, message)
            await JSONResponse({"error": message, "status": 503}, 503)(scope, receive, send)
            return
        inner = dict(scope)
        inner["path"] = _strip(scope["path"])
        if scope.get("raw_path"):
            inner["raw_path"] = _strip(scope["raw_path"].decode("latin-1")).encode("latin-1")
        inner["root_path"] = ""
        status: list[int] = []
        outgoing = _with_bom(send, data_format, status) if data_format == "csv" else send
        if data_format is None:
            await self.app(inner, receive, outgoing)
            return
        try:
            await self.app(inner, receive, _status_of(outgoing, status))
        finally:
            query = scope.get("query_string", b"").decode("latin-1")
            detail = {"format": data_format, "status": status[0] if status else None}
            if query:
                detail["query"] = query[:2000]
            await run_in_threadpool(
                request.app.state.audit.record,
                "export",
                actor=user.username,
                role=user.role,
                target=scope["path"],
                detail=detail,
                address=address(request),
            )


def _strip(path: str) -> str:
    if not path.startswith(PREFIX + "/"):
        return path
    return path[len(PREFIX) :]


def _data_format(scope: Scope) -> str | None:
    """``json`` or ``csv`` when the request asks Datasette for data, else None (a page)."""
    query = bytes(scope.get("query_string", b"")).decode("latin-1")
    asked: list[str] = parse_qs(query).get("_format", [])
    if asked and asked[0] in _DATA_FORMATS:
        return str(asked[0])
    last = str(scope["path"]).rstrip("/").rsplit("/", 1)[-1]
    for name in _DATA_FORMATS:
        if last.endswith("." + name):
            return name
    return None


def _status_of(send: Send, status: list[int]) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            status.append(int(message["status"]))
        await send(message)

    return wrapped


def _with_bom(send: Send, data_format: str | None, status: list[int]) -> Send:
    """Prepend a UTF-8 byte order mark to a CSV body (and count it in Content-Length)."""
    pending = {"bom": False}

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            content_type = next(
                (v.decode("latin-1") for k, v in headers if k.lower() == b"content-type"), ""
            )
            csv = content_type.startswith("text/csv") or (
                data_format == "csv" and content_type.startswith("text/plain")
            )
            if csv and int(message["status"]) == 200:
                pending["bom"] = True
                headers = [
                    (k, str(int(v) + len(BOM)).encode() if k.lower() == b"content-length" else v)
                    for k, v in headers
                ]
                message = {**message, "headers": headers}
        elif message["type"] == "http.response.body" and pending["bom"]:
            pending["bom"] = False
            message = {**message, "body": BOM + message.get("body", b"")}
        await send(message)

    return wrapped
