"""Benchmark: the staff's submissions list over a form with 100,000 submissions.

Fills a fresh database with ``worker_intake`` submissions: the first ones through
``Storage.save`` (to measure what saving one by one costs), the rest copied in bulk by
SQL into the ``submissions`` table (the list reads nothing else), with received times
spread over two years, four review states and twenty collectors. Then times pages of
``GET /staff/forms/worker_intake`` through the app in process (median of several
requests). Prints figures; never passes or fails. The goal is under 100 ms a page.

    .venv/bin/python bench/staff_list.py [--rows 100000]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from forms_server.settings import Settings
from forms_server.storage import Storage
from forms_server.web.app import create_app
from tests.samples import worker_intake_answers

ROOT = Path(__file__).resolve().parent.parent
FORM_ID = "worker_intake"
ONE_BY_ONE = 1000
REPEATS = 15
STATES = ["received"] * 14 + ["has_issues"] * 2 + ["approved"] * 3 + ["rejected"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, help="fill this data directory and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.keep or Path(tmp)
        app = create_app(Settings(forms_dir=ROOT / "form_definitions", data_dir=data_dir))
        storage: Storage = app.state.intake.storage
        form = app.state.forms[FORM_ID]
        rng = random.Random(7)

        start = time.perf_counter()
        for i in range(ONE_BY_ONE):
            storage.save(
                form,
                str(uuid.uuid4()),
                _answers(rng, i),
                submitted_by=_who(i),
                completed_at=datetime.now(UTC),
            )
        per_save = (time.perf_counter() - start) / ONE_BY_ONE
        print(
            f"Storage.save one by one: {per_save * 1000:.2f} ms each "
            f"({1 / per_save:.0f}/s; {args.rows * per_save:.0f} s for {args.rows:,})"
        )

        start = time.perf_counter()
        _bulk(storage, args.rows - ONE_BY_ONE, rng)
        elapsed = time.perf_counter() - start
        print(f"bulk SQL insert of {args.rows - ONE_BY_ONE:,} rows: {elapsed:.1f} s")

        app.state.accounts.add("bench-staff", "staff", "bench-password")
        token = app.state.accounts.new_token("bench-staff")
        with TestClient(app) as client:
            client.headers["Authorization"] = f"Bearer {token}"
            base = f"/staff/forms/{FORM_ID}?lang=zh-Hans"
            now = datetime.now(UTC)
            month_ago = (now - timedelta(days=30)).date().isoformat()
            half_year = (now - timedelta(days=180)).date().isoformat()
            year_ago = (now - timedelta(days=365)).date().isoformat()
            second = _second_page(client, base)
            cases = [
                ("first page", base),
                ("second page (keyset)", second),
                ("has issues, last 30 days", f"{base}&status=has_issues&from={month_ago}"),
                (
                    "rejected, received 6–12 months ago",
                    f"{base}&status=rejected&from={year_ago}&to={half_year}",
                ),
                (
                    "completed 6–12 months ago",
                    f"{base}&date=completed&from={year_ago}&to={half_year}",
                ),
                ("one collector", f"{base}&collector=collector07"),
                ("search a surname (many hits)", f"{base}&q={quote('王')}"),
                ("search a rare word (few hits)", f"{base}&q={quote('WI-rare-needle')}"),
                ("staff home (counts per state)", "/staff?lang=zh-Hans"),
            ]
            print(f"\nGET through the app in process, median of {REPEATS} ({args.rows:,} rows):")
            for label, url in cases:
                print(f"  {label:<36} {_median_ms(client, url):7.1f} ms")


def _answers(rng: random.Random, i: int) -> dict[str, object]:
    name = rng.choice(SURNAMES) + rng.choice("建国秀英志强丽华明军")
    return worker_intake_answers(full_name=name, monthly_wage=rng.randrange(3000, 12000))


def _who(i: int) -> str:
    return f"collector{i % 20:02d}"


def _bulk(storage: Storage, count: int, rng: random.Random) -> None:
    """Rows copied from a stored one, with their own id, name, time, state and collector."""
    template = storage.query("SELECT * FROM submissions WHERE form_id = ? LIMIT 1", [FORM_ID])[0]
    answers = json.loads(template["data"])
    now = datetime.now(UTC)
    rows = []
    for i in range(count):
        received = now - timedelta(seconds=rng.randrange(0, 2 * 365 * 24 * 3600))
        answers["full_name"] = rng.choice(SURNAMES) + rng.choice("建国秀英志强丽华明军")
        answers["intake_ref"] = "WI-rare-needle" if i % 20_000 == 0 else f"WI-{i}"
        stamp = received.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        rows.append(
            (
                str(uuid.uuid4()),
                FORM_ID,
                "1",
                _who(i),
                stamp,
                stamp,
                stamp,
                rng.choice(STATES),
                template["content_hash"],
                json.dumps(answers, ensure_ascii=False, separators=(",", ":")),
                f"{answers['full_name'][0]}** · 建筑工地 · {stamp[:10]}",
            )
        )
    with storage.transaction() as db:
        db.conn.executemany(
            "INSERT INTO submissions (id, form_id, form_version, submitted_by, started_at,"
            " completed_at, received_at, review_status, content_hash, data, instance_name)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def _second_page(client: TestClient, base: str) -> str:
    page = client.get(base).text
    marker = 'rel="next"'
    link = page[: page.index(marker)].rsplit('href="', 1)[1].split('"', 1)[0]
    return link.replace("&amp;", "&")


def _median_ms(client: TestClient, url: str) -> float:
    """The median time of a GET, after one to warm the caches."""
    client.get(url)
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.text[:200]
    return statistics.median(times) * 1000


if __name__ == "__main__":
    main()
