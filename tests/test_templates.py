"""The form page's HTML: every question type has a labelled control, answers and errors
come back where they belong, user text is escaped; and which language a person gets.

The templates are rendered with a plain Jinja2 environment (autoescape on) and the
context the form route gives them; the HTML is read back with the standard library's
parser.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from forms_server.definition import form_definition
from forms_server.i18n import LANGUAGE_NAMES, MESSAGES, pick_language, translator
from forms_server.loader import load_forms, load_text
from forms_server.model import Form, Question

from .conftest import FORMS_DIR, ROOT

TEMPLATES = ROOT / "templates"
STATIC = ROOT / "forms_server" / "static"
XSS = "<script>alert(1)</script>"

EVERY_TYPE = """
id: every_type
version: 1
title: {zh-Hans: "全部题型 <script>alert('title')</script>", en: Every type}
languages: [zh-Hans, en]
description: {zh-Hans: 测试用, en: For tests}
questions:
  - {name: note_intro, type: note, label: {zh-Hans: "你好 ${name}！", en: "Hello ${name}!"}}
  - {name: name, type: text, required: true, label: {zh-Hans: 姓名, en: Name},
     hint: {zh-Hans: 提示, en: A hint}}
  - {name: story, type: text, appearance: multiline, label: {zh-Hans: 经历, en: Story}}
  - {name: phone, type: text, appearance: numbers, label: {zh-Hans: 电话, en: Phone}}
  - {name: age, type: integer, label: {zh-Hans: 年龄, en: Age}}
  - {name: wage, type: decimal, label: {zh-Hans: 工资, en: Wage}}
  - {name: born, type: date, label: {zh-Hans: 出生日期, en: Born}}
  - {name: since, type: date, appearance: month-year, label: {zh-Hans: 开始月份, en: Since}}
  - {name: arrived, type: date, appearance: year, label: {zh-Hans: 来京年份, en: Arrived}}
  - {name: start, type: time, label: {zh-Hans: 上工时间, en: Start}}
  - {name: visit, type: datetime, label: {zh-Hans: 走访时间, en: Visit}}
  - {name: consent, type: select_one, choices: yes_no, required: true,
     label: {zh-Hans: 同意吗, en: Consent}}
  - {name: sector, type: select_one, choices: sectors, appearance: minimal,
     label: {zh-Hans: 行业, en: Sector}}
  - {name: paid, type: select_one, choices: yes_no, appearance: horizontal,
     label: {zh-Hans: 发工资了吗, en: Paid}}
  - {name: know, type: select_one, choices: scale, appearance: likert,
     label: {zh-Hans: 了解多少, en: Knowledge}}
  - {name: problems, type: select_multiple, choices: problems, label: {zh-Hans: 问题, en: Problems}}
  - {name: days, type: select_multiple, choices: days, appearance: minimal,
     label: {zh-Hans: 哪几天, en: Days}}
  - {name: priorities, type: rank, choices: problems, label: {zh-Hans: 排序, en: Priorities}}
  - {name: score, type: range, parameters: {start: 0, end: 10, step: 2},
     label: {zh-Hans: 评分, en: Score}}
  - {name: ok, type: acknowledge, required: true, label: {zh-Hans: 我已知晓, en: I understand}}
  - {name: total, type: calculate, calculation: "${age} + 1"}
  - {name: shown_total, type: integer, read_only: true, calculation: "${age} * 2",
     label: {zh-Hans: 两倍年龄, en: Twice the age}}
  - {name: source, type: hidden, default: outreach}
  - {name: place, type: geopoint, label: {zh-Hans: 位置, en: Location}}
  - {name: photo, type: image, label: {zh-Hans: 照片, en: Photo}}
  - {name: signature, type: image, appearance: signature, label: {zh-Hans: 签名, en: Signature}}
  - {name: contract, type: file, label: {zh-Hans: 合同, en: Contract}}
  - {name: code, type: barcode, label: {zh-Hans: 二维码, en: Code}}
  - {name: city, type: text, default: 北京, label: {zh-Hans: 城市, en: City}}
  - name: work
    type: group
    label: {zh-Hans: 工作, en: Work}
    relevant: ${consent} = 'yes'
    questions:
      - {name: employer, type: text, label: {zh-Hans: "${name}的雇主", en: "Employer of ${name}"}}
  - name: kids
    type: repeat
    label: {zh-Hans: 孩子, en: Children}
    min: 1
    max: 3
    questions:
      - {name: kid_name, type: text, label: {zh-Hans: 孩子姓名, en: "Child's name"}}
      - {name: kid_age, type: integer, required: true,
         label: {zh-Hans: "${kid_name}的年龄", en: "Age of ${kid_name}"}}
      - {name: kid_school, type: select_one, choices: yes_no,
         label: {zh-Hans: 上学吗, en: In school}}
      - name: visits
        type: repeat
        label: {zh-Hans: 家访, en: Visits}
        questions:
          - {name: visit_day, type: date, label: {zh-Hans: 家访日期, en: Visit day}}
