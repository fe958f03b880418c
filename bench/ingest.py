"""Benchmark: valid worker_intake submissions per second over HTTP, against a bare baseline.

Starts the real server (``forms-server serve``, one uvicorn worker) and, in the same
run, a bare Starlette endpoint that inserts one row per POST; drives both with the
same load and prints throughput, p50/p99 latency, the server's CPU time per request,
how busy the whole machine was, and the ratio. A third run serves the same app with
storing skipped (``bench/_unstored_app.py``): what the server could reach if storing
cost nothing, an upper bound on the ratio. The load comes from ``wrk`` (Debian
package ``wrk``) when installed, else from a Python asyncio client (which then limits
every rate). Prints figures; never passes or fails on time.

    .venv/bin/python bench/ingest.py [--seconds 10] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._server import (
    collector_token,
    free_port,
    start_bare,
    start_forms_server,
    start_unstored,
    stop,
)
from tests.samples import worker_intake_answers

COMPLETED = "2026-11-20T10:00:00+08:00"


def _with_wrk(url: str, seconds: int, concurrency: int, token: str) -> tuple[float, float, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as body:
        json.dump(worker_intake_answers(), body, ensure_ascii=False)
    env = {**os.environ, "INGEST_BODY_FILE": body.name, "INGEST_TOKEN": token}
    script = str(Path(__file__).with_name("ingest.lua"))
    argv = ["wrk", "-t2", f"-c{concurrency}", f"-d{seconds}s", "-s", script, url]
    out = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
    os.unlink(body.name)
    found = re.search(r"RESULT (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+)", out)
    if not found:
        raise RuntimeError(out)
    requests, bad_status, socket_errors = (int(found[i]) for i in (1, 2, 3))
    if bad_status or socket_errors:
        raise RuntimeError(f"{bad_status} bad statuses, {socket_errors} socket errors:\n{out}")
    return requests / float(found[6]), float(found[4]), float(found[5])


async def _with_python(
    url: str, seconds: int, concurrency: int, token: str
) -> tuple[float, float, float]:
    answers = worker_intake_answers()
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < deadline:
            body = {"id": str(uuid.uuid4()), "completed_at": COMPLETED, "answers": answers}
            start = time.perf_counter()
            reply = await client.post(url, json=body)
            latencies.append(time.perf_counter() - start)
            if reply.status_code != 201:
                raise RuntimeError(f"{reply.status_code}: {reply.text[:200]}")

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30, headers=headers) as client:
        began = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    qs = statistics.quantiles(latencies, n=100)
    return len(latencies) / elapsed, qs[49] * 1000, qs[98] * 1000


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) the process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of every core so far (Linux /proc/stat)."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    idle = ticks[3] + ticks[4]  # idle and waiting for I/O
    return sum(ticks) - idle, sum(ticks)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    use_wrk = shutil.which("wrk") is not None
    print(
        f"load from {'wrk' if use_wrk else 'a Python asyncio client (install wrk)'}, "
        f"{args.concurrency} connections, {args.seconds} s each"
    )
    results = {}
    bare, real, bound = (
        "bare Starlette insert",
        "forms-server worker_intake",
        "  the same, storing skipped",
    )
    with tempfile.TemporaryDirectory() as tmp:
        submissions = "/api/forms/worker_intake/submissions"
        targets = [
            (bare, start_bare, "/insert"),
            (real, start_forms_server, submissions),
            (bound, start_unstored, submissions),
        ]
        for number, (name, starter, path) in enumerate(targets):
            port = free_port()
            data_dir = Path(tmp) / str(number)
            token = collector_token(data_dir) if path == submissions else ""
            proc = starter(data_dir, port)
            url = f"http://127.0.0.1:{port}{path}"
            try:
                cpu_before, ticks_before = _cpu_seconds(proc.pid), _machine_ticks()
                if use_wrk:
                    rate, p50, p99 = _with_wrk(url, args.seconds, args.concurrency, token)
                else:
                    rate, p50, p99 = asyncio.run(
                        _with_python(url, args.seconds, args.concurrency, token)
                    )
                cpu = (_cpu_seconds(proc.pid) - cpu_before) / (rate * args.seconds) * 1000
                busy, total = (b - a for a, b in zip(ticks_before, _machine_ticks(), strict=True))
            finally:
                stop(proc)
            results[name] = rate
            print(
                f"{name:<28} {rate:8.0f} req/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms"
                f"   server CPU {cpu:.3f} ms/request   machine {100 * busy / total:3.0f}% busy"
            )
    print(f"ratio forms-server / bare: {results[real] / results[bare]:.2f} (goal: at least 0.5)")
    print(f"ratio with storing skipped (upper bound): {results[bound] / results[bare]:.2f}")


if __name__ == "__main__":
    main()
