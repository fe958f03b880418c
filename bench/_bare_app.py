"""The baseline: a bare Starlette endpoint that inserts one row per POST (WAL, NORMAL)."""

from __future__ import annotations

import json
import sqlite3
import sys
import threading

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

path, port = sys.argv[1], int(sys.argv[2])
local = threading.local()


def _db() -> sqlite3.Connection:
    conn = getattr(local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE IF NOT EXISTS rows (id TEXT PRIMARY KEY, data TEXT)")
        local.conn = conn
    return conn


async def insert(request: Request) -> Response:
    body = await request.json()
    db = _db()
    db.execute("INSERT INTO rows VALUES (?, ?)", (body["id"], json.dumps(body["answers"])))
    return JSONResponse({"id": body["id"], "status": "created"}, status_code=201)


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True})


app = Starlette(routes=[Route("/insert", insert, methods=["POST"]), Route("/healthz", health)])
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