choices:
  yes_no:
    - {value: 'yes', label: {zh-Hans: 是, en: 'Yes'}}
    - {value: 'no', label: {zh-Hans: 否, en: 'No'}}
  sectors:
    - {value: construction, label: {zh-Hans: 建筑, en: Construction}}
    - {value: domestic, label: {zh-Hans: 家政, en: Domestic work}}
  scale:
    - {value: '1', label: {zh-Hans: 不了解, en: Nothing}}
    - {value: '2', label: {zh-Hans: 一点, en: A little}}
    - {value: '3', label: {zh-Hans: 很了解, en: A lot}}
  problems:
    - {value: wage_arrears, label: {zh-Hans: 欠薪, en: Unpaid wages}}
    - {value: no_contract, label: {zh-Hans: 没合同, en: No contract}}
    - {value: injury, label: {zh-Hans: 工伤, en: Injury}}
  days:
    - {value: sat, label: {zh-Hans: 周六, en: Saturday}}
    - {value: sun, label: {zh-Hans: 周日, en: Sunday}}
"""

#: (type, appearance) -> (tag, type attribute) of the control posted as the answer.
CONTROLS: dict[tuple[str, str], tuple[str, str | None]] = {
    ("text", ""): ("input", "text"),
    ("text", "multiline"): ("textarea", None),
    ("text", "numbers"): ("input", "text"),
    ("integer", ""): ("input", "text"),
    ("decimal", ""): ("input", "text"),
    ("date", ""): ("input", "date"),
    ("date", "month-year"): ("input", "month"),
    ("date", "year"): ("input", "number"),
    ("time", ""): ("input", "time"),
    ("datetime", ""): ("input", "datetime-local"),
    ("select_one", ""): ("input", "radio"),
    ("select_one", "horizontal"): ("input", "radio"),
    ("select_one", "likert"): ("input", "radio"),
    ("select_one", "minimal"): ("select", None),
    ("select_multiple", ""): ("input", "checkbox"),
    ("select_multiple", "horizontal"): ("input", "checkbox"),
    ("select_multiple", "minimal"): ("select", None),
    ("rank", ""): ("select", None),
    ("range", ""): ("input", "number"),
    ("acknowledge", ""): ("input", "checkbox"),
    ("hidden", ""): ("input", "hidden"),
    ("geopoint", ""): ("input", "text"),
    ("image", ""): ("input", "file"),
    ("image", "signature"): ("input", "file"),
    ("file", ""): ("input", "file"),
    ("barcode", ""): ("input", "text"),
}


# -- a small DOM from html.parser ----------------------------------------------------------

VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                  "source", "track", "wbr"})  # fmt: skip


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    parent: Node | None = None
    children: list[Node | str] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        return self.attrs.get(name)

    def has(self, name: str) -> bool:
        return name in self.attrs

    @property
    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text for c in self.children)

    def iter(self) -> Iterator[Node]:
        for child in self.children:
            if isinstance(child, Node):
                yield child
                yield from child.iter()

    def find_all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        return [n for n in self.iter() if (tag is None or n.tag == tag)
                and all(n.get(k.replace("_", "-")) == v for k, v in attrs.items())]  # fmt: skip

    def ancestors(self) -> Iterator[Node]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    @property
    def in_template(self) -> bool:
        return any(a.tag == "template" for a in self.ancestors())

    @property
    def shown(self) -> bool:
        """Not inside a <template> nor under a ``hidden`` attribute (itself included)."""
        return not self.has("hidden") and not any(
            a.has("hidden") or a.tag in ("template", "noscript") for a in self.ancestors()
        )


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs), self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Node(tag, dict(attrs), self.current))

    def handle_endtag(self, tag: str) -> None:
        node: Node | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        assert node is not None, f"stray </{tag}>"
        assert node.parent is not None
        self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


@dataclass
class Page:
    html: str
    root: Node

    def by_id(self, id_: str) -> Node:
        found = [n for n in self.root.iter() if n.get("id") == id_ and not n.in_template]
        assert len(found) == 1, f"{len(found)} elements with id {id_!r}"
        return found[0]

    def named(self, name: str) -> list[Node]:
        return [n for n in self.root.iter() if n.get("name") == name and not n.in_template]

    def label_of(self, control: Node) -> str:
        """The control's accessible name from <label for> or aria-labelledby ('' if none)."""
        control_id = control.get("id")
        labels = [n for n in self.root.iter() if n.tag == "label" and n.get("for") == control_id]
        if control_id and labels:
            return " ".join(label.text.strip() for label in labels)
        ids = (control.get("aria-labelledby") or "").split()
        return " ".join(self.by_id(i).text.strip() for i in ids)

    def described_by(self, control: Node) -> list[str]:
        return [self.by_id(i).text.strip() for i in (control.get("aria-describedby") or "").split()]


