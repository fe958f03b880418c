"""Benchmark: the research database at scale — rebuild, lag under load, Datasette's speed.

1. Generates ``--rows`` worker_intake submissions (default 1,000,000) straight into a
   fresh forms.db with bulk SQL inserts (``executemany``, 20,000 rows a transaction):
   the ``submissions`` row (answers as JSON), the typed row, 0–3 children each, and the
   change log. Answers are drawn from 5,000 random answer sets shaped like real ones
   (weighted choices, wages around 6,000 元, arrears and injuries only when the worker
   reported them, fake names and phone numbers in the sensitive columns); each row gets
   its own id, completion time (spread over two years), intake date, review status and
   collector. Seeded, so every run makes the same data.
2. Times ``Publisher.rebuild()`` of research.db from it.
3. Runs the sync thread as the app does while a writer stores ``--rate`` submissions a
   second through ``Storage.save`` for ``--seconds``, and a reader polls research.db
   (as Datasette would) for each one: prints the lag from commit to visibility.
4. Times, through Datasette's own ASGI app, the form's table page with two facets, an
   array facet, and two canned queries: the median of ``--runs`` runs after a warm-up.

Prints figures; never passes or fails on time.

    .venv/bin/python bench/publish.py [--rows 1000000] [--rate 100] [--seconds 20]
                                      [--runs 7] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from forms_server.loader import load_forms
from forms_server.model import Form
from forms_server.publish import Publisher
from forms_server.schema import plan_tables
from forms_server.storage import Storage
from forms_server.web.research import make_datasette, metadata_for
from tests.samples import worker_intake_answers

ROOT = Path(__file__).resolve().parent.parent
FORM = "worker_intake"
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "建国伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"
JOBS = ["钢筋工", "木工", "电焊工", "普工", "保洁", "外卖骑手", "快递分拣", "厨师", "保姆", "瓦工"]
START = datetime(2024, 11, 20, tzinfo=UTC)
#: Distinct answer sets the generated submissions are drawn from.
POOL = 5000


class _Maker:
    """Answers of one worker_intake submission, as the typed row and the JSON hold them."""

    def __init__(self, form: Form, seed: int) -> None:
        self.form = form
        self.random = random.Random(seed)
        plans = plan_tables(form)
        self.columns = list(plans[None].columns)
        self.child_columns = list(plans["children"].columns)

    def choice(self, name: str) -> str:
        values = [c.value for c in self.form.by_name[name].choices]
        weights = [1 / (i + 1) for i in range(len(values))]
        return self.random.choices(values, weights)[0]

    def several(self, name: str, most: int = 3) -> list[str]:
        values = [c.value for c in self.form.by_name[name].choices]
        return sorted(self.random.sample(values, self.random.randint(1, min(most, len(values)))))

    def answers(self, when: datetime) -> dict[str, Any]:
        r = self.random
        birth = date(1960, 1, 1) + timedelta(days=r.randint(0, 16000))
        intake = when.date()
        problems = self.several("work_problems")
        a: dict[str, Any] = {
            "intake_id": f"WI-{intake:%Y%m%d}-{r.getrandbits(24):06x}",
            "intake_date": intake.isoformat(),
            "intake_place": self.choice("intake_place"),
            "consent": "yes",
            "full_name": r.choice(SURNAMES) + r.choice(GIVEN) + r.choice(GIVEN),
            "phone": f"1{r.randint(3, 9)}{r.randint(0, 999_999_999):09d}",
            "id_number": f"41{r.randint(0, 9999):04d}{birth:%Y%m%d}{r.randint(0, 9999):04d}",
            "gender": self.choice("gender"),
            "birth_date": birth.isoformat(),
            "age": str((intake - birth).days * 100 // 36525),
            "hometown_province": self.choice("hometown_province"),
            "hometown_city": self.choice("hometown_city"),
            "residence_permit": self.choice("residence_permit"),
            "years_in_beijing": r.randint(0, 25),
            "housing": self.choice("housing"),
            "children_with_me": r.choice(["yes", "no", "no"]),
            "left_behind_children": r.randint(0, 3),
            "sector": self.choice("sector"),
            "job_title": r.choice(JOBS),
            "employer_name": f"北京{r.choice(SURNAMES)}{r.choice(GIVEN)}建筑劳务有限公司",
            "labour_contractor": r.choice(SURNAMES) + "老板",
            "job_start_month": f"{intake.year - r.randint(0, 3)}-{r.randint(1, 12):02d}-01",
            "contract_status": self.choice("contract_status"),
            "social_insurance": self.several("social_insurance", 2),
            "monthly_wage": round(max(800.0, r.gauss(6000, 1500)), -2),
            "wage_payment": self.choice("wage_payment"),
            "work_problems": problems,
            "needs": self.several("needs"),
            "referrals": self.several("referrals", 2),
            "followup_consent": r.choice(["yes", "yes", "no"]),
            "contact_method": self.choice("contact_method"),
            "contact_time": self.several("contact_time", 2),
            "collector_notes": "工友说老板已经三个月没发工资了",
        }
        a["insured_count"] = str(len(a["social_insurance"]))
        if "wage_arrears" in problems:
            a["unpaid_amount"] = float(r.randint(10, 600) * 100)
            a["months_unpaid"] = r.randint(1, 12)
            a["arrears_per_month"] = str(round(a["unpaid_amount"] / a["months_unpaid"]))
            a["arrears_by"] = self.choice("arrears_by")
            a["has_iou"] = r.choice(["yes", "no"])
            a["arrears_actions"] = self.several("arrears_actions", 2)
        if "work_injury" in problems:
            injured = intake - timedelta(days=r.randint(1, 700))
            a["injury_date"] = injured.isoformat()
            a["injury_month"] = f"{injured:%Y年%m月}"
            a["injury_body_parts"] = self.several("injury_body_parts", 2)
            a["injury_treatment"] = self.choice("injury_treatment")
            a["injury_recognition"] = self.choice("injury_recognition")
            a["days_since_injury"] = str((intake - injured).days)
        if a["children_with_me"] == "yes":
            a["children"] = [
                {"child_age": (age := r.randint(0, 17)), "in_school": r.choice(["yes", "no"])}
                | {"child_out_of_school": "1" if 6 <= age <= 15 and r.random() < 0.1 else "0"}
                for _ in range(r.randint(1, 3))
            ]
            a["child_count"] = str(len(a["children"]))
        return a


def generate(storage: Storage, form: Form, rows: int) -> float:
    """Bulk-insert ``rows`` submissions; seconds taken.

    Answers come from a pool of :data:`POOL` generated answer sets (making each one costs
    more than storing it); every row gets its own id, completion time, intake date,
    review status and collector.
    """
    started = time.perf_counter()
    maker = _Maker(form, seed=20261129)
    conn = sqlite3.connect(storage.path, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    columns = maker.columns
    date_at = columns.index("intake_date")
    form_sql = (
        f"INSERT INTO {FORM} (_id, _version, _submitted_by, _completed_at, _received_at, "
        f"_review_status, {', '.join(columns)}) VALUES ({', '.join('?' * (len(columns) + 6))})"
    )
    child_sql = (
        f"INSERT INTO {FORM}__children (_id, _submission_id, _parent_id, _position, "
        f"{', '.join(maker.child_columns)}) VALUES (?, ?, NULL, ?, ?, ?, ?)"
    )
    sub_sql = (
        "INSERT INTO submissions (id, form_id, form_version, submitted_by, started_at, "
        "completed_at, received_at, review_status, content_hash, data, instance_name, deleted)"
        " VALUES (?, ?, '1', ?, NULL, ?, ?, ?, ?, ?, ?, 0)"
    )
    change_sql = "INSERT INTO _changes (submission_id, form_id, op, at) VALUES (?, ?, 'create', ?)"
    span = 2 * 365 * 24 * 3600
    rng = random.Random(7)
    pool = []
    for _ in range(min(POOL, rows)):
        answers = maker.answers(START + timedelta(seconds=rng.randint(0, span)))
        typed = [
            json.dumps(v, ensure_ascii=False) if isinstance(v, list) else v
            for v in (answers.get(c) for c in columns)
        ]
        kids = [
            (c["child_age"], c["in_school"], c["child_out_of_school"])
            for c in answers.get("children", [])
        ]
        data = json.dumps(answers, ensure_ascii=False, separators=(",", ":"))
        pool.append((typed, kids, data, answers["full_name"]))
    statuses = ["received", "received", "approved", "has_issues"]
    batch = 20_000
    for first in range(0, rows, batch):
        subs, typed_rows, children, changes = [], [], [], []
        for _ in range(min(batch, rows - first)):
            sid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            when = START + timedelta(seconds=rng.randint(0, span))
            at = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            typed, kids, data, name = pool[rng.randrange(len(pool))]
            values = list(typed)
            values[date_at] = at[:10]
            status = statuses[rng.randrange(4)]
            collector = f"collector{rng.randint(1, 40)}"
            subs.append((sid, FORM, collector, at, at, status, sid[:16], data, name))
            typed_rows.append((sid, "1", collector, at, at, status, *values))
            for position, kid in enumerate(kids, start=1):
                children.append((f"{sid}/children/{position}", sid, position, *kid))
            changes.append((sid, FORM, at))
        conn.execute("BEGIN")
        conn.executemany(sub_sql, subs)
        conn.executemany(form_sql, typed_rows)
        conn.executemany(child_sql, children)
        conn.executemany(change_sql, changes)
        conn.execute("COMMIT")
        done = first + len(subs)
        if done % 200_000 == 0 or done == rows:
            print(f"  {done:>9,} generated ({time.perf_counter() - started:.0f} s)", flush=True)
    conn.close()
    return time.perf_counter() - started


def lag_under_load(
    storage: Storage, publisher: Publisher, form: Form, rate: float, seconds: float
) -> list[float]:
    """Per-submission seconds from commit to visibility in research.db."""
    saved: dict[str, float] = {}
    seen: dict[str, float] = {}
    lock = threading.Lock()
    done = threading.Event()

    def write() -> None:
        start = time.perf_counter()
        n = 0
        while (now := time.perf_counter()) - start < seconds:
            due = start + n / rate
            if now < due:
                time.sleep(due - now)
            sid = str(uuid.uuid4())
            storage.save(form, sid, worker_intake_answers(), completed_at=datetime.now(UTC))
            with lock:
                saved[publisher.pseudonyms.of(sid) or ""] = time.perf_counter()
            n += 1
        done.set()

    def read() -> None:
        conn = sqlite3.connect(f"file:{publisher.path}?mode=ro", uri=True)
        while True:
            with lock:
                waiting = [k for k in saved if k not in seen]
            if not waiting and done.is_set():
                break
            for chunk in range(0, len(waiting), 500):
                keys = waiting[chunk : chunk + 500]
                marks = ", ".join("?" * len(keys))
                found = conn.execute(f"SELECT _id FROM {FORM} WHERE _id IN ({marks})", keys)
                now = time.perf_counter()
                for (key,) in found:
                    seen[key] = now
            time.sleep(0.01)
        conn.close()

    publisher.start()
    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    publisher.stop()
    return [seen[k] - saved[k] for k in saved]


async def datasette_times(path: Path, forms: dict[str, Form], runs: int) -> dict[str, str]:
    """Median milliseconds of each request, through Datasette's ASGI app."""
    ds = make_datasette(path, metadata_for(forms.values(), ROOT))
    transport = httpx.ASGITransport(app=ds.app())
    requests = {
        "table page, facets sector + intake_place": (
            f"/research/{FORM}?_facet=sector&_facet=intake_place"
        ),
        "table .json, facets sector + intake_place": (
            f"/research/{FORM}.json?_facet=sector&_facet=intake_place"
        ),
        "table page, array facet needs": f"/research/{FORM}?_facet_array=needs",
        "canned query: submissions per week": f"/research/{FORM}_per_week",
        "canned query: counts per sector": f"/research/{FORM}_sector_counts",
        "canned query: counts per need (json_each)": f"/research/{FORM}_needs_counts",
    }
    times: dict[str, str] = {}
    client = httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=60)
    async with client:
        for label, url in requests.items():
            await client.get(url)
            samples, notes = [], set()
            for _ in range(runs):
                started = time.perf_counter()
                reply = await client.get(url)
                samples.append((time.perf_counter() - started) * 1000)
                if reply.status_code != 200:
                    notes.add(f"HTTP {reply.status_code}")
                elif "timed out" in reply.text.lower():
                    notes.add("a facet timed out")
            times[label] = f"{statistics.median(samples):8.1f} ms" + (
                f"  ({', '.join(sorted(notes))})" if notes else ""
            )
    return times


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=100.0, help="submissions a second")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the load")
    parser.add_argument("--runs", type=int, default=7, help="runs of each Datasette request")
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="keep the generated forms.db here (and reuse it when it exists) instead of a temp dir",
    )
    args = parser.parse_args()
    forms = load_forms(ROOT / "form_definitions")
    form = forms[FORM]
    with tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        data_dir = args.data_dir or Path(tmp)
        reuse = (data_dir / "forms.db").exists()
        with Storage(data_dir / "forms.db") as storage:
            for f in forms.values():
                storage.ensure_schema(f)
            if reuse:
                print(f"reusing {storage.count(FORM):,} {FORM} submissions in {data_dir}")
            else:
                print(f"generating {args.rows:,} {FORM} submissions in {data_dir}")
                seconds = generate(storage, form, args.rows)
                size = (data_dir / "forms.db").stat().st_size / 1e6
                print(f"generated in {seconds:.1f} s; forms.db {size:,.0f} MB")

            publisher = Publisher(storage, forms, data_dir, ZoneInfo("Asia/Shanghai"))
            report = publisher.rebuild()
            rsize = report.path.stat().st_size / 1e6
            print(
                f"\nrebuild of research.db: {report.seconds:.1f} s "
                f"({report.rows[FORM]:,} rows, {report.rows[FORM + '__children']:,} children, "
                f"{rsize:,.0f} MB)"
            )

            print(f"\nlag under load: {args.rate:g} submissions/s for {args.seconds:g} s")
            lags = lag_under_load(storage, publisher, form, args.rate, args.seconds)
            print(
                f"  {len(lags)} submissions: p50 {_percentile(lags, 50) * 1000:.0f} ms, "
                f"p99 {_percentile(lags, 99) * 1000:.0f} ms, max {max(lags) * 1000:.0f} ms"
            )

            print(f"\nDatasette (ASGI, median of {args.runs} runs after a warm-up)")
            times = asyncio.run(datasette_times(publisher.path, forms, args.runs))
            for label, figure in times.items():
                print(f"  {label:<48} {figure}")


if __name__ == "__main__":
    main()
