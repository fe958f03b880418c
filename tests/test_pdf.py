"""PDFs: a submission's record, a form's summary report, batches, the ``pdf`` commands.

Every test opens the PDF it made: its text (pdftotext), its fonts (pdffonts), its pages
(pypdf), a page rendered to an image (pdftoppm).
"""

from __future__ import annotations

import io
import re
import shutil
import sqlite3
import statistics
import subprocess
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from fontTools.pens.boundsPen import BoundsPen
from fontTools.ttLib import TTFont
from PIL import Image
from pypdf import PdfReader

from forms_server import pdf, pdf_batch, pdf_fonts
from forms_server.attachments import Upload
from forms_server.cli import main
from forms_server.intake import Intake
from forms_server.model import Form
from forms_server.pdf import LockedFetcher, attachment_url, fast_subsetting, page_style
from forms_server.pdf_batch import write_batch
from forms_server.pdf_charts import bar_chart, histogram, shorten
from forms_server.pdf_filters import FilterError, Filters, matching_ids
from forms_server.pdf_report import summarise
from forms_server.pdf_service import PdfError, PdfService, open_service
from forms_server.settings import Settings

from .conftest import FORMS_DIR
from .samples import new_id, worker_intake_answers

ZONE = ZoneInfo("Asia/Shanghai")
CASEFILE = """
id: casefile
version: 2
title: {zh-Hans: 个案记录, en: Case file}
languages: [zh-Hans, en]
questions:
  - name: full_name
    type: text
    sensitive: true
    label: {zh-Hans: 姓名, en: Name}
  - name: secret_status
    type: select_one
    sensitive: true
    label: {zh-Hans: 保密状况, en: Confidential status}
    choices:
      - {value: a, label: {zh-Hans: 金丝雀甲, en: Canary A}}
      - {value: b, label: {zh-Hans: 金丝雀乙, en: Canary B}}
  - name: secret_income
    type: integer
    sensitive: true
    label: {zh-Hans: 隐秘收入, en: Hidden income}
  - name: sector
    type: select_one
    label: {zh-Hans: 行业, en: Sector}
    choices:
      - {value: construction, label: {zh-Hans: 建筑工地, en: Construction}}
      - value: factory
        label: {zh-Hans: '工厂 <b>&amp;</b> 车间', en: 'Factory & <i>workshop</i>'}
      - {value: other, label: {zh-Hans: 其他, en: Other}}
  - name: injured
    type: select_one
    choices: yes_no
    label: {zh-Hans: 是否受伤, en: Injured?}
  - name: injury_detail
    type: text
    relevant: ${injured} = 'yes'
    label: {zh-Hans: 受伤经过, en: How it happened}
  - name: problems
    type: select_multiple
    label: {zh-Hans: 遇到的问题, en: Problems}
    choices:
      - {value: wages, label: {zh-Hans: 欠薪, en: Unpaid wages}}
      - {value: contract, label: {zh-Hans: 没有合同, en: No contract}}
      - {value: safety, label: {zh-Hans: 不安全, en: Unsafe}}
  - name: wage
    type: decimal
    label: {zh-Hans: 月工资, en: Monthly wage}
  - name: visit_date
    type: date
    label: {zh-Hans: 走访日期, en: Visit date}
  - name: notes
    type: text
    label: {zh-Hans: 备注, en: Notes}
  - name: photo
    type: image
    label: {zh-Hans: 现场照片, en: Site photo}
  - name: household
    type: group
    label: {zh-Hans: 家庭情况, en: Household}
    questions:
      - name: kids
        type: repeat
        label: {zh-Hans: 子女, en: Children}
        questions:
          - {name: kid_age, type: integer, label: {zh-Hans: 子女年龄, en: Child's age}}
          - name: kid_school
            type: select_one
            choices: yes_no
            label: {zh-Hans: 是否上学, en: In school}
      - name: kid_count
        type: calculate
        calculation: count(${kids})
        label: {zh-Hans: 子女人数, en: Number of children}
choices:
  yes_no:
    - {value: 'yes', label: {zh-Hans: 是, en: 'Yes'}}
    - {value: 'no', label: {zh-Hans: 否, en: 'No'}}
"""
HOSTILE = '<b>粗体</b><script>alert(1)</script><img src="file:///etc/passwd">'