def parse(html: str) -> Page:
    builder = _Builder()
    builder.feed(html)
    builder.close()
    assert builder.current is builder.root, f"unclosed <{builder.current.tag}>"
    return Page(html, builder.root)


# -- rendering -------------------------------------------------------------------------------

ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined)
SUBMISSION_ID = "0b7e1f1a-5d43-4c9e-9a0f-3f2b1c6d7e8f"


def context(form: Form, lang: str = "zh-Hans", **overrides: Any) -> dict[str, Any]:
    """What the form route gives form.html."""
    definition = form_definition(form)
    values: dict[str, Any] = {
        "request": None,
        "form": form,
        "lang": lang,
        "t": translator(lang),
        "languages": [(tag, LANGUAGE_NAMES.get(tag, tag)) for tag in form.languages],
        "answers": {},
        "errors": {},
        "form_errors": [],
        "irrelevant": set(),
        "offered": {},
        "fresh_defaults": {},
        "calculated": {},
        "entries": {},
        "submission_id": SUBMISSION_ID,
        "started_at": "2025-03-08T09:30:00+08:00",
        "csrf_token": "token.signature",
        "action": f"/forms/{form.id}",
        "definition": definition,
        "definition_json": json.dumps(definition, ensure_ascii=False),
        "static_url": lambda path: f"/static/{path}?v=test",
    }
    values.update(overrides)
    return values


def render(form: Form, lang: str = "zh-Hans", **overrides: Any) -> Page:
    return parse(ENV.get_template("form.html").render(context(form, lang, **overrides)))


def inline_form() -> Form:
    form, problems = load_text(textwrap.dedent(EVERY_TYPE).lstrip("\n"), "every_type.yaml")
    assert form is not None, [p.format() for p in problems]
    return form


SAMPLE_FORMS = load_forms(FORMS_DIR)
ALL_FORMS = {**SAMPLE_FORMS, "every_type": inline_form()}


def keyed_questions(form: Form) -> Iterator[tuple[str, Question]]:
    """(field key, question) for every question in the page's default entries: one entry
    per repeat with a minimum, none for the others (as the route renders a fresh page)."""

    def walk(questions: tuple[Question, ...], prefix: str) -> Iterator[tuple[str, Question]]:
        for q in questions:
            yield prefix + q.name, q
            if q.type == "group":
                yield from walk(q.questions, prefix)
            elif q.type == "repeat":
                for i in range(q.min_count or 0):
                    yield from walk(q.questions, f"{prefix}{q.name}.{i}.")

    return walk(form.questions, "")


def control_kind(q: Question) -> tuple[str, str | None]:
    appearance = next((a for a in q.appearance if (q.type, a) in CONTROLS), "")
    return CONTROLS[(q.type, appearance)]


# -- every question has a labelled control -------------------------------------------------


