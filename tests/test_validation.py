"""Validation: posted values become clean typed answers, or per-field errors with codes."""

from __future__ import annotations

import functools
import textwrap
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forms_server.coerce import Invalid, coerce, coercer
from forms_server.loader import load_forms, load_text
from forms_server.model import Form
from forms_server.uuids import seeded_uuids
from forms_server.validation import FieldError, Result, from_form_data, validate

from .conftest import FORMS_DIR

#: 01:00 on 16 March in China is still 15 March in UTC: today() must be the 16th.
NOW = datetime(2026, 3, 16, 1, 0, tzinfo=timezone(timedelta(hours=8)))


@functools.cache
def _form(text: str) -> Form:
    form, problems = load_text(textwrap.dedent(text).lstrip("\n"), "inline.yaml")
    assert form is not None, "\n".join(p.format() for p in problems)
    return form


def _validate(text: str, raw: dict[str, Any], lang: str = "en", now: datetime = NOW) -> Result:
    return validate(_form(text), raw, now=now, lang=lang)


def _errors(result: Result) -> list[tuple[str, tuple[int, ...], str]]:
    return [(e.name, e.index, e.code) for e in result.errors]


# -- coercion of every type ------------------------------------------------------------------

TYPES = """
id: types
version: 1
title: Types
questions:
  - {name: q_integer, type: integer, label: I}
  - {name: q_decimal, type: decimal, label: D}
  - {name: q_date, type: date, label: D}
  - {name: q_time, type: time, label: T}
  - {name: q_datetime, type: datetime, label: DT}
  - {name: q_one, type: select_one, choices: colours, label: S}
  - {name: q_many, type: select_multiple, choices: colours, label: M}
  - {name: q_rank, type: rank, choices: colours, label: R}
  - {name: q_range, type: range, parameters: {start: 0, end: 10, step: 2}, label: R}
  - {name: q_quarters, type: range, parameters: {start: 0, end: 1, step: 0.25}, label: R}
  - {name: q_ack, type: acknowledge, label: A}
  - {name: q_geo, type: geopoint, label: G}
  - {name: q_text, type: text, label: T}
  - {name: q_barcode, type: barcode, label: B}
  - {name: q_image, type: image, label: I}
  - {name: q_file, type: file, label: F}
  - {name: q_hidden, type: hidden}
  - {name: q_note, type: note, label: N}
  - name: q_group
    type: group
    label: G
    questions:
      - {name: q_inner, type: text, label: I}
  - {name: q_calc, type: calculate, calculation: "1 + 1"}
choices:
  colours:
    - {value: red, label: Red}
    - {value: green, label: Green}
    - {value: blue, label: Blue}
    - {value: '7', label: Seven}
"""

GOOD = [
    ("q_integer", 3, 3),
    ("q_integer", "42", 42),
    ("q_integer", " -7 ", -7),
    ("q_integer", "+5", 5),
    ("q_integer", "3.0", 3),
    ("q_integer", 3.0, 3),
    ("q_integer", "３５", 35),
    ("q_integer", 2**63 - 1, 2**63 - 1),
    ("q_integer", "", None),
    ("q_integer", "   ", None),
    ("q_integer", None, None),
    ("q_decimal", "3.5", 3.5),
    ("q_decimal", 2, 2.0),
    ("q_decimal", ".5", 0.5),
    ("q_decimal", "-0.25", -0.25),
    ("q_decimal", "1e3", 1000.0),
    ("q_date", "2024-02-29", "2024-02-29"),
    ("q_date", " 2024-01-05 ", "2024-01-05"),
    ("q_time", "08:30", "08:30"),
    ("q_time", "23:59:59", "23:59:59"),
    ("q_datetime", "2024-05-01T10:00", "2024-05-01T10:00:00"),
    ("q_datetime", "2024-05-01T10:00:00Z", "2024-05-01T10:00:00+00:00"),
    ("q_datetime", "2024-05-01 10:00:30+08:00", "2024-05-01T10:00:30+08:00"),
    ("q_one", "red", "red"),
    ("q_one", " red ", "red"),
    ("q_one", 7, "7"),
    ("q_many", "blue red", ["red", "blue"]),
    ("q_many", ["blue", "red"], ["red", "blue"]),
    ("q_many", ["7"], ["7"]),
    ("q_many", [], None),
    ("q_many", "", None),
    ("q_rank", ["blue", "red"], ["blue", "red"]),
    ("q_rank", "green red blue", ["green", "red", "blue"]),
    ("q_range", 4, 4),
    ("q_range", "10", 10),
    ("q_range", "0", 0),
    ("q_range", 6.0, 6),
    ("q_quarters", "0.75", 0.75),
    ("q_quarters", 1, 1.0),
    ("q_ack", "OK", "OK"),
    ("q_ack", True, "OK"),
    ("q_ack", False, None),
    ("q_geo", "31.2 121.5", "31.2 121.5"),
    ("q_geo", " 31.2  121.5 4 10 ", "31.2 121.5 4 10"),
    ("q_geo", [31.2, -121.5], "31.2 -121.5"),
    ("q_geo", "-90 180", "-90 180"),
    ("q_text", "王 小明", "王 小明"),
    ("q_text", "  spaces kept  ", "  spaces kept  "),
    ("q_text", "line 1\r\nline 2\rline 3", "line 1\nline 2\nline 3"),
    ("q_text", "tab\there", "tab\there"),
    ("q_text", "x" * 10_000, "x" * 10_000),
    ("q_barcode", "6901234567892", "6901234567892"),
    ("q_image", "photo.jpg", "photo.jpg"),
    ("q_image", "5f0c/photo_ab12.jpg", "5f0c/photo_ab12.jpg"),
    ("q_file", "report.pdf", "report.pdf"),
    ("q_hidden", "from-the-page", "from-the-page"),
]