@dataclass
class Env:
    settings: Settings
    service: PdfService
    intake: Intake
    tmp: Path

    @property
    def casefile(self) -> Form:
        return self.service.forms["casefile"]

    @property
    def intake_form(self) -> Form:
        return self.service.forms["worker_intake"]

    def receive(self, form: Form, answers: dict[str, Any], **kw: Any) -> str:
        sid = new_id()
        when = kw.pop("when", datetime(2026, 11, 20, 10, 0, tzinfo=ZONE))
        outcome = self.intake.receive(form, sid, answers, lang="zh-Hans", completed_at=when, **kw)
        assert outcome.status == "created", outcome.errors
        return sid


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    forms = tmp_path / "forms"
    forms.mkdir()
    shutil.copy(FORMS_DIR / "worker_intake.yaml", forms)
    (forms / "casefile.yaml").write_text(CASEFILE, encoding="utf-8")
    settings = Settings(forms_dir=forms, data_dir=tmp_path / "data")
    service = open_service(settings)
    yield Env(settings, service, Intake(service.storage, settings.data_dir, ZONE), tmp_path)
    service.storage.close()


def case(**changes: Any) -> dict[str, Any]:
    answers: dict[str, Any] = {
        "full_name": "李四",
        "sector": "construction",
        "injured": "no",
        "problems": ["wages", "contract"],
        "wage": 5200.5,
        "visit_date": "2026-11-18",
        "notes": "第一次走访。",
        "kids": [{"kid_age": 7, "kid_school": "yes"}],
    }
    answers.update(changes)
    return answers


def png(width: int = 120, height: int = 80) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


def text_of(pdf: bytes, tmp: Path) -> str:
    path = tmp / f"t-{time.monotonic_ns()}.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, text=True
    ).stdout


def fonts_of(pdf: bytes, tmp: Path) -> list[list[str]]:
    path = tmp / f"f-{time.monotonic_ns()}.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdffonts", str(path)], capture_output=True, check=True, text=True)
    return [line.split() for line in out.stdout.splitlines()[2:]]