@pytest.mark.parametrize("form_id", sorted(ALL_FORMS))
@pytest.mark.parametrize("lang", ["zh-Hans", "en"])
def test_every_question_has_a_labelled_control_of_its_type(form_id: str, lang: str) -> None:
    form = ALL_FORMS[form_id]
    page = render(form, lang)
    checked = 0
    for key, q in keyed_questions(form):
        if q.type in ("group", "repeat", "note", "calculate"):
            continue
        label = form.text(q.label, lang)
        if q.read_only:
            shown = page.by_id(f"f-{key}")
            assert shown.tag == "output"
            assert page.label_of(shown) == label
            continue
        controls = page.named(key)
        assert controls, f"no control named {key!r}"
        tag, type_ = control_kind(q)
        for control in controls:
            assert (control.tag, control.get("type")) == (tag, type_), key
            if q.type != "hidden":
                name = page.label_of(control)
                assert name, f"{key}: {control.tag} without a label"
                options = q.type in ("select_one", "select_multiple") and control.tag == "input"
                if options or q.type == "rank":
                    # an option or a place: the question's label is the fieldset's legend
                    group = next(a for a in control.ancestors() if a.tag == "fieldset")
                    name = group.find_all("legend")[0].text
                assert "${" in label or name.strip().startswith(label.strip()), (key, name, label)
        if q.required and q.required_if is None and q.type not in ("select_one", "select_multiple",
                                                                    "rank"):  # fmt: skip
            assert all(c.get("aria-required") == "true" for c in controls), key
        checked += 1
    assert checked >= 5


def test_each_type_and_appearance_gets_its_control() -> None:
    page = render(ALL_FORMS["every_type"])
    assert page.by_id("f-story").tag == "textarea"
    assert page.by_id("f-phone").get("inputmode") == "numeric"
    assert page.by_id("f-age").get("inputmode") == "numeric"
    assert page.by_id("f-wage").get("inputmode") == "decimal"
    assert page.by_id("f-code").get("inputmode") == "text"
    assert page.by_id("f-sector").tag == "select"
    assert not page.by_id("f-sector").has("multiple")
    assert page.by_id("f-days").has("multiple")
    assert "row" in (page.by_id("f-paid").find_all("div")[0].get("class") or "")
    assert "likert" in (page.by_id("f-know").find_all("div")[0].get("class") or "")
    assert page.by_id("f-consent").get("role") == "radiogroup"
    # rank: one numbered drop-down per place, each offering every choice
    ranks = page.named("priorities")
    assert len(ranks) == 3
    assert all(len(r.find_all("option")) == 4 for r in ranks)
    # range: a number box (works without JavaScript) and a slider forms.js shows
    slider = page.by_id("r-score")
    assert (slider.get("type"), slider.get("min"), slider.get("max"), slider.get("step")) == (
        "range", "0", "10", "2")  # fmt: skip
    assert slider.has("hidden")
    assert page.label_of(slider) == "评分"
    assert page.by_id("f-ok").get("value") == "OK"
    photo = page.by_id("f-photo")
    assert (photo.get("accept"), photo.get("capture")) == ("image/*", "environment")
    assert "签名" in " ".join(page.described_by(page.by_id("f-signature")))
    geo = [b for b in page.root.find_all("button") if b.get("data-geo") == "place"]
    assert len(geo) == 1
    assert geo[0].text == "获取位置"
    assert page.by_id("f-place").get("aria-describedby") == "x-place"
    # calculate: nothing to see or post; hidden: posted with its default
    assert page.named("total") == []
    assert "q-total" not in page.html
    assert [n.get("value") for n in page.named("source")] == ["outreach"]
    assert page.by_id("q-note_intro").find_all("input") == []


def test_required_questions_are_marked() -> None:
    page = render(ALL_FORMS["every_type"])
    assert page.by_id("l-name").find_all("span", **{"class": "req"})
    assert not page.by_id("l-story").find_all("span", **{"class": "req"})
    assert page.by_id("f-consent").get("aria-required") == "true"
    assert page.by_id("f-ok").get("aria-required") == "true"


# -- repeats -----------------------------------------------------------------------------


