"""Start and stop servers for benchmarks: the real app, and a bare baseline endpoint."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(argv: list[str], port: int, health: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{health}", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    stop(proc)
    raise RuntimeError(f"{argv[0]} did not start")


def collector_token(data_dir: Path) -> str:
    """A collector's API token, made with the users command."""
    exe = str(Path(sys.executable).parent / "forms-server")
    where = ["--data-dir", str(data_dir)]
    add = [exe, "users", "add", "bench", "--role", "collector", "--password", "a long password"]
    subprocess.run([*add, *where], check=True, capture_output=True)
    done = subprocess.run(
        [exe, "users", "token", "bench", *where], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def start_forms_server(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).parent / "forms-server"
    return _serve([str(exe)], data_dir, port)


def start_unstored(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    """The real server with storing skipped (``bench/_unstored_app.py``): an upper bound."""
    return _serve([sys.executable, str(Path(__file__).parent / "_unstored_app.py")], data_dir, port)


def _serve(command: list[str], data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    argv = [
        *command,
        "serve",
        "--forms-dir",
        str(ROOT / "form_definitions"),
        "--data-dir",
        str(data_dir),
        "--port",
        str(port),
    ]
    return start(argv, port, "/healthz")


def start_bare(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        sys.executable,
        str(Path(__file__).parent / "_bare_app.py"),
        str(data_dir / "bare.db"),
        str(port),
    ]
    return start(argv, port, "/healthz")


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