@pytest.mark.parametrize(("name", "posted", "stored"), GOOD)
def test_each_type_stores_a_good_value_typed(name: str, posted: Any, stored: Any) -> None:
    result = _validate(TYPES, {name: posted})
    assert result.errors == ()
    assert result.answers[name] == stored
    assert type(result.answers[name]) is type(stored)


BAD = [
    ("q_integer", 3.5, "type"),
    ("q_integer", "3.5", "type"),
    ("q_integer", "abc", "type"),
    ("q_integer", "1e3", "type"),
    ("q_integer", True, "type"),
    ("q_integer", [1], "type"),
    ("q_integer", 2**63, "type"),
    ("q_integer", "9" * 30, "type"),
    ("q_decimal", "NaN", "type"),
    ("q_decimal", "inf", "type"),
    ("q_decimal", float("nan"), "type"),
    ("q_decimal", float("-inf"), "type"),
    ("q_decimal", "1e999", "type"),
    ("q_decimal", 10**400, "type"),
    ("q_decimal", "1,5", "type"),
    ("q_decimal", False, "type"),
    ("q_date", "2023-02-29", "type"),
    ("q_date", "2024-13-01", "type"),
    ("q_date", "2024-1-5", "type"),
    ("q_date", "20240105", "type"),
    ("q_date", 20240105, "type"),
    ("q_date", "2024-01-05T00:00", "type"),
    ("q_date", "２０２４-01-05", "type"),
    ("q_time", "24:00", "type"),
    ("q_time", "8:30", "type"),
    ("q_time", "08:60", "type"),
    ("q_time", "08:30:00+08:00", "type"),
    ("q_datetime", "2024-05-01", "type"),
    ("q_datetime", "2024-02-30T10:00", "type"),
    ("q_datetime", "yesterday", "type"),
    ("q_one", "purple", "choice"),
    ("q_one", "red green", "choice"),
    ("q_one", ["red"], "type"),
    ("q_one", True, "type"),
    ("q_many", "red purple", "choice"),
    ("q_many", ["red", "red"], "duplicate"),
    ("q_many", "red red", "duplicate"),
    ("q_many", {"red": True}, "type"),
    ("q_many", [["red"]], "type"),
    ("q_rank", ["blue", "blue"], "duplicate"),
    ("q_rank", ["white"], "choice"),
    ("q_range", 3, "range"),
    ("q_range", 12, "range"),
    ("q_range", "-2", "range"),
    ("q_range", "x", "type"),
    ("q_quarters", 0.3, "range"),
    ("q_quarters", 4.49423283715579e307, "range"),  # its count of steps would overflow
    ("q_ack", "yes", "type"),
    ("q_ack", "ok", "type"),
    ("q_geo", "91 0", "type"),
    ("q_geo", "0 181", "type"),
    ("q_geo", "31.2", "type"),
    ("q_geo", "north east", "type"),
    ("q_geo", "1 2 3 -1", "type"),
    ("q_geo", "1 2 3 4 5", "type"),
    ("q_geo", 31.2, "type"),
    ("q_text", "bell\x07", "type"),
    ("q_text", "nul\x00", "type"),
    ("q_text", "c1\x85", "type"),
    ("q_text", "surrogate\ud800", "type"),
    ("q_text", "x" * 10_001, "too_long"),
    ("q_text", 5, "type"),
    ("q_text", True, "type"),
    ("q_barcode", 6901234567892, "type"),
    ("q_image", "../etc/passwd", "type"),
    ("q_image", "/etc/passwd", "type"),
    ("q_image", "a\\b.jpg", "type"),
    ("q_image", "x" * 256, "type"),
    ("q_file", ["a.pdf"], "type"),
    ("q_hidden", 3, "type"),
]


@pytest.mark.parametrize(("name", "posted", "code"), BAD)
def test_each_type_refuses_a_bad_value_with_a_code(name: str, posted: Any, code: str) -> None:
    result = _validate(TYPES, {name: posted})
    assert _errors(result) == [(name, (), code)]
    assert result.answers[name] is None
    assert result.errors[0].message
    assert not result.ok


def test_every_answer_bearing_question_has_a_key_and_nothing_else_does() -> None:
    result = _validate(TYPES, {})
    assert result.ok
    assert set(result.answers) == {
        "q_integer",
        "q_decimal",
        "q_date",
        "q_time",
        "q_datetime",
        "q_one",
        "q_many",
        "q_rank",
        "q_range",
        "q_quarters",
        "q_ack",
        "q_geo",
        "q_text",
        "q_barcode",
        "q_image",
        "q_file",
        "q_hidden",
        "q_inner",
        "q_calc",
    }


@pytest.mark.parametrize(
    ("posted", "errors"),
    [
        ({"q_note": "hello"}, []),
        ({"q_group": "hello"}, []),
        ({"q_group": {"q_inner": "x"}}, [("q_group", (), "type")]),
        ({"q_calc": "999"}, []),
        ({"nonsense": "1"}, [("nonsense", (), "unknown")]),
        ({"_id": "1"}, [("_id", (), "unknown")]),
    ],
)
def test_notes_groups_and_calculates_ignore_posted_values_unknown_names_are_errors(
    posted: dict[str, Any], errors: list[tuple[str, tuple[int, ...], str]]
) -> None:
    result = _validate(TYPES, posted)
    assert _errors(result) == errors
    assert result.answers["q_calc"] == "2"
    assert "q_note" not in result.answers
    assert "q_group" not in result.answers