def test_repeat_entries_are_named_by_index() -> None:
    form = ALL_FORMS["every_type"]
    answers = {"kids": [{"kid_name": "小明", "visits": [{"visit_day": "2025-03-01"}]},
                        {"kid_name": "小红"}]}  # fmt: skip
    entries = {"kids": 2, "kids.0.visits": 1, "kids.1.visits": 0}
    page = render(form, answers=answers, entries=entries)
    for i in (0, 1):
        for name in ("kid_name", "kid_age", "kid_school"):
            assert page.named(f"kids.{i}.{name}"), f"kids.{i}.{name}"
        assert page.named(f"kids.{i}"), "an entry posts its marker even when empty"
    assert [n.get("value") for n in page.named("kids.0.visits.0.visit_day")] == ["2025-03-01"]
    assert page.named("kids.1.visits.0.visit_day") == []
    entry_boxes = [n for n in page.by_id("f-kids").children if isinstance(n, Node)]
    headings = [box.find_all("legend")[0].text for box in entry_boxes]
    assert headings == ["第 1 项", "第 2 项"]
    actions = [b.get("value") for b in page.root.find_all("button")
               if b.get("name") == "_action" and not b.in_template]  # fmt: skip
    assert {"add:kids", "remove:kids.0", "remove:kids.1", "add:kids.0.visits",
            "remove:kids.0.visits.0", "add:kids.1.visits"} <= set(actions)  # fmt: skip
    # the template forms.js clones: one entry with a placeholder index
    template = [n for n in page.root.find_all("template") if n.parent is page.by_id("q-kids")]
    assert len(template) == 1
    names = {n.get("name") for n in template[0].iter() if n.get("name")}
    assert "kids.__new__.kid_name" in names
    assert "kids.__new__" in names


def test_entry_counts_follow_min_and_max() -> None:
    form = ALL_FORMS["every_type"]
    fresh = render(form)
    assert fresh.named("kids.0.kid_name")
    assert not fresh.named("kids.1.kid_name")
    remove = [b for b in fresh.root.find_all("button") if b.get("value") == "remove:kids.0"]
    assert len(remove) == 1
    assert remove[0].has("hidden"), "the only entry of a min: 1 repeat cannot go"
    full = render(form, entries={"kids": 3})
    add = [b for b in full.root.find_all("button") if b.get("value") == "add:kids"]
    assert len(add) == 1
    assert add[0].has("disabled"), "max: 3 reached"


# -- errors ------------------------------------------------------------------------------


def test_errors_are_tied_to_their_fields_and_summarised() -> None:
    form = ALL_FORMS["every_type"]
    errors = {"name": "此题必答", "consent": "请选择", "kids.0.kid_age": "请填写整数",
              "kids": "至少需要 1 条", "ok": "请确认"}  # fmt: skip
    page = render(form, errors=errors, form_errors=["请修改下面标出的问题"])
    for key, message in errors.items():
        assert page.by_id(f"e-{key}").text == message
        assert "has-err" in (page.by_id(f"q-{key}").get("class") or "")
    for key in ("name", "kids.0.kid_age", "ok"):
        control = page.by_id(f"f-{key}")
        assert control.get("aria-invalid") == "true"
        assert errors[key] in page.described_by(control)
    assert page.described_by(page.by_id("f-name")) == ["提示", "此题必答"]
    for radio in page.named("consent"):
        assert radio.get("aria-invalid") == "true"
        assert "请选择" in page.described_by(radio)
    assert page.by_id("f-story").get("aria-invalid") is None
    summary = page.by_id("fs-summary")
    assert summary.get("role") == "alert"
    assert not summary.has("hidden")
    links = {a.get("href"): a.text for a in summary.find_all("a")}
    assert links["#f-name"] == "姓名：此题必答"
    assert links["#f-kids.0.kid_age"] == "孩子 第 1 项 · …的年龄：请填写整数"
    assert set(links) == {f"#f-{key}" for key in errors}
    for href in links:
        page.by_id(href[1:])  # every link has a target


def test_no_errors_no_summary() -> None:
    page = render(ALL_FORMS["every_type"])
    assert page.by_id("fs-summary").has("hidden")
    assert "aria-invalid" not in page.html


# -- answers come back ---------------------------------------------------------------------