def pages_of(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def ink(pdf: bytes, tmp: Path, page: int = 1) -> float:
    """The share of a page's pixels that are not white, rendered at 50 dpi."""
    path = tmp / f"p-{time.monotonic_ns()}.pdf"
    path.write_bytes(pdf)
    prefix = tmp / f"page-{time.monotonic_ns()}"
    subprocess.run(
        ["pdftoppm", "-r", "50", "-png", "-f", str(page), "-l", str(page), str(path), str(prefix)],
        check=True,
    )
    (image_path,) = tmp.glob(prefix.name + "*.png")
    with Image.open(image_path) as image:
        grey = image.convert("L")
        dark = sum(grey.histogram()[:200])
        return dark / (grey.width * grey.height)


# -- a submission's record ---------------------------------------------------------------


def test_record_shows_labels_and_answers_in_chinese_and_leaves_out_the_irrelevant(
    env: Env,
) -> None:
    sid = env.receive(env.intake_form, worker_intake_answers(collector_notes="需要跟进欠薪。"))
    made = env.service.submission(sid, lang="zh-Hans", generated_by="staff1")
    text = text_of(made.content, env.tmp)
    for expected in [
        "北京外来务工人员服务中心",  # the organisation
        "工友首次接触登记表",  # the form's title
        "张** · 建筑工地 · 2026-11-20",  # the instance name
        sid,
        "含个人信息，请妥善保管",
        "基本信息",  # a group's heading
        "姓名",
        "张建国",  # a sensitive answer: staff see it
        "接触地点",
        "建筑工地",  # a choice by its label
        "拖欠工资（欠薪）",  # select_multiple
        "随迁子女",  # a repeat's table
        "孩子年龄（周岁）",
        "WI-20261120-",  # a calculation's value
        "18,000",
        "已收到",  # the review status
        "需要跟进欠薪。",
        "张建国是否愿意我们以后联系",  # ${full_name} in a label, filled in
    ]:
        assert expected in text, expected
    # Irrelevant (the injury group: no work injury) and notes are left out.
    for absent in [
        "工伤情况",
        "受伤（或确诊职业病）日期",
        "请向工友读出",
        "worksite",
        "wage_arrears",
    ]:
        assert absent not in text, absent
    assert made.warnings == []
    assert made.filename == f"worker_intake-{sid}.pdf"


def test_record_in_english_and_in_both_languages(env: Env) -> None:
    sid = env.receive(env.intake_form, worker_intake_answers())
    english = text_of(env.service.submission(sid, lang="en").content, env.tmp)
    assert "Construction site" in english and "Where did you meet?" in english
    assert re.search(r"Page 1 of \d", english)
    assert "接触地点" not in english
    both = text_of(env.service.submission(sid, lang="both").content, env.tmp)
    for expected in ["接触地点", "Where did you meet?", "建筑工地", "Construction site"]:
        assert expected in both, expected


def test_record_embeds_the_cjk_font_and_page_one_is_not_blank(env: Env) -> None:
    sid = env.receive(env.intake_form, worker_intake_answers())
    pdf = env.service.submission(sid).content
    fonts = fonts_of(pdf, env.tmp)
    assert fonts, "no font in the PDF"
    assert any(re.search(r"Noto-?Sans-?CJK", row[0]) for row in fonts), fonts
    # Every font is embedded ("emb" is the first yes/no column).
    assert all(row[row.index("Identity-H") + 1] == "yes" for row in fonts), fonts
    assert any("Bold" in row[0] for row in fonts), "headings use the bold weight"
    # The cut font is embedded with TrueType outlines (half the size of CFF ones).
    cut = [row for row in fonts if "Common" in row[0]]
    assert cut and all(row[1:3] == ["CID", "TrueType"] for row in cut), fonts
    assert ink(pdf, env.tmp) > 0.01


def test_the_cut_font_draws_the_glyphs_of_the_original(tmp_path: Path) -> None:
    cut = pdf_fonts.prepare(tmp_path)
    assert set(cut) == {"regular", "bold"} and cut["regular"].suffix == ".ttf"
    source, index = pdf_fonts._locate("regular")
    original = TTFont(source, fontNumber=index)
    converted = TTFont(cut["regular"])
    assert "glyf" in converted and "CFF " not in converted
    assert 7_000 < len(converted.getGlyphOrder()) < 9_000
    original_cmap, converted_cmap = original.getBestCmap(), converted.getBestCmap()
    original_glyphs, converted_glyphs = original.getGlyphSet(), converted.getGlyphSet()
    for char in "中国工友欠薪邯郸，。（）：？AZaz09":
        width = original["hmtx"][original_cmap[ord(char)]][0]
        assert converted["hmtx"][converted_cmap[ord(char)]][0] == width, char
        bounds = []
        for glyphs, cmap in [(original_glyphs, original_cmap), (converted_glyphs, converted_cmap)]:
            pen = BoundsPen(glyphs)
            glyphs[cmap[ord(char)]].draw(pen)
            bounds.append(pen.bounds)
        assert all(abs(a - b) <= 2 for a, b in zip(*bounds, strict=True)), (char, bounds)


def test_a_character_outside_the_cut_font_still_renders(env: Env) -> None:
    # 堃 is not in GB 2312: it comes from the full Noto Sans CJK SC.
    sid = env.receive(env.intake_form, worker_intake_answers(full_name="王堃"))
    pdf = env.service.submission(sid).content
    assert "王堃" in text_of(pdf, env.tmp)
    names = [row[0] for row in fonts_of(pdf, env.tmp)]
    assert any(re.search(r"\+Noto-Sans-CJK-SC$", name) for name in names), names


def test_long_record_spans_pages_and_every_footer_counts_them(env: Env) -> None:
    kids = [{"kid_age": i % 18, "kid_school": "yes" if i % 3 else "no"} for i in range(40)]
    sid = env.receive(env.casefile, case(kids=kids))
    made = env.service.submission(sid, lang="zh-Hans")
    pages = pages_of(made.content)
    assert pages >= 2 and made.pages == pages
    texts = text_of(made.content, env.tmp).split("\f")
    for number in range(1, pages + 1):
        footer = re.search(r"第\s*(\d+)\s*页，\s*共\s*(\d+)\s*页", texts[number - 1])
        assert footer is not None, texts[number - 1][-200:]
        assert (int(footer[1]), int(footer[2])) == (number, pages)
        # Every page says whose it is, and that it holds personal data.
        for header in [
            env.settings.organisation_name,
            "含个人信息，请妥善保管",
            f"casefile · {sid[:8]}",
        ]:
            assert header in texts[number - 1], (number, header)
    assert "子女人数" in texts[-1] or "子女人数" in "".join(texts)
    assert "40" in "".join(texts)


def test_hostile_answers_print_as_text_and_fetch_nothing(env: Env) -> None:
    fetcher = env.service.renderer.fetcher
    fetcher.requested.clear()
    typed = env.receive(env.casefile, case(notes=HOSTILE, full_name="<i>x</i>"))
    # Image answers forged straight into storage, past validation.
    forged = []
    for value in ["../../etc/passwd", "file:///etc/passwd", "http://example.com/x.png"]:
        sid = new_id()
        env.service.storage.save(env.casefile, sid, {**case(), "photo": value})
        forged.append(sid)
    texts = [text_of(env.service.submission(s).content, env.tmp) for s in [typed, *forged]]
    assert "<b>粗体</b><script>alert(1)</script>" in texts[0]
    assert '<img src="file:///etc/passwd">' in texts[0]
    assert "<i>x</i>" in texts[0]
    for text, value in zip(texts[1:], ["../../etc/passwd", "file:///etc/passwd"], strict=False):
        assert "附件不可用" in text and value in text
    assert "root:" not in "".join(texts)
    assert not fetcher.refused
    assert all(url in ("font:regular", "font:bold") for url in fetcher.requested), list(
        fetcher.requested
    )


def test_an_answer_that_is_not_valid_xml_still_prints(env: Env) -> None:
    # Control characters make the record's markup ill-formed XML: the HTML parser reads it.
    sid = new_id()
    env.service.storage.save(
        env.casefile, sid, case(notes="第一行\x0b第二行\x01", full_name="李\x00四")
    )
    text = text_of(env.service.submission(sid).content, env.tmp)
    assert "第一行" in text and "第二行" in text and "李" in text


def test_a_record_read_as_xml_prints_as_read_by_the_html_parser(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = env.receive(env.casefile, case(notes=HOSTILE + "\n  second line  ", full_name="<i>x</i>"))
    form, record = env.service.record(sid)
    now = datetime(2026, 11, 21, 9, tzinfo=ZONE)

    def printed() -> tuple[str, int]:
        rendered = env.service.record_document(form, record, ["zh-Hans", "en"], now=now)
        out = io.BytesIO()
        env.service.renderer.write([rendered.document], out)
        return text_of(out.getvalue(), env.tmp), rendered.pages

    parse = ElementTree.fromstring
    parsed: list[str] = []

    def spy(text: str) -> ElementTree.Element:
        root = parse(text)
        parsed.append(root.tag)
        return root

    def refuse(text: str) -> ElementTree.Element:
        raise ElementTree.ParseError("not XML")

    monkeypatch.setattr(pdf.ElementTree, "fromstring", spy)
    as_xml = printed()
    assert parsed == ["html"], "the record's markup is well-formed XML"
    monkeypatch.setattr(pdf.ElementTree, "fromstring", refuse)
    assert printed() == as_xml
    assert "second line" in as_xml[0]


def test_stored_image_is_embedded_through_the_attachment_fetcher(env: Env) -> None:
    fetcher = env.service.renderer.fetcher
    fetcher.requested.clear()
    sid = env.receive(env.casefile, case(), uploads={"photo": Upload("site.png", png())})
    record = env.service.storage.get(sid)
    assert record is not None
    made = env.service.submission(sid)
    images = [img for page in PdfReader(io.BytesIO(made.content)).pages for img in page.images]
    assert len(images) == 1
    assert list(fetcher.requested) == [f"attachment:{record.answers['photo']}"]
    assert not fetcher.refused


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "http://example.com/a.png",
        "https://example.com/a.png",
        "data:image/png;base64,iVBORw0KGgo=",
        "attachment:../../etc/passwd",
        "attachment:/etc/passwd",
        "font:../../etc/passwd",
        "font:italic",
        "/etc/passwd",
    ],
)
def test_fetcher_refuses_everything_but_stored_attachments_and_its_fonts(
    tmp_path: Path, url: str
) -> None:
    fetcher = LockedFetcher(tmp_path, {"regular": tmp_path / "f.otf"})
    with pytest.raises(ValueError, match="not an allowed resource"):
        fetcher.fetch(url)
    assert list(fetcher.refused) == [url]


