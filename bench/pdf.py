"""Benchmark: PDFs of one submission, of a form's summary, and of 1,000 submissions merged.

Prints, from one run:

1. the median time of one worker_intake submission's PDF (the whole service call: read,
   lay out, write) and, in the same run, WeasyPrint's time for a minimal one-page HTML
   with the same font and stylesheet, and their ratio; the same pair with the full Noto
   Sans CJK SC font instead of the cut one;
2. the time of a worker_intake summary report over 10,000 submissions (stored straight
   through ``Storage.save`` from a pool of validated, varied answers);
3. the time and peak memory (RSS, sampled from /proc) of one merged PDF of 1,000
   submissions, made in a fresh process: the batch process itself, its largest worker
   process, and all of them together.

Prints figures; never passes or fails on time.

    .venv/bin/python bench/pdf.py [--submissions 10000] [--batch 1000] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import date, datetime, timedelta
from html import escape as html_escape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pypdf import PdfReader

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from forms_server.pdf import Renderer, page_style
from forms_server.pdf_batch import write_batch
from forms_server.pdf_filters import Filters
from forms_server.pdf_service import PdfService, open_service
from forms_server.settings import Settings
from forms_server.validation import validate
from tests.samples import worker_intake_answers

ROOT = Path(__file__).resolve().parent.parent
ZONE = ZoneInfo("Asia/Shanghai")
MINIMAL = "<html><body><p>你好，工友。Hello.</p></body></html>"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(forms_dir=ROOT / "form_definitions", data_dir=Path(tmp))
        service = open_service(settings)
        form = service.forms["worker_intake"]

        print("== one submission")
        pool = _answer_pool(service, 200)
        sid = _store(service, pool[0], date(2026, 11, 20))
        _one_submission(service, sid, args.repeat)
        full = PdfService(
            storage=service.storage,
            reviews=service.reviews,
            forms=service.forms,
            settings=settings,
            renderer=Renderer(
                settings.data_dir, organisation=settings.organisation_name, cut_font=False
            ),
        )
        print("   with the full Noto Sans CJK SC font (not cut):")
        _one_submission(full, sid, args.repeat)

        print(f"== summary of {args.submissions:,} submissions")
        start = time.perf_counter()
        rng = random.Random(7)
        day0 = date(2026, 1, 1)
        ids = [sid]
        for _ in range(args.submissions - 1):
            ids.append(_store(service, rng.choice(pool), day0 + timedelta(days=rng.randrange(320))))
        print(f"   stored in {time.perf_counter() - start:.1f} s")
        times = []
        for _ in range(3):
            start = time.perf_counter()
            made = service.summary(form, Filters(), lang="zh-Hans")
            times.append(time.perf_counter() - start)
        print(
            f"   summary PDF: median {statistics.median(times):.2f} s of 3"
            f" ({made.pages} pages, {len(made.content) / 1024:.0f} kB)"
        )
        start = time.perf_counter()
        filtered = service.summary(
            form,
            Filters.parse(form, start="2026-03-01", end="2026-08-31", answer="sector:construction"),
            lang="both",
        )
        print(
            f"   filtered (6 months, one sector), both languages:"
            f" {time.perf_counter() - start:.2f} s ({filtered.pages} pages)"
        )
        service.storage.close()

        batch = ids[: args.batch]
        context = multiprocessing.get_context("spawn")
        for workers in args.workers:
            print(f"== merged PDF of {len(batch):,} submissions, {workers} worker process(es)")
            queue = context.Queue()
            child = context.Process(
                target=_batch_child, args=(settings, batch, Path(tmp) / "batch.pdf", workers, queue)
            )
            child.start()
            result: dict[str, Any] = queue.get()
            child.join()
            print(
                f"   {result['seconds']:.1f} s, {result['pages']:,} pages,"
                f" {result['bytes'] / 2**20:.1f} MB"
            )
            print(
                f"   peak RSS: batch process {result['rss_self'] / 1024:.0f} MB,"
                f" largest worker {result['rss_children'] / 1024:.0f} MB,"
                f" all together {result['rss_total'] / 1024:.0f} MB"
            )


def _one_submission(service: PdfService, sid: str, repeat: int) -> None:
    renderer = service.renderer
    margins = page_style(["zh-Hans"], notice=False)
    service.submission(sid)  # warm: fonts loaded, templates compiled
    renderer.write([renderer.render(MINIMAL, margins=margins).document], io.BytesIO())
    record, minimal, view, layout, write = [], [], [], [], []
    for _ in range(repeat):
        start = time.perf_counter()
        made = service.submission(sid, lang="zh-Hans")
        record.append(time.perf_counter() - start)
        start = time.perf_counter()
        rendered = renderer.render(MINIMAL, margins=margins)
        renderer.write([rendered.document], io.BytesIO())
        minimal.append(time.perf_counter() - start)
        # The same record in steps: read and build the HTML, lay out, write.
        start = time.perf_counter()
        form, stored = service.record(sid)
        html = service.record_html(form, stored, ["zh-Hans"], now=datetime.now(ZONE))
        view.append(time.perf_counter() - start)
        start = time.perf_counter()
        laid = renderer.render(html, margins=page_style(["zh-Hans"], notice=True))
        layout.append(time.perf_counter() - start)
        start = time.perf_counter()
        renderer.write([laid.document], io.BytesIO())
        write.append(time.perf_counter() - start)
    # A floor for the record: its text alone, one unstyled paragraph per line, laid out
    # and written by the same renderer. No template can make the record cost less.
    lines = [
        line
        for page in PdfReader(io.BytesIO(made.content)).pages
        for line in page.extract_text().splitlines()
        if line.strip()
    ]
    plain = "<html><body>" + "".join(f"<p>{html_escape(line)}</p>" for line in lines)
    plain += "</body></html>"
    floor = []
    for _ in range(repeat):
        start = time.perf_counter()
        renderer.write([renderer.render(plain, margins=margins).document], io.BytesIO())
        floor.append(time.perf_counter() - start)
    a, b = statistics.median(record), statistics.median(minimal)
    c = statistics.median(floor)
    print(
        f"   submission PDF: median {a * 1000:.0f} ms ({made.pages} pages,"
        f" {len(made.content) / 1024:.0f} kB); minimal one-page HTML, same font:"
        f" {b * 1000:.0f} ms; ratio {a / b:.1f}x"
    )
    print(
        f"     the record's text alone ({len(lines)} unstyled paragraphs, same renderer):"
        f" {c * 1000:.0f} ms, {c / b:.1f}x the minimal page"
    )
    print(
        f"     of which: database and HTML {statistics.median(view) * 1000:.0f} ms,"
        f" WeasyPrint layout {statistics.median(layout) * 1000:.0f} ms,"
        f" writing the PDF {statistics.median(write) * 1000:.0f} ms"
    )


def _answer_pool(service: PdfService, size: int) -> list[dict[str, Any]]:
    """Validated worker_intake answers, varied in what a summary counts."""
    form = service.forms["worker_intake"]
    rng = random.Random(1)
    pool = []
    while len(pool) < size:
        problems = rng.sample(
            ["wage_arrears", "no_contract", "no_insurance", "overtime", "unsafe"], rng.randint(1, 3)
        )
        kids = [
            {"child_age": rng.randint(0, 17), "in_school": rng.choice(["yes", "no"])}
            for _ in range(rng.randint(0, 3))
        ]
        raw = worker_intake_answers(
            intake_place=rng.choice(["worksite", "factory", "dormitory", "village", "hotline"]),
            gender=rng.choice(["male", "female"]),
            hometown_province="hebei",
            hometown_city=rng.choice(["baoding", "handan", "xingtai"]),
            sector=rng.choice(
                ["construction", "manufacturing", "logistics", "domestic", "catering"]
            ),
            monthly_wage=rng.randint(1800, 14000),
            work_problems=problems,
            children_with_me="yes" if kids else "no",
            children=kids or None,
            contract_status=rng.choice(["none", "verbal", "signed_with_copy", "signed_no_copy"]),
            years_in_beijing=rng.randint(0, 20),
        )
        result = validate(
            form,
            raw,
            now=datetime(2026, 11, 25, 12, tzinfo=ZONE),
            lang="zh-Hans",
            seed=str(uuid.uuid4()),
        )
        if not result.errors:
            pool.append(result.answers)
    return pool


def _store(service: PdfService, answers: dict[str, Any], day: date) -> str:
    sid = str(uuid.uuid4())
    stored = {**answers, "intake_date": day.isoformat()}
    when = datetime(day.year, day.month, day.day, 10, tzinfo=ZONE)
    service.storage.save(
        service.forms["worker_intake"], sid, stored, completed_at=when, submitted_by="walker"
    )
    return sid


def _batch_child(
    settings: Settings, ids: list[str], target: Path, workers: int, queue: Any
) -> None:
    sampler = _RssSampler()
    sampler.start()
    service = open_service(settings)
    start = time.perf_counter()
    result = write_batch(
        service, "worker_intake", ids, target, kind="pdf", langs=["zh-Hans"], workers=workers
    )
    seconds = time.perf_counter() - start
    sampler.stop()
    queue.put(
        {
            "seconds": seconds,
            "pages": result.pages,
            "bytes": target.stat().st_size,
            "rss_self": max(sampler.own, _kib("VmHWM", os.getpid())),
            "rss_children": sampler.child,
            "rss_total": sampler.total,
        }
    )


class _RssSampler(threading.Thread):
    """The peak RSS of this process, of its largest child and of all together, in KiB.

    Sampled from /proc every 50 ms: ``ru_maxrss`` would not do, as Linux carries a
    parent's high-water mark over ``fork`` and ``exec`` into a spawned process.
    """

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.own = self.child = self.total = 0
        self._halt = threading.Event()

    def run(self) -> None:
        me = os.getpid()
        while not self._halt.wait(0.05):
            own = _kib("VmRSS", me)
            children = [_kib("VmRSS", pid) for pid in _children(me)]
            self.own = max(self.own, own)
            self.child = max([self.child, *children])
            self.total = max(self.total, own + sum(children))

    def stop(self) -> None:
        self._halt.set()
        self.join()


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                found.append(int(entry.name))
    return found


def _kib(field: str, pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


if __name__ == "__main__":
    main()