def test_prefilled_answers_come_back() -> None:
    form = ALL_FORMS["every_type"]
    answers = {
        "name": "王师傅", "story": "第一行\n第二行", "age": "45", "wage": 5200.5,
        "born": "1980-02-03", "since": "2024-03-01", "arrived": "2015-01-01", "start": "07:30",
        "visit": "2025-03-08T10:15:00+08:00", "consent": "yes", "sector": "domestic",
        "paid": "no", "know": "2", "problems": ["wage_arrears", "injury"], "days": "sat sun",
        "priorities": ["injury", "wage_arrears"], "score": "6", "ok": "OK",
        "place": "39.9 116.4", "code": "ABC-1", "contract": "合同.pdf",
        "kids": [{"kid_name": "小明", "kid_age": 9, "kid_school": "yes"}],
    }  # fmt: skip
    page = render(form, answers=answers, calculated={"shown_total": "90"})

    def value(key: str) -> str | None:
        return page.by_id(f"f-{key}").get("value")

    assert value("name") == "王师傅"
    assert value("age") == "45"
    assert value("wage") == "5200.5"
    assert page.by_id("f-story").text == "第一行\n第二行"
    assert (value("born"), value("since"), value("arrived")) == ("1980-02-03", "2024-03", "2015")
    assert (value("start"), value("visit")) == ("07:30", "2025-03-08T10:15")
    checked = {(n.get("name"), n.get("value")) for n in page.root.find_all("input")
               if n.has("checked")}  # fmt: skip
    assert checked == {("consent", "yes"), ("paid", "no"), ("know", "2"),
                       ("problems", "wage_arrears"), ("problems", "injury"), ("ok", "OK"),
                       ("kids.0.kid_school", "yes")}  # fmt: skip
    selected = {(page_select.get("name"), o.get("value"))
                for page_select in page.root.find_all("select") if not page_select.in_template
                for o in page_select.find_all("option") if o.has("selected")}  # fmt: skip
    assert selected == {("sector", "domestic"), ("days", "sat"), ("days", "sun"),
                        ("priorities", "injury"), ("priorities", "wage_arrears")}  # fmt: skip
    ranks = [[o.get("value") for o in s.find_all("option") if o.has("selected")]
             for s in page.named("priorities")]  # fmt: skip
    assert ranks == [["injury"], ["wage_arrears"], []], "posted in rank order"
    assert value("score") == "6"
    assert page.by_id("r-score").get("value") == "6"
    assert (value("place"), value("code")) == ("39.9 116.4", "ABC-1")
    assert page.by_id("f-contract").get("data-file") == "合同.pdf"
    assert "已上传：合同.pdf" in page.described_by(page.by_id("f-contract"))[0]
    assert page.by_id("f-kids.0.kid_name").get("value") == "小明"
    assert page.by_id("f-kids.0.kid_age").get("value") == "9"
    assert page.by_id("f-shown_total").text == "90"
    # ${name} in labels shows the answer, wrapped for forms.js
    refs = [n for n in page.by_id("q-note_intro").iter() if n.has("data-ref")]
    assert [(n.get("data-ref"), n.text) for n in refs] == [("name", "王师傅")]
    kid_label = page.by_id("l-kids.0.kid_age")
    assert [(n.get("data-ref"), n.text) for n in kid_label.iter() if n.has("data-ref")] == [
        ("kids.0.kid_name", "小明")]  # fmt: skip


def test_defaults_fill_a_fresh_page_only() -> None:
    form = ALL_FORMS["every_type"]
    fresh = render(form)
    assert fresh.by_id("f-city").get("value") == "北京"
    assert fresh.by_id("fs-form").has("data-fresh")
    again = render(form, answers={"name": "王", "city": ""})
    assert again.by_id("f-city").get("value") == "", "an emptied answer stays empty"
    assert not again.by_id("fs-form").has("data-fresh")


def test_irrelevant_questions_are_hidden_and_calculated_values_shown() -> None:
    form = ALL_FORMS["every_type"]
    page = render(form, irrelevant={"work", "kids.0.kid_school"})
    assert page.by_id("q-work").has("hidden")
    assert page.by_id("q-kids.0.kid_school").has("hidden")
    assert not page.by_id("q-name").has("hidden")
    assert not page.by_id("f-employer").shown