def test_attachment_url_only_for_stored_images(tmp_path: Path) -> None:
    name = f"{new_id()}/photo_0123456789abcdef.png"
    assert attachment_url(tmp_path, name) is None  # not stored
    (tmp_path / "attachments" / name).parent.mkdir(parents=True)
    (tmp_path / "attachments" / name).write_bytes(png())
    assert attachment_url(tmp_path, name) == f"attachment:{name}"
    fetched = LockedFetcher(tmp_path).fetch(f"attachment:{name}")
    assert fetched.read() == png()
    for forged in ["../../etc/passwd", "file:///etc/passwd", f"{name}/../x.png", 7, None]:
        assert attachment_url(tmp_path, forged) is None


def test_edit_history_and_review_comments_are_summarised(env: Env) -> None:
    sid = env.receive(env.casefile, case())
    record = env.service.storage.get(sid)
    assert record is not None
    edited = {**record.answers, "wage": 6100, "sector": "other"}
    env.service.reviews.edit(env.casefile, sid, edited, actor="staff1", instance_name=None)
    env.service.reviews.set_status(
        env.casefile, sid, "has_issues", actor="lead", comment="请核实 <工资>"
    )
    text = text_of(env.service.submission(sid, lang="zh-Hans").content, env.tmp)
    assert "修改记录" in text and "staff1" in text and "修改了 2 个回答" in text
    assert re.search(r"5200\.5\s*→\s*6100", text)
    assert re.search(r"建筑工地\s*→\s*其他", text)
    assert "审核" in text and "请核实 <工资>" in text and "有问题" in text


