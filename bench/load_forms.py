"""Benchmark: load and check every form, and evaluate a typical relevant expression.

Prints figures; never passes or fails on time.

    .venv/bin/python bench/load_forms.py
"""

from __future__ import annotations

import statistics
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from forms_server.expressions import Context, evaluate, parse
from forms_server.loader import load_paths

ROOT = Path(__file__).resolve().parent.parent
FORMS = ROOT / "form_definitions"


def _load_times(rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        result = load_paths([FORMS])
        times.append(time.perf_counter() - start)
        assert not result.errors
    return times


def main() -> None:
    result = load_paths([FORMS])
    questions = sum(1 for form in result.forms for _ in form.walk())
    times = _load_times(20)
    print(f"forms: {len(result.forms)}, questions (incl. groups/repeats): {questions}")
    print(
        f"load + check all forms: median {statistics.median(times) * 1000:.1f} ms, "
        f"min {min(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms (20 rounds)"
    )

    form = next(f for f in result.forms if f.id == "worker_intake")
    expr = parse("${consent} = 'yes' and ${age} >= 16")
    ctx = Context(
        answers={"consent": "yes", "age": 34},
        fields=form.fields,
        now=datetime(2026, 11, 29, 10, 0, tzinfo=timezone(timedelta(hours=8))),
    )
    n = 200_000
    start = time.perf_counter()
    for _ in range(n):
        evaluate(expr, ctx)
    elapsed = time.perf_counter() - start
    print(
        f"relevant {expr.source!r}: {n / elapsed:,.0f} evaluations/s "
        f"({elapsed / n * 1e6:.2f} µs each)"
    )
    parse_n = 20_000
    start = time.perf_counter()
    for _ in range(parse_n):
        parse("int((today() - ${birth_date}) div 365.25)")
    elapsed = time.perf_counter() - start
    print(f"parse a calculation: {parse_n / elapsed:,.0f} parses/s")


if __name__ == "__main__":
    main()