def test_hidden_fields_of_the_submission() -> None:
    page = render(ALL_FORMS["every_type"], lang="en")
    form = page.by_id("fs-form")
    assert (form.get("method"), form.get("action"), form.get("enctype")) == (
        "post", "/forms/every_type", "multipart/form-data")  # fmt: skip
    hidden = {n.get("name"): n.get("value") for n in form.find_all("input", type="hidden")
              if (n.get("name") or "").startswith("_")}  # fmt: skip
    assert hidden == {"_id": SUBMISSION_ID, "_started_at": "2025-03-08T09:30:00+08:00",
                      "_csrf": "token.signature", "_lang": "en"}  # fmt: skip
    first_button = form.find_all("button")[0]
    assert first_button.get("name") is None, "Enter in a text box must submit, not add an entry"


# -- escaping -----------------------------------------------------------------------------


def test_user_text_is_escaped_everywhere() -> None:
    form = ALL_FORMS["every_type"]
    answers = {"name": XSS, "story": "</textarea>" + XSS, "kids": [{"kid_name": XSS}]}
    page = render(form, answers=answers, errors={"name": XSS}, calculated={"shown_total": XSS},
                  form_errors=[XSS])  # fmt: skip
    assert "<script>alert" not in page.html
    assert page.html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 6
    assert page.by_id("f-name").get("value") == XSS
    assert page.by_id("f-story").text == "</textarea>" + XSS
    assert "<script>alert('title')</script>" in page.by_id("main").find_all("h1")[0].text
    scripts = [s for s in page.root.find_all("script") if not s.has("src")]
    assert {s.get("type") for s in scripts} == {"application/json"}
    definition = json.loads(page.by_id("fs-definition").text)
    assert definition == json.loads(json.dumps(form_definition(form)))
    assert "</" not in page.by_id("fs-definition").text
    for name in ("base.html", "form.html", "questions.html", "done.html"):
        assert not re.search(r"\|\s*safe\b", (TEMPLATES / name).read_text(encoding="utf-8")), name


# -- languages ----------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh-Hans", "en"])
def test_language_switch_lists_the_forms_languages(lang: str) -> None:
    form = SAMPLE_FORMS["worker_intake"]
    page = render(form, lang)
    assert page.root.find_all("html")[0].get("lang") == lang
    nav = page.root.find_all("nav")[0]
    links = [(a.get("href"), a.text, a.get("aria-current")) for a in nav.find_all("a")]
    assert links == [(f"?lang={tag}", LANGUAGE_NAMES[tag], "page" if tag == lang else None)
                     for tag in form.languages]  # fmt: skip
    assert page.root.find_all("h1")[0].text == form.text(form.title, lang)
    submit = page.by_id("fs-submit")
    assert submit.text == {"zh-Hans": "提交", "en": "Submit"}[lang]


def test_one_language_form_has_no_switch(write_form: Callable[[str, str], Path]) -> None:
    form, problems = load_text("id: solo\nversion: 1\ntitle: Solo\nquestions:\n"
                               "  - {name: a, type: text, label: A}\n")  # fmt: skip
    assert form is not None, problems
    page = render(form, "en", languages=[("en", "English")])
    assert page.root.find_all("nav") == []