def test_unknown_and_deleted_submissions_are_not_found(env: Env) -> None:
    with pytest.raises(PdfError) as missing:
        env.service.submission(new_id())
    assert missing.value.status == 404
    with pytest.raises(PdfError):
        env.service.submission("not-a-uuid")
    sid = env.receive(env.casefile, case())
    with env.service.storage.transaction() as db:
        db.execute("UPDATE submissions SET deleted = 1 WHERE id = ?", [sid])
    with pytest.raises(PdfError):
        env.service.submission(sid)


def test_a_one_page_pdf_renders_well_under_a_second(env: Env) -> None:
    assert fast_subsetting(), "install libharfbuzz-subset0: subsetting with fontTools is slow"
    renderer = env.service.renderer
    html = "<html><body><h1>你好</h1><p>工友首次接触登记表</p></body></html>"
    times = []
    for _ in range(3):
        start = time.perf_counter()
        rendered = renderer.render(html, margins=page_style(["zh-Hans"], notice=False))
        renderer.write([rendered.document], io.BytesIO())
        times.append(time.perf_counter() - start)
    assert statistics.median(times) < 1.0, times
    assert rendered.warnings == []


# -- a form's summary report -------------------------------------------------------------


def _fill(env: Env, count: int = 30) -> list[str]:
    sectors = ["construction", "construction", "factory", "other"]
    ids = []
    for i in range(count):
        answers = case(
            full_name=f"金丝雀{i}",
            secret_status="a" if i % 2 else "b",
            secret_income=99_000 + i,
            sector=sectors[i % 4],
            injured="yes" if i % 5 == 0 else "no",
            injury_detail="从脚手架上摔下" if i % 5 == 0 else None,
            problems=[["wages"], ["wages", "safety"], [], ["contract"]][i % 4] or None,
            wage=None if i % 7 == 0 else 2000 + 350 * i,
            visit_date=(datetime(2026, 8, 3) + timedelta(days=3 * i)).date().isoformat(),
            kids=[{"kid_age": (i + k) % 17, "kid_school": "yes"} for k in range(i % 3)],
        )
        when = datetime(2026, 8, 3, 9, tzinfo=ZONE) + timedelta(days=3 * i)
        ids.append(env.receive(env.casefile, answers, when=when))
    return ids


