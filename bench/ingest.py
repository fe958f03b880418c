"""Benchmark: valid worker_intake submissions per second over HTTP, against a bare baseline.

Starts the real server (``forms-server serve``, one uvicorn worker) and, in the same
run, a bare Starlette endpoint that inserts one row per POST; drives both with the
same client (asyncio, fixed concurrency) and prints throughput, p50/p99 latency and
the ratio. Prints figures; never passes or fails on time.

    .venv/bin/python bench/ingest.py [--requests 3000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
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
    stop,
)
from tests.samples import worker_intake_answers


async def _drive(
    url: str, requests: int, concurrency: int, token: str = ""
) -> tuple[float, list[float]]:
    answers = worker_intake_answers()
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(requests):
        queue.put_nowait(i)

    async def worker(client: httpx.AsyncClient) -> None:
        while True:
            try:
                queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            body = {
                "id": str(uuid.uuid4()),
                "completed_at": "2026-11-20T10:00:00+08:00",
                "answers": answers,
            }
            start = time.perf_counter()
            reply = await client.post(url, json=body)
            latencies.append(time.perf_counter() - start)
            if reply.status_code != 201:
                raise RuntimeError(f"{reply.status_code}: {reply.text[:200]}")

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(limits=limits, timeout=30, headers=headers) as client:
        await client.post(
            url,
            json={
                "id": str(uuid.uuid4()),
                "answers": answers,
                "completed_at": "2026-11-20T10:00:00+08:00",
            },
        )  # warm-up
        began = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return requests / elapsed, latencies


def _report(name: str, rate: float, latencies: list[float]) -> None:
    qs = statistics.quantiles(latencies, n=100)
    print(
        f"{name:<28} {rate:8.0f} req/s   p50 {qs[49] * 1000:6.1f} ms   "
        f"p99 {qs[98] * 1000:6.1f} ms   ({len(latencies)} requests)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for name, starter, path in [
            ("bare Starlette insert", start_bare, "/insert"),
            (
                "forms-server worker_intake",
                start_forms_server,
                "/api/forms/worker_intake/submissions",
            ),
        ]:
            port = free_port()
            data_dir = Path(tmp) / name.split()[0]
            token = collector_token(data_dir) if starter is start_forms_server else ""
            proc = starter(data_dir, port)
            try:
                rate, latencies = asyncio.run(
                    _drive(f"http://127.0.0.1:{port}{path}", args.requests, args.concurrency, token)
                )
            finally:
                stop(proc)
            results[name] = rate
            _report(name, rate, latencies)
        ratio = results["forms-server worker_intake"] / results["bare Starlette insert"]
        print(f"ratio forms-server / bare: {ratio:.2f} (goal: at least 0.5)")


if __name__ == "__main__":
    main()