PICKS = [
    # requested, Accept-Language, available, expected
    ("zh-CN", None, ("zh-Hans", "en"), "zh-Hans"),
    ("zh-Hans-CN", None, ("zh-Hans", "en"), "zh-Hans"),
    ("zh-SG", None, ("en", "zh-Hans"), "zh-Hans"),
    ("zh", None, ("en", "zh-Hans"), "zh-Hans"),
    ("zh-TW", None, ("zh-Hans", "en"), "zh-Hans"),
    ("zh-TW", None, ("zh-Hans", "zh-Hant", "en"), "zh-Hant"),
    ("zh-HK", None, ("zh-Hans", "zh-Hant"), "zh-Hant"),
    ("zh-Hant-TW", None, ("zh-Hans", "zh-Hant"), "zh-Hant"),
    ("en-GB", None, ("zh-Hans", "en"), "en"),
    ("EN-us", None, ("zh-Hans", "en"), "en"),
    ("en", None, ("zh-Hans",), "zh-Hans"),
    ("garbage", None, ("zh-Hans", "en"), "zh-Hans"),
    ("<script>", None, ("zh-Hans", "en"), "zh-Hans"),
    ("", None, ("zh-Hans", "en"), "zh-Hans"),
    (None, None, ("zh-Hans", "en"), "zh-Hans"),
    (None, "", ("en", "zh-Hans"), "en"),
    (None, "en-GB,en;q=0.9", ("zh-Hans", "en"), "en"),
    (None, "zh-CN,zh;q=0.9,en;q=0.8", ("en", "zh-Hans"), "zh-Hans"),
    (None, "fr-FR, en;q=0.5", ("zh-Hans", "en"), "en"),
    (None, "en;q=0.2, zh-TW;q=0.8", ("zh-Hans", "en"), "zh-Hans"),
    (None, "zh;q=0, en", ("zh-Hans", "en"), "en"),
    (None, "*", ("zh-Hans", "en"), "zh-Hans"),
    (None, ";;;q=abc,,", ("zh-Hans", "en"), "zh-Hans"),
    ("fr", "en-US", ("zh-Hans", "en"), "en"),
    ("en", "zh-CN", ("zh-Hans", "en"), "en"),
]


@pytest.mark.parametrize(("requested", "accept", "available", "expected"), PICKS)
def test_pick_language(requested: str | None, accept: str | None, available: tuple[str, ...],
                       expected: str) -> None:  # fmt: skip
    assert pick_language(requested, accept, available) == expected


def test_translator() -> None:
    zh, en = translator("zh-Hans"), translator("en")
    assert (zh("Submit"), en("Submit")) == ("提交", "Submit")
    assert (zh("Entry {n}", n=2), en("Entry {n}", n=2)) == ("第 2 项", "Entry 2")
    assert translator("zh-Hant")("Submit") == "提交", "Chinese falls back to zh-Hans words"
    assert zh("Not a known text") == "Not a known text"
    assert zh("Outreach forms") == "外来务工人员服务表单"


def test_every_interface_text_is_translated() -> None:
    """Each t("...") of the templates has a Simplified Chinese translation."""
    used = set()
    for path in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*(?:"([^"]+)"|'([^']+)')""", path.read_text("utf-8")))
    texts = {a or b for a, b in used}
    assert "Submit" in texts
    assert "Entry {n}" in texts
    missing = sorted(t for t in texts if "zh-Hans" not in MESSAGES.get(t, {}))
    assert not missing


# -- other pages ----------------------------------------------------------------------------


def test_done_page() -> None:
    form = SAMPLE_FORMS["worker_intake"]
    html = ENV.get_template("done.html").render(form=form, lang="zh-Hans",
                                                t=translator("zh-Hans"),
                                                submission_id=SUBMISSION_ID)  # fmt: skip
    page = parse(html)
    assert SUBMISSION_ID in page.by_id("main").text
    hrefs = [a.get("href") for a in page.by_id("main").find_all("a")]
    assert hrefs == ["/forms/worker_intake?lang=zh-Hans", "/?lang=zh-Hans"]
    assert page.root.find_all("title")[0].text.startswith("谢谢")


def test_base_works_without_the_form_context() -> None:
    """error.html extends base.html with neither `t` nor `static_url`."""
    html = ENV.get_template("error.html").render(status=404, title_zh="页面不存在",
                                                 title_en="Not found", message="no form",
                                                 lang="zh-Hans")  # fmt: skip
    page = parse(html)
    sheets = [n.get("href") for n in page.root.find_all("link") if n.get("rel") == "stylesheet"]
    assert sheets == ["/static/forms.css"]
    assert "Outreach forms" in page.root.find_all("header")[0].text


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node.js")
def test_forms_js_parses() -> None:
    result = subprocess.run(["node", "--check", str(STATIC / "forms.js")], capture_output=True,
                            text=True, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_static_files_stay_small() -> None:
    """The page-weight budget: forms.js under 10 KB and forms.css under 4 KB gzipped."""
    import gzip

    sizes = {name: len(gzip.compress((STATIC / name).read_bytes(), 9))
             for name in ("forms.js", "forms.css")}  # fmt: skip
    assert sizes["forms.js"] < 10 * 1024, sizes
    assert sizes["forms.css"] < 4 * 1024, sizes