def _sql(env: Env, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with sqlite3.connect(env.settings.data_dir / "forms.db") as db:
        return db.execute(query, params).fetchall()


def test_summary_counts_equal_sql_counts(env: Env) -> None:
    ids = _fill(env)
    with env.service.storage.transaction() as db:  # a deleted submission never counts
        db.execute("UPDATE submissions SET deleted = 1 WHERE id = ?", [ids[1]])
    summary = summarise(env.service.storage, env.casefile, Filters(), langs=["zh-Hans"], zone=ZONE)
    live = "JOIN submissions s ON s.id = c._id AND s.deleted = 0"
    assert summary.total == _sql(env, f"SELECT count(*) FROM casefile c {live}")[0][0] == 29
    stats = {s.name: s for s in summary.stats}
    assert set(stats) == {
        "sector",
        "injured",
        "problems",
        "wage",
        "visit_date",
        "kid_age",
        "kid_school",
    }

    sectors = dict(_sql(env, f"SELECT sector, count(*) FROM casefile c {live} GROUP BY sector"))
    labels = {"construction": "建筑工地", "factory": "工厂 <b>&amp;</b> 车间", "other": "其他"}
    assert {c.label: c.count for c in stats["sector"].counts} == {
        labels[k]: v for k, v in sectors.items()
    }
    problems = dict(
        _sql(
            env,
            f"SELECT j.value, count(*) FROM casefile c {live}, json_each(c.problems) j"
            " GROUP BY j.value",
        )
    )
    by_label = {c.label: c.count for c in stats["problems"].counts}
    assert by_label == {
        "欠薪": problems["wages"],
        "没有合同": problems["contract"],
        "不安全": problems["safety"],
    }
    answered = _sql(env, f"SELECT count(*) FROM casefile c {live} WHERE c.problems IS NOT NULL")
    assert stats["problems"].answered == answered[0][0]

    wages = [
        row[0] for row in _sql(env, f"SELECT wage FROM casefile c {live} WHERE wage IS NOT NULL")
    ]
    wage = stats["wage"]
    assert wage.answered == len(wages) and wage.unanswered == 29 - len(wages)
    assert float(wage.mean.replace(",", "")) == pytest.approx(statistics.mean(wages), abs=0.01)
    assert float(wage.median.replace(",", "")) == pytest.approx(statistics.median(wages))
    assert float(wage.minimum.replace(",", "")) == min(wages)
    assert float(wage.maximum.replace(",", "")) == max(wages)
    assert sum(int(c.count.replace(",", "") or 0) for c in wage.chart.columns) == len(wages)

    kids = _sql(
        env,
        f"SELECT count(*) FROM casefile__kids k JOIN casefile c ON c._id = k._submission_id {live}",
    )[0][0]
    assert stats["kid_age"].answered == kids and stats["kid_age"].entries
    visits = stats["visit_date"]
    assert visits.period == "week" and sum(c.count for c in visits.counts) == 29

    text = text_of(env.service.summary(env.casefile, Filters(), lang="zh-Hans").content, env.tmp)
    assert "共 29 份提交" in text
    for count in stats["sector"].counts:
        assert f"{count.count} · {count.share:.1f}%" in text
    assert "工厂 <b>&amp;</b> 车间" in text  # a label with markup is text in the SVG chart
    for figure in (wage.mean, wage.median, wage.minimum, wage.maximum):
        assert figure in text


def test_summary_never_shows_sensitive_questions_or_free_text(env: Env) -> None:
    _fill(env, 12)
    for lang in ("zh-Hans", "en", "both"):
        text = text_of(env.service.summary(env.casefile, Filters(), lang=lang).content, env.tmp)
        for canary in [
            "金丝雀",  # names and the sensitive choice labels
            "Canary",
            "保密状况",
            "Confidential status",
            "隐秘收入",
            "Hidden income",
            "99,0",
            "99000",
            "姓名",
            "从脚手架上摔下",  # free text
            "受伤经过",
            "第一次走访",
            "现场照片",
        ]:
            assert canary not in text, (lang, canary)


def test_summary_filters_take_period_status_and_answer(env: Env) -> None:
    ids = _fill(env, 20)
    for sid in ids[:5]:
        env.service.reviews.set_status(env.casefile, sid, "approved", actor="lead")
    form = env.casefile
    period = Filters.parse(form, start="2026-08-10", end="2026-08-31")
    expected = _sql(
        env,
        "SELECT count(*) FROM casefile WHERE _completed_at >= ? AND _completed_at < ?",
        ("2026-08-09T16:00:00.000Z", "2026-08-31T16:00:00.000Z"),
    )[0][0]
    assert len(matching_ids(env.service.storage, form, period, ZONE)) == expected
    approved = Filters.parse(form, status="approved", answer="sector:construction")
    chosen = matching_ids(env.service.storage, form, approved, ZONE)
    assert set(chosen) == {
        s for s in ids[:5] if env.service.storage.get(s).answers["sector"] == "construction"
    }  # type: ignore[union-attr]
    summary = summarise(env.service.storage, form, approved, langs=["zh-Hans"], zone=ZONE)
    assert summary.total == len(chosen)
    text = text_of(env.service.summary(form, approved, lang="zh-Hans").content, env.tmp)
    assert "审核状态：已核准" in text and "行业 = 建筑工地" in text


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"start": "2026-13-01"}, "YYYY-MM-DD"),
        ({"start": "2026-05-01", "end": "2026-04-01"}, "after it ends"),
        ({"status": "lost"}, "unknown review status"),
        ({"answer": "sector"}, "question:choice"),
        ({"answer": "nope:x"}, "question:choice"),
        ({"answer": "sector:mine"}, "not a choice"),
        ({"answer": "secret_status:a"}, "not sensitive"),
        ({"answer": "problems:wages"}, "select_one"),
        ({"answer": "kid_school:yes"}, "outside repeats"),
    ],
)
def test_bad_filters_are_refused(env: Env, values: dict[str, str], message: str) -> None:
    with pytest.raises(FilterError, match=message):
        Filters.parse(env.casefile, **values)


