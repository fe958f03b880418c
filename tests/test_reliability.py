"""Nothing lost, nothing twice: submissions sent while the server is killed and restarted."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from .conftest import FORMS_DIR
from .samples import new_id, worker_intake_answers

N_SUBMISSIONS = 400
KILLS = 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(root: Path, port: int) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).parent / "forms-server"
    return subprocess.Popen(
        [
            str(exe),
            "serve",
            "--forms-dir",
            str(root / "forms"),
            "--data-dir",
            str(root / "data"),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _collector_token(root: Path) -> str:
    """A collector's API token, made with the users command as an administrator would."""
    exe = str(Path(sys.executable).parent / "forms-server")
    data = ["--data-dir", str(root / "data")]
    add = [exe, "users", "add", "field1", "--role", "collector", "--password", "a long password"]
    subprocess.run([*add, *data], check=True, capture_output=True)
    done = subprocess.run(
        [exe, "users", "token", "field1", *data], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def _wait_up(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise AssertionError("server did not start")


@pytest.mark.slow
def test_sigkill_and_restart_lose_nothing_and_store_nothing_twice(tmp_path: Path) -> None:
    shutil.copytree(FORMS_DIR, tmp_path / "forms")
    port = _free_port()
    token = _collector_token(tmp_path)
    server = _start(tmp_path, port)
    _wait_up(port)
    ids = [new_id() for _ in range(N_SUBMISSIONS)]
    acknowledged: list[str] = []
    statuses: list[int] = []
    failures: list[str] = []
    stop = threading.Event()

    def client() -> None:
        url = f"http://127.0.0.1:{port}/api/forms/worker_intake/submissions"
        with httpx.Client(timeout=5, headers={"Authorization": f"Bearer {token}"}) as http:
            for sid in ids:
                body = {
                    "id": sid,
                    "completed_at": "2026-11-20T10:00:00+08:00",
                    "answers": worker_intake_answers(),
                }
                while not stop.is_set():
                    try:
                        reply = http.post(url, json=body)
                    except httpx.HTTPError as exc:
                        failures.append(type(exc).__name__)
                        time.sleep(0.02)
                        continue
                    statuses.append(reply.status_code)
                    if reply.status_code in (200, 201):
                        acknowledged.append(sid)
                        break
                    time.sleep(0.02)

    sender = threading.Thread(target=client)
    sender.start()
    try:
        for _ in range(KILLS):
            time.sleep(0.25)
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
            server = _start(tmp_path, port)
            _wait_up(port)
        sender.join(timeout=120)
    finally:
        stop.set()
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    assert not sender.is_alive()
    # The kills really hit the client mid-flight: some requests failed and were retried.
    assert failures
    assert acknowledged == ids
    assert set(statuses) <= {200, 201}, statuses
    db = sqlite3.connect(tmp_path / "data" / "forms.db")
    stored = [row[0] for row in db.execute("SELECT id FROM submissions")]
    assert sorted(stored) == sorted(ids)
    assert db.execute("SELECT count(*) FROM worker_intake").fetchone()[0] == N_SUBMISSIONS
    assert db.execute("SELECT count(*) FROM worker_intake__children").fetchone()[0] == (
        2 * N_SUBMISSIONS
    )
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