@pytest.mark.parametrize(
    ("lang", "message"),
    [("zh-Hans", "请填写整数"), ("en", "Enter a whole number"), ("fr", "请填写整数")],
)
def test_built_in_messages_follow_the_language_then_the_form_default(
    lang: str, message: str
) -> None:
    form = """
        id: lang
        version: 1
        title: L
        languages: [zh-Hans, en]
        questions:
          - {name: n, type: integer, label: N}
        """
    result = _validate(form, {"n": "many"}, lang=lang)
    assert [e.message for e in result.errors] == [message]


CHOICE_TEXTS = st.sampled_from(["red", "green", "blue", "7", " red", "red ", "", "grey", "a b"])
POSTED = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([2**63 - 1, 2**63, -(2**63), 10**400, 0]),
    st.floats(),
    st.text(max_size=12),
    CHOICE_TEXTS,
    st.sampled_from(["12", " 12 ", "1e3", "2026-03-15", "10:30", "OK", "a\r\nb", "a\x00"]),
    st.lists(st.one_of(CHOICE_TEXTS, st.integers(0, 9), st.none()), max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@given(name=st.sampled_from(sorted({name for name, _, _ in GOOD})), value=POSTED)
@settings(max_examples=600)
def test_a_questions_coercer_reads_a_value_as_coerce_does(name: str, value: Any) -> None:
    form = _form(TYPES)
    q = form.by_name[name]
    choices = {c.value: i for i, c in enumerate(q.choices)}

    def outcome(read: Any) -> Any:
        try:
            return ("ok", repr(read()))
        except Invalid as exc:
            return ("invalid", exc.code, exc.key, exc.params)

    expected = outcome(lambda: coerce(q, value, choices))
    assert outcome(lambda: coercer(q, choices)(value)) == expected


# -- choice lists and choice filters ----------------------------------------------------------

PLACES = """
id: places
version: 1
title: Places
questions:
  - {name: province, type: select_one, choices: provinces, label: P}
  - name: city
    type: select_one
    choices: cities
    label: C
    choice_filter: province = ${province}
  - name: visited
    type: select_multiple
    choices: cities
    label: V
    choice_filter: province = ${province} and name != 'kaifeng'
choices:
  provinces:
    - {value: henan, label: Henan}
    - {value: hubei, label: Hubei}
  cities:
    - {value: zhengzhou, label: Zhengzhou, province: henan}
    - {value: kaifeng, label: Kaifeng, province: henan}
    - {value: wuhan, label: Wuhan, province: hubei}
"""


@pytest.mark.parametrize(
    ("posted", "errors"),
    [
        ({"province": "henan", "city": "zhengzhou"}, []),
        ({"province": "hubei", "city": "wuhan"}, []),
        ({"province": "henan", "city": "wuhan"}, [("city", (), "choice")]),
        ({"province": "henan", "city": "paris"}, [("city", (), "choice")]),
        ({"city": "wuhan"}, [("city", (), "choice")]),
        ({"province": "henan", "visited": "zhengzhou"}, []),
        ({"province": "henan", "visited": ["zhengzhou", "wuhan"]}, [("visited", (), "choice")]),
        ({"province": "henan", "visited": "kaifeng"}, [("visited", (), "choice")]),
        ({"province": "shanxi"}, [("province", (), "choice")]),
    ],
)
def test_a_choice_must_be_in_the_list_after_its_filter(
    posted: dict[str, Any], errors: list[tuple[str, tuple[int, ...], str]]
) -> None:
    assert _errors(_validate(PLACES, posted)) == errors


# -- relevance --------------------------------------------------------------------------------

RELEVANCE = """
id: relevance
version: 1
title: R
questions:
  - {name: summary, type: calculate, calculation: "concat('wage=', ${wage})"}
  - {name: consent, type: select_one, choices: yes_no, label: C}
  - {name: details, type: text, label: D, relevant: "${consent} = 'yes'", required: true}
  - name: job
    type: group
    label: Job
    relevant: ${consent} = 'yes'
    questions:
      - {name: wage, type: decimal, label: W, constraint: ". >= 0"}
      - {name: employer, type: text, label: E, relevant: "${wage} > 0", required: true}
choices:
  yes_no:
    - {value: 'yes', label: 'Yes'}
    - {value: 'no', label: 'No'}
"""


@pytest.mark.parametrize(
    ("posted", "answers", "errors"),
    [
        (
            {"consent": "no", "details": "x", "wage": "abc", "employer": "ACME"},
            {"details": None, "wage": None, "employer": None, "summary": "wage="},
            [],
        ),
        (
            {"consent": "yes", "details": "x", "wage": "0", "employer": "ACME"},
            {"details": "x", "wage": 0.0, "employer": None, "summary": "wage=0"},
            [],
        ),
        (
            {"consent": "yes", "details": "x", "wage": "1200.5", "employer": "ACME"},
            {"details": "x", "wage": 1200.5, "employer": "ACME", "summary": "wage=1200.5"},
            [],
        ),
        (
            {"consent": "yes", "wage": "abc"},
            {"details": None, "wage": None, "employer": None},
            [("details", (), "required"), ("wage", (), "type")],
        ),
        (
            {"consent": "yes", "details": "x", "wage": "-1"},
            {"wage": -1.0, "employer": None},
            [("wage", (), "constraint")],
        ),
        (
            {"consent": "yes", "details": "x", "wage": "10"},
            {"employer": None},
            [("employer", (), "required")],
        ),
    ],
)
def test_irrelevant_answers_are_dropped_and_not_validated(
    posted: dict[str, Any],
    answers: dict[str, Any],
    errors: list[tuple[str, tuple[int, ...], str]],
) -> None:
    result = _validate(RELEVANCE, posted)
    assert {k: result.answers[k] for k in answers} == answers
    assert _errors(result) == errors


@pytest.mark.parametrize(
    ("posted", "irrelevant"),
    [
        ({"consent": "no"}, {("details", ()), ("job", ()), ("wage", ()), ("employer", ())}),
        ({"consent": "yes", "wage": "0"}, {("employer", ())}),
        ({"consent": "yes", "wage": "5"}, set()),
    ],
)
def test_the_result_lists_what_is_irrelevant_for_a_page_to_hide(
    posted: dict[str, Any], irrelevant: set[tuple[str, tuple[int, ...]]]
) -> None:
    assert _validate(RELEVANCE, posted).irrelevant == irrelevant


def test_irrelevant_repeat_entries_are_listed_with_their_index() -> None:
    result = _validate(
        HOUSEHOLD,
        {
            "household_size": 2,
            "members": [
                {"member_name": "A", "member_age": 5},
                {"member_name": "B", "member_age": 30},
            ],
        },
    )
    assert result.irrelevant == {("works", (0,))}
    phones = _validate(PHONES, {"has_phone": "no", "phones": [{"phone": "1"}]})
    assert phones.irrelevant == {("phones", ())}


# -- required ---------------------------------------------------------------------------------

REQUIRED = """
id: required
version: 1
title: R
languages: [zh-Hans, en]
questions:
  - {name: name, type: text, label: N, required: true}
  - {name: age, type: integer, label: A}
  - name: phone
    type: text
    label: P
    required: ${age} >= 18
    required_message: {zh-Hans: 成年人请留电话, en: Adults leave a phone number}
  - {name: langs, type: select_multiple, choices: langs, label: L, required: true}
  - {name: agree, type: acknowledge, label: A, required: true}
choices:
  langs:
    - {value: zh, label: Chinese}
    - {value: en, label: English}
"""
_FILLED = {"name": "x", "langs": ["zh"], "agree": "OK"}


@pytest.mark.parametrize(
    ("posted", "lang", "errors"),
    [
        (
            {},
            "en",
            [
                ("name", "This question is required"),
                ("langs", "This question is required"),
                ("agree", "This question is required"),
            ],
        ),
        ({**_FILLED, "name": ""}, "zh-Hans", [("name", "此题必答")]),
        ({**_FILLED, "name": "   "}, "en", []),
        ({**_FILLED, "langs": []}, "en", [("langs", "This question is required")]),
        ({**_FILLED, "agree": False}, "en", [("agree", "This question is required")]),
        ({**_FILLED, "age": 17}, "en", []),
        ({**_FILLED, "age": 18}, "en", [("phone", "Adults leave a phone number")]),
        ({**_FILLED, "age": 18}, "zh-Hans", [("phone", "成年人请留电话")]),
        ({**_FILLED, "age": 18}, "mn", [("phone", "成年人请留电话")]),
        ({**_FILLED, "age": 18, "phone": "138"}, "en", []),
    ],
)
def test_required_as_a_flag_or_an_expression_in_the_persons_language(
    posted: dict[str, Any], lang: str, errors: list[tuple[str, str]]
) -> None:
    result = _validate(REQUIRED, posted, lang=lang)
    assert [(e.name, e.message) for e in result.errors] == errors
    assert all(e.code == "required" for e in result.errors)


# -- constraints ------------------------------------------------------------------------------

CONSTRAINTS = """
id: constraints
version: 1
title: C
languages: [zh-Hans, en]
questions:
  - name: age
    type: integer
    label: A
    constraint: . >= 16 and . < 120
    constraint_message: {zh-Hans: 年龄须在16到119岁之间, en: Age must be 16 to 119}
  - {name: birth_date, type: date, label: B, constraint: ". <= today()"}
  - {name: total, type: decimal, label: T}
  - {name: part, type: decimal, label: P, constraint: ". <= ${total}"}
  - name: langs
    type: select_multiple
    choices: langs
    label: L
    constraint: count-selected(.) <= 2
choices:
  langs:
    - {value: zh, label: Chinese}
    - {value: en, label: English}
    - {value: mn, label: Mongolian}
"""


@pytest.mark.parametrize(
    ("posted", "lang", "errors"),
    [
        ({"age": 30}, "en", []),
        ({"age": 12}, "en", [("age", "Age must be 16 to 119")]),
        ({"age": 12}, "zh-Hans", [("age", "年龄须在16到119岁之间")]),
        ({"age": 120}, "en", [("age", "Age must be 16 to 119")]),
        ({"birth_date": "2026-03-16"}, "en", []),
        ({"birth_date": "2026-03-17"}, "en", [("birth_date", "This answer is not allowed")]),
        ({"birth_date": "2026-03-17"}, "zh-Hans", [("birth_date", "答案不符合要求")]),
        ({"total": 10, "part": 10}, "en", []),
        ({"total": 10, "part": 11}, "en", [("part", "This answer is not allowed")]),
        ({"langs": "zh en"}, "en", []),
        ({"langs": "zh en mn"}, "en", [("langs", "This answer is not allowed")]),
        ({}, "en", []),
    ],
)
def test_a_constraint_checks_the_answer_as_dot_with_its_own_message(
    posted: dict[str, Any], lang: str, errors: list[tuple[str, str]]
) -> None:
    result = _validate(CONSTRAINTS, posted, lang=lang)
    assert [(e.name, e.message) for e in result.errors] == errors
    assert all(e.code == "constraint" for e in result.errors)


def test_today_is_the_date_of_the_given_moment_in_its_own_zone() -> None:
    late = datetime(2026, 3, 16, 23, 30, tzinfo=timezone(timedelta(hours=-5)))  # 17th in UTC
    assert _validate(CONSTRAINTS, {"birth_date": "2026-03-17"}, now=late).errors != ()
    assert _validate(CONSTRAINTS, {"birth_date": "2026-03-16"}, now=late).ok


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        validate(_form(CONSTRAINTS), {}, now=datetime(2026, 3, 16), lang="en")


# -- calculations -----------------------------------------------------------------------------

CALCULATIONS = """
id: calculations
version: 1
title: C
languages: [zh-Hans, en]
instance_name: concat(${name}, ' (', ${age}, ')')
questions:
  - {name: label, type: calculate, calculation: "concat('age ', ${age}, ', doubled ', ${double})"}
  - {name: double, type: calculate, calculation: "${half} * 2"}
  - {name: half, type: decimal, label: H}
  - {name: name, type: text, label: N}
  - {name: birth_date, type: date, label: B}
  - {name: age, type: calculate, calculation: "int((today() - ${birth_date}) div 365.25)"}
  - {name: adult, type: text, label: A, relevant: "${age} >= 18"}
  - {name: next_age, type: integer, label: N, read_only: true, calculation: "${age} + 1"}
  - {name: nothing, type: calculate, calculation: "if(${half} = '', '', 'some')"}
  - {name: sector, type: select_one, choices: sectors, label: S}
  - {name: sector_name, type: calculate, calculation: "jr:choice-name(${sector}, '${sector}')"}
choices:
  sectors:
    - {value: construction, label: {zh-Hans: 建筑, en: Construction}}
    - {value: domestic, label: {zh-Hans: 家政, en: Domestic work}}
"""


@pytest.mark.parametrize(
    ("posted", "lang", "answers"),
    [
        (
            {"half": "1.5", "birth_date": "2000-03-01"},
            "en",
            {
                "double": "3",
                "age": "26",
                "label": "age 26, doubled 3",
                "next_age": 27,
                "nothing": "some",
            },
        ),
        (
            {
                "half": 0.25,
                "birth_date": "2000-03-17",
                "double": "99",
                "age": "99",
                "next_age": "not a number",
            },
            "en",
            {"double": "0.5", "age": "25", "next_age": 26},
        ),
        ({}, "en", {"double": "NaN", "age": "NaN", "next_age": None, "nothing": None}),
        ({"sector": "domestic"}, "zh-Hans", {"sector_name": "家政"}),
        ({"sector": "domestic"}, "en", {"sector_name": "Domestic work"}),
        ({}, "en", {"sector_name": None}),
    ],
)
def test_calculations_are_recomputed_on_the_server_in_dependency_order(
    posted: dict[str, Any], lang: str, answers: dict[str, Any]
) -> None:
    result = _validate(CALCULATIONS, posted, lang=lang)
    assert result.ok
    assert {k: result.answers[k] for k in answers} == answers


ONCE = """
id: once
version: 1
title: O
questions:
  - {name: name, type: text, label: N}
  - {name: case_id, type: calculate, calculation: "once(concat('C-', ${name}))"}
  - {name: shout, type: calculate, calculation: "concat(${name}, '!')"}
  - name: size
    type: integer
    label: S
    read_only: true
    calculation: once(string-length(${name}))
"""


@pytest.mark.parametrize(
    ("posted", "answers"),
    [
        ({"name": "li"}, {"case_id": "C-li", "shout": "li!", "size": 2}),
        (
            {"name": "li", "case_id": "C-wang", "shout": "wang!", "size": 4},
            {"case_id": "C-wang", "shout": "li!", "size": 4},
        ),
        ({"name": "li", "case_id": 7, "size": "5"}, {"case_id": "7", "size": 5}),
        ({"name": "li", "case_id": "bad\x00", "size": "many"}, {"case_id": "C-li", "size": 2}),
        ({"name": "li", "case_id": ["x"], "size": 2.5}, {"case_id": "C-li", "size": 2}),
    ],
)
def test_once_keeps_the_value_the_page_computed_and_nothing_else_is_taken(
    posted: dict[str, Any], answers: dict[str, Any]
) -> None:
    result = _validate(ONCE, posted)
    assert result.errors == ()
    assert {k: result.answers[k] for k in answers} == answers


@pytest.mark.parametrize(
    ("posted", "adult"),
    [
        ({"birth_date": "2000-01-01", "adult": "yes"}, "yes"),
        ({"birth_date": "2010-01-01", "adult": "yes"}, None),
        ({"adult": "yes"}, None),
    ],
)
def test_relevance_can_depend_on_a_calculation(posted: dict[str, Any], adult: Any) -> None:
    assert _validate(CALCULATIONS, posted).answers["adult"] == adult


@pytest.mark.parametrize(
    ("posted", "name"),
    [
        ({"name": "Li", "birth_date": "2000-01-01"}, "Li (26)"),
        ({"name": "Li"}, "Li (NaN)"),
    ],
)
def test_instance_name_is_evaluated_as_a_string(posted: dict[str, Any], name: str) -> None:
    assert _validate(CALCULATIONS, posted).instance_name == name


@pytest.mark.parametrize(
    ("instance_name", "expected"),
    [("", None), ("instance_name: ${nick}", None), ("instance_name: \"'fixed'\"", "fixed")],
)
def test_instance_name_is_none_without_one_or_when_empty(
    instance_name: str, expected: str | None
) -> None:
    form = f"""
id: named
version: 1
title: N
{instance_name}
questions:
  - {{name: nick, type: text, label: N}}
"""
    assert _validate(form, {}).instance_name == expected


# -- repeats ----------------------------------------------------------------------------------

HOUSEHOLD = """
id: household
version: 1
title: H
questions:
  - {name: household_size, type: integer, label: H}
  - name: members
    type: repeat
    label: M
    repeat_count: ${household_size}
    questions:
      - {name: member_name, type: text, label: N, required: true}
      - {name: member_age, type: integer, label: A, constraint: ". < 130"}
      - {name: works, type: select_one, choices: yes_no, label: W, relevant: "${member_age} >= 16"}
      - {name: age_next_year, type: calculate, calculation: "${member_age} + 1"}
      - {name: position_label, type: calculate, calculation: "concat('#', position(..))"}
  - {name: total_age, type: calculate, calculation: "sum(${member_age})"}
  - {name: member_count, type: calculate, calculation: "count(${members})"}
choices:
  yes_no:
    - {value: 'yes', label: 'Yes'}
    - {value: 'no', label: 'No'}
"""


def test_repeat_entries_are_validated_and_calculated_one_by_one() -> None:
    result = _validate(
        HOUSEHOLD,
        {
            "household_size": 2,
            "members": [
                {"member_name": "Wang", "member_age": "40", "works": "yes", "age_next_year": "1"},
                {"member_name": "Xiao", "member_age": 10, "works": "yes"},
            ],
        },
    )
    assert result.ok, result.errors
    assert result.answers["members"] == [
        {
            "member_name": "Wang",
            "member_age": 40,
            "works": "yes",
            "age_next_year": "41",
            "position_label": "#1",
        },
        {
            "member_name": "Xiao",
            "member_age": 10,
            "works": None,
            "age_next_year": "11",
            "position_label": "#2",
        },
    ]
    assert result.answers["total_age"] == "50"
    assert result.answers["member_count"] == "2"


@pytest.mark.parametrize(
    ("posted", "errors"),
    [
        (
            {"household_size": 1, "members": [{"member_name": "A", "member_age": "x"}]},
            [("member_age", (0,), "type")],
        ),
        (
            {"household_size": 2, "members": [{"member_name": "A"}, {"member_age": 200}]},
            [("member_name", (1,), "required"), ("member_age", (1,), "constraint")],
        ),
        (
            {
                "household_size": 2,
                "members": [
                    {"member_name": "A", "works": "maybe"},
                    {"member_name": "B", "member_age": 30, "works": "maybe"},
                ],
            },
            [("works", (1,), "choice")],
        ),
        (
            {"household_size": 3, "members": [{"member_name": "A"}, {"member_name": "B"}]},
            [("members", (), "count")],
        ),
        (
            {"household_size": 1, "members": [{"member_name": "A"}, {"member_name": "B"}]},
            [("members", (), "count")],
        ),
        ({"household_size": 0}, []),
        ({}, []),
        ({"members": [{"member_name": "A"}]}, [("members", (), "count")]),
        (
            {"household_size": 1, "members": [{"member_name": "A", "household_size": 1}]},
            [("household_size", (0,), "unknown")],
        ),
        (
            {"household_size": 1, "member_name": "A", "members": [{"member_name": "A"}]},
            [("member_name", (), "unknown")],
        ),
        ({"household_size": 1, "members": "A"}, [("members", (), "type")]),
        ({"household_size": 1, "members": ["A"]}, [("members", (), "type")]),
    ],
)
def test_repeat_errors_carry_the_entry_index(
    posted: dict[str, Any], errors: list[tuple[str, tuple[int, ...], str]]
) -> None:
    assert _errors(_validate(HOUSEHOLD, posted)) == errors


PHONES = """
id: phones
version: 1
title: P
questions:
  - {name: has_phone, type: select_one, choices: yes_no, label: H}
  - name: phones
    type: repeat
    label: P
    relevant: ${has_phone} = 'yes'
    min: 1
    max: 2
    questions:
      - {name: phone, type: text, label: P, constraint: "regex(., '[0-9]{11}')"}
choices:
  yes_no:
    - {value: 'yes', label: 'Yes'}
    - {value: 'no', label: 'No'}
"""


@pytest.mark.parametrize(
    ("posted", "entries", "errors"),
    [
        ({"has_phone": "yes", "phones": [{"phone": "13800000000"}]}, 1, []),
        ({"has_phone": "yes", "phones": [{"phone": "13800000000"}] * 2}, 2, []),
        (
            {"has_phone": "yes", "phones": [{"phone": "13800000000"}] * 3},
            3,
            [("phones", (), "count")],
        ),
        ({"has_phone": "yes"}, 0, [("phones", (), "count")]),
        (
            {"has_phone": "yes", "phones": [{"phone": "1"}, {"phone": "2"}]},
            2,
            [("phone", (0,), "constraint"), ("phone", (1,), "constraint")],
        ),
        ({"has_phone": "no", "phones": [{"phone": 1}] * 3}, 0, []),
        ({"phones": [{"phone": "1"}]}, 0, []),
    ],
)
def test_min_max_and_an_irrelevant_repeat_has_no_entries(
    posted: dict[str, Any], entries: int, errors: list[tuple[str, tuple[int, ...], str]]
) -> None:
    result = _validate(PHONES, posted)
    assert len(result.answers["phones"]) == entries
    assert _errors(result) == errors


SITES = """
id: sites
version: 1
title: S
questions:
  - name: sites
    type: repeat
    label: S
    questions:
      - {name: site_name, type: text, label: S}
      - name: workers
        type: repeat
        label: W
        questions:
          - {name: worker_age, type: integer, label: A, constraint: ". >= 16"}
          - {name: tag, type: calculate, calculation: "concat(${site_name}, '-', ${worker_age})"}
      - {name: site_total, type: calculate, calculation: "sum(${worker_age})"}
  - {name: all_total, type: calculate, calculation: "sum(${worker_age})"}
"""


def test_nested_repeats_index_every_level_and_sum_within_the_entry() -> None:
    result = _validate(
        SITES,
        {
            "sites": [
                {"site_name": "A", "workers": [{"worker_age": 20}, {"worker_age": "30"}]},
                {
                    "site_name": "B",
                    "workers": [{"worker_age": 15}, {"worker_age": 40}, {"oops": 1}],
                },
            ],
        },
    )
    assert _errors(result) == [("worker_age", (1, 0), "constraint"), ("oops", (1, 2), "unknown")]
    sites = result.answers["sites"]
    assert [s["site_total"] for s in sites] == ["50", "55"]
    assert [w["tag"] for w in sites[0]["workers"]] == ["A-20", "A-30"]
    assert sites[1]["workers"][2] == {"worker_age": None, "tag": "B-"}
    assert result.answers["all_total"] == "105"


# -- from_form_data ---------------------------------------------------------------------------

FORM_DATA = """
id: posted
version: 1
title: P
questions:
  - {name: name, type: text, label: N}
  - {name: langs, type: select_multiple, choices: langs, label: L}
  - name: sites
    type: repeat
    label: S
    questions:
      - {name: site_name, type: text, label: S}
      - {name: site_langs, type: select_multiple, choices: langs, label: L}
      - name: workers
        type: repeat
        label: W
        questions:
          - {name: worker_age, type: integer, label: A}
choices:
  langs:
    - {value: zh, label: Chinese}
    - {value: en, label: English}
"""


@pytest.mark.parametrize(
    ("items", "raw"),
    [
        ([("name", "Li")], {"name": "Li"}),
        ([("name", "")], {"name": None}),
        ([("langs", "en"), ("langs", "zh")], {"langs": ["en", "zh"]}),
        ([("langs", "en zh")], {"langs": ["en", "zh"]}),
        ([("langs", "")], {"langs": None}),
        ([("name", "Li"), ("name", "Wang")], {"name": ["Li", "Wang"]}),
        ([("name", ""), ("name", "Li")], {"name": "Li"}),
        (
            [
                ("sites.1.site_name", "B"),
                ("sites.0.site_name", "A"),
                ("sites.0.site_langs", "zh"),
                ("sites.0.site_langs", "en"),
            ],
            {"sites": [{"site_name": "A", "site_langs": ["zh", "en"]}, {"site_name": "B"}]},
        ),
        (
            [("sites.0.site_name", ""), ("sites.7.site_name", "C")],
            {"sites": [{"site_name": None}, {"site_name": "C"}]},
        ),
        (
            [
                ("sites.0.workers.3.worker_age", "40"),
                ("sites.0.workers.1.worker_age", "30"),
                ("sites.2.workers.0.worker_age", ""),
            ],
            {
                "sites": [
                    {"workers": [{"worker_age": "30"}, {"worker_age": "40"}]},
                    {"workers": [{"worker_age": None}]},
                ]
            },
        ),
        ([("sites.0", ""), ("sites.1", "")], {"sites": [{}, {}]}),
        ([("bogus", "x")], {"bogus": "x"}),
        ([("sites.x.site_name", "A")], {"sites.x.site_name": "A"}),
        ([("name.0.x", "A")], {"name.0.x": "A"}),
        ([("workers.0.worker_age", "1")], {"workers.0.worker_age": "1"}),
        ([("sites.0.sites.0.site_name", "A")], {"sites.0.sites.0.site_name": "A"}),
    ],
)
def test_html_form_fields_become_raw_nested_answers(
    items: list[tuple[str, str]], raw: dict[str, Any]
) -> None:
    assert from_form_data(_form(FORM_DATA), items) == raw


def test_form_data_validates_end_to_end() -> None:
    form = _form(FORM_DATA)
    raw = from_form_data(
        form,
        [
            ("name", "Li"),
            ("langs", "en"),
            ("langs", "zh"),
            ("sites.0.site_name", "A"),
            ("sites.0.workers.0.worker_age", "20"),
            ("sites.1.site_name", "B"),
            ("sites.1.workers.0.worker_age", "old"),
            ("submit", ""),
            ("name.0.x", "1"),
        ],
    )
    result = validate(form, raw, now=NOW, lang="en")
    assert result.errors == (
        FieldError("worker_age", (1, 0), "type", "Enter a whole number"),
        FieldError("submit", (), "unknown", "This form has no question 'submit'"),
        FieldError("name.0.x", (), "unknown", "This form has no question 'name.0.x'"),
    )
    assert result.answers["langs"] == ["zh", "en"]
    assert result.answers["sites"][0] == {
        "site_name": "A",
        "site_langs": None,
        "workers": [{"worker_age": 20}],
    }


def test_a_single_question_posted_twice_is_a_type_error() -> None:
    form = _form(FORM_DATA)
    raw = from_form_data(form, [("name", "Li"), ("name", "Wang")])
    assert _errors(validate(form, raw, now=NOW, lang="en")) == [("name", (), "type")]


# -- the organisation's forms -----------------------------------------------------------------


@pytest.mark.parametrize("form", load_forms(FORMS_DIR).values(), ids=lambda f: f.id)
def test_an_empty_submission_of_each_sample_form_only_misses_answers(form: Form) -> None:
    result = validate(form, {}, now=NOW, lang=form.default_language)
    assert {e.code for e in result.errors} <= {"required", "count"}
    assert all(e.message for e in result.errors)


@pytest.mark.parametrize(
    ("appearance", "posted", "stored"),
    [
        ("month-year", "2026-03", "2026-03-01"),
        ("year", "2019", "2019-01-01"),
        ("month-year", "2026-03-15", "2026-03-15"),
        ("", "2026-03", None),
    ],
)
def test_month_year_and_year_dates_without_javascript(
    appearance: str, posted: str, stored: str | None
) -> None:
    form, problems = load_text(
        "id: f\nversion: 1\ntitle: F\nquestions:\n"
        f"  - {{name: d, type: date, label: D, appearance: '{appearance}'}}\n",
        "f.yaml",
    )
    assert form is not None, problems
    result = validate(form, {"d": posted}, now=NOW, lang="en")
    assert result.answers["d"] == stored
    assert [e.code for e in result.errors] == ([] if stored else ["type"])


# -- evaluation order -----------------------------------------------------------------------

CYCLES = """
id: cycles
version: 1
title: C
questions:
  - {name: start, type: text, label: S}
  - name: box
    type: group
    label: B
    relevant: "${inside} != 'hide'"
    questions:
      - {name: inside, type: text, label: I}
      - {name: echo, type: calculate, calculation: "concat(${inside}, '!')"}
      - name: inner
        type: group
        label: In
        questions:
          - {name: deep, type: text, label: D, required: true}
          - {name: deeper, type: integer, label: D2, constraint: ". > 1"}
  - name: pets
    type: repeat
    label: P
    relevant: "${start} != 'none'"
    questions:
      - {name: pet, type: text, label: P, required: true}
      - name: pet_box
        type: group
        label: PB
        questions:
          - {name: pet_age, type: integer, label: A, constraint: ". < 30"}
  - {name: pet_names, type: calculate, calculation: "join(',', ${pet})"}
  - {name: after, type: text, label: A, relevant: "${echo} != 'x!'"}
"""
EFFECTS = """
id: effects
version: 1
title: E
instance_name: "concat(${code}, '/', substr(uuid(), 0, 4))"
questions:
  - {name: code, type: calculate, calculation: "substr(uuid(), 0, 8)"}
  - {name: a, type: text, label: A, constraint: "substr(uuid(), 0, 1) != 'z' and . != 'no'"}
  - {name: b, type: integer, label: B, required: true, constraint: ". > 1"}
  - name: items
    type: repeat
    label: I
    questions:
      - {name: tag, type: calculate, calculation: "concat(position(..), '-', substr(uuid(), 0, 4))"}
      - {name: qty, type: integer, label: Q, constraint: ". < 5"}
  - {name: c, type: text, label: C, required: "substr(uuid(), 0, 1) != '-'"}
"""


@pytest.mark.parametrize(
    ("posted", "answers", "errors", "irrelevant"),
    [
        (
            # The box's relevance reads a question inside it: the box is decided first.
            {"start": "x", "inside": "hide", "deep": "d", "deeper": 0, "pets": [{"pet_age": 40}]},
            {"inside": None, "echo": None, "deep": None, "deeper": None, "after": None},
            [("pet", (0,), "required"), ("pet_age", (0,), "constraint")],
            {"box", "inside", "echo", "inner", "deep", "deeper"},
        ),
        (
            {"start": "none", "inside": "show", "deeper": 5, "pets": [{"pet": "cat"}]},
            {"echo": "show!", "deep": None, "deeper": 5, "pets": [], "pet_names": None},
            [("deep", (), "required")],
            {"pets"},
        ),
        (
            {"inside": "x", "pets": [{}, {"pet_age": 3}]},
            {"echo": "x!", "pet_names": ",", "after": None},
            [("deep", (), "required"), ("pet", (0,), "required"), ("pet", (1,), "required")],
            {"after"},
        ),
    ],
)
def test_groups_decide_what_they_hold_in_evaluation_order(
    posted: dict[str, Any],
    answers: dict[str, Any],
    errors: list[tuple[str, tuple[int, ...], str]],
    irrelevant: set[str],
) -> None:
    result = _validate(CYCLES, posted)
    assert {k: result.answers[k] for k in answers} == answers
    assert _errors(result) == errors
    assert result.irrelevant == {(name, ()) for name in irrelevant}


def test_uuid_values_follow_the_submission_and_the_order_of_evaluation() -> None:
    """Calculations, then checks in document order, then the instance name take them."""
    form = _form(EFFECTS)
    posted = {"a": "no", "b": 1, "items": [{"qty": 9}, {"qty": 1}], "c": ""}
    result = validate(form, posted, now=NOW, lang="en", seed="s-1")
    assert result.answers["code"] == "759bf82b"
    assert [item["tag"] for item in result.answers["items"]] == ["1-c044", "2-1288"]
    assert _errors(result) == [
        ("a", (), "constraint"),
        ("b", (), "constraint"),
        ("qty", (0,), "constraint"),
        ("c", (), "required"),
    ]
    assert result.instance_name == "759bf82b/c4ed"
    again = validate(form, {"a": "ok", "b": 2, "c": "x"}, now=NOW, lang="en", seed="s-1")
    assert (again.errors, again.instance_name) == ((), "759bf82b/1288")


@pytest.mark.parametrize("seed", ["", "s-1", "张三", "0f6c7f0e-6f1c-4c36-9f49-1ad0a1e0b7e2"])
def test_seeded_uuids_are_version_5_uuids_of_the_submission(seed: str) -> None:
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, "forms-server:" + seed)
    make = seeded_uuids(seed)
    assert [make() for _ in range(30)] == [str(uuid.uuid5(namespace, str(n))) for n in range(30)]