def test_empty_summary_says_so(env: Env) -> None:
    text = text_of(env.service.summary(env.casefile, Filters(), lang="en").content, env.tmp)
    assert "0 submissions" in text and "No submissions match." in text


def test_charts_are_drawn_from_counts() -> None:
    chart = bar_chart([("建筑工地", 10, "10"), ("很长很长" * 40, 5, "5"), ("none", 0, "0")])
    assert [row.length for row in chart.rows][2] == 0
    assert chart.rows[0].length == pytest.approx(2 * chart.rows[1].length)
    assert chart.rows[1].label.endswith("…")
    assert shorten("abc", 100) == "abc"
    columns = histogram([1, 0, 3], ["0", "10", "20", "30"])
    assert [c.count for c in columns.columns] == ["1", "", "3"]
    with pytest.raises(ValueError, match="one edge more"):
        histogram([1, 2], ["0", "1"])


# -- many at once ------------------------------------------------------------------------


def test_batch_merges_every_record_with_its_own_page_numbers(env: Env) -> None:
    ids = _fill(env, 11)
    seen: list[tuple[int, int]] = []
    target = env.tmp / "out" / "batch.pdf"
    result = write_batch(
        env.service,
        "casefile",
        ids,
        target,
        kind="pdf",
        langs=["zh-Hans"],
        progress=lambda done, total: seen.append((done, total)),
    )
    assert result.submissions == 11 and seen[-1] == (11, 11)
    assert len(PdfReader(target, strict=True).pages) == result.pages
    assert len(PdfReader(target).outline) == 11, "a bookmark per record"
    info = subprocess.run(["pdfinfo", str(target)], capture_output=True, text=True, check=True)
    assert info.stderr == "" and f"Pages:           {result.pages}" in info.stdout
    assert len(fonts_of(target.read_bytes(), env.tmp)) >= 2
    assert ink(target.read_bytes(), env.tmp, page=result.pages - 1) > 0.01
    text = target.read_bytes()
    pages = text_of(text, env.tmp).split("\f")
    assert sum(1 for page in pages if re.search(r"第\s*1\s*页，", page)) == 11
    assert not list(target.parent.glob(".pdf-batch-*")), "temporary files are removed"


def test_batch_zip_holds_one_pdf_per_submission(env: Env) -> None:
    ids = _fill(env, 3)
    target = env.tmp / "batch.zip"
    write_batch(env.service, "casefile", ids, target, kind="zip", langs=["en"])
    with zipfile.ZipFile(target) as archive:
        names = sorted(archive.namelist())
        assert names == sorted(f"casefile-{sid}.pdf" for sid in ids)
        assert all(pages_of(archive.read(name)) >= 1 for name in names)


@pytest.mark.slow
def test_batch_with_worker_processes_keeps_the_order(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _fill(env, 10)
    monkeypatch.setattr(pdf_batch, "CHUNK", 2)
    target = env.tmp / "workers.pdf"
    result = write_batch(
        env.service, "casefile", ids, target, kind="pdf", langs=["zh-Hans"], workers=2
    )
    assert result.submissions == 10
    text = text_of(target.read_bytes(), env.tmp)
    positions = [text.index(sid) for sid in ids]
    assert positions == sorted(positions)


# -- the command line --------------------------------------------------------------------


def _cli(env: Env, *args: str) -> Any:
    where = ["--forms-dir", str(env.settings.forms_dir), "--data-dir", str(env.settings.data_dir)]
    return CliRunner().invoke(main, ["pdf", *args, *where], catch_exceptions=False)


def test_cli_writes_each_kind_of_pdf_and_audits_it(env: Env) -> None:
    ids = _fill(env, 3)
    record = env.tmp / "one.pdf"
    result = _cli(env, "submission", ids[0], "--output", str(record), "--lang", "both")
    assert result.exit_code == 0, result.output
    assert "姓名" in text_of(record.read_bytes(), env.tmp)
    report = env.tmp / "summary.pdf"
    result = _cli(env, "summary", "casefile", "-o", str(report), "--from", "2026-08-01")
    assert result.exit_code == 0, result.output
    assert "共 3 份提交" in text_of(report.read_bytes(), env.tmp)
    merged = env.tmp / "all.pdf"
    result = _cli(env, "batch", "casefile", "-o", str(merged), "--workers", "1")
    assert result.exit_code == 0, result.output
    assert "3 submissions" in result.output
    folder = env.tmp / "records"
    result = _cli(env, "batch", "casefile", "-o", str(folder), "--workers", "1")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"casefile-{s}.pdf" for s in ids)
    audit = _sql(env, "SELECT actor, target, detail FROM _audit WHERE action = 'download_pdf'")
    assert len(audit) == 4 and all(actor.startswith("cli") for actor, _, _ in audit)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["summary", "nosuchform", "-o", "x.pdf"], "no form"),
        (["summary", "casefile", "-o", "x.pdf", "--lang", "fr"], "--lang fr"),
        (["summary", "casefile", "-o", "x.pdf", "--status", "lost"], "unknown review status"),
        (["batch", "casefile", "-o", "x.pdf"], "no submissions match"),
        (["submission", "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "-o", "x.pdf"], "no such"),
    ],
)
def test_cli_errors_say_what_to_fix(env: Env, args: list[str], message: str) -> None:
    result = _cli(env, *args)
    assert result.exit_code == 1
    assert message in result.output
