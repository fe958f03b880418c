"""The loader: form files become a model, and every broken file is refused precisely."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from forms_server.errors import FormError
from forms_server.loader import load_forms, load_paths, load_text
from forms_server.model import Form

from .conftest import FORMS_DIR

BROKEN = Path(__file__).parent / "broken_forms"
EXPECT = re.compile(r"# expect: (?P<code>[EW]\d{3}) at (?P<line>\d+):(?P<col>\d+)")


def _load(text: str) -> tuple[Form | None, list[tuple[str, int, int]]]:
    form, problems = load_text(textwrap.dedent(text).lstrip("\n"), "inline.yaml")
    return form, [(p.code, p.line, p.column) for p in problems]


def _codes(text: str) -> list[str]:
    return [code for code, _, _ in _load(text)[1]]


@pytest.mark.parametrize("path", sorted(BROKEN.glob("*.yaml")), ids=lambda p: p.stem)
def test_each_broken_form_gives_one_located_error(path: Path) -> None:
    expected = EXPECT.search(path.read_text(encoding="utf-8"))
    assert expected, f"{path.name} lacks an '# expect: CODE at L:C' line"
    result = load_paths([path])
    assert result.forms == ()
    errors = result.errors
    assert [(e.code, e.line, e.column) for e in errors] == [
        (expected["code"], int(expected["line"]), int(expected["col"]))
    ], "\n".join(e.format() for e in errors)
    assert errors[0].message and errors[0].hint
    assert errors[0].path == str(path)


def test_every_error_code_has_a_broken_form() -> None:
    from forms_server.errors import CATALOGUE

    covered = {p.stem[:4] for p in BROKEN.glob("*.yaml")} | {"E100", "E104"}
    missing = {code for code, (sev, _) in CATALOGUE.items() if sev == "error"} - covered
    assert not missing


def test_sample_forms_load_without_errors() -> None:
    result = load_paths([FORMS_DIR])
    assert result.errors == [], "\n".join(p.format() for p in result.errors)
    ids = {form.id for form in result.forms}
    assert {"worker_intake", "needs_assessment", "osh_worksite_survey", "legal_aid_intake"} <= ids


def test_several_errors_in_one_file_are_all_reported() -> None:
    codes = _codes("""
        id: broken
        version: 1
        title: Broken
        questions:
          - {name: Age, type: integer, label: Age}
          - {name: sector, type: select_one, choices: sector_list, label: Sector}
          - {name: wage, type: decimal, label: Wage, relevant: "${sectr} = 'x'"}
          - {name: years, type: intger, label: Years}
        """)
    assert codes == ["E301", "E401", "E205", "E504"]


def test_did_you_mean_names_the_closest_question() -> None:
    _, problems = load_text(
        textwrap.dedent("""
        id: f
        version: 1
        title: F
        questions:
          - {name: age, type: integer, label: Age}
          - {name: work_years, type: integer, label: Years, relevant: '${ag} >= 16'}
        """),
        "f.yaml",
    )
    (problem,) = problems
    assert problem.code == "E504"
    assert problem.question == "work_years"
    assert "'ag'" in problem.message and "'age'" in problem.hint
    assert problem.format().startswith("f.yaml:7:")


def test_valid_form_becomes_a_frozen_model() -> None:
    form, problems = _load("""
        id: intake
        version: 3
        title: {zh-Hans: 登记表, en: Intake}
        languages: [zh-Hans, en]
        instance_name: concat(${family_name}, ' · ', ${sector})
        access: public
        publish: false
        questions:
          - name: family_name
            type: text
            label: {zh-Hans: 姓名, en: Name}
            sensitive: true
          - name: sector
            type: select_one sectors
            label: {zh-Hans: 行业, en: Sector}
          - name: job
            type: group
            label: {zh-Hans: 工作, en: Work}
            relevant: ${sector} = 'construction'
            questions:
              - name: wage
                type: decimal
                label: {zh-Hans: 工资, en: Wage}
                constraint: . >= 0
                required: ${sector} != ''
          - name: children
            type: repeat
            label: {zh-Hans: 子女, en: Children}
            max: 10
            questions:
              - {name: child_age, type: integer, label: {zh-Hans: 年龄, en: Age}}
              - name: child_no
                type: calculate
                calculation: position(..)
          - name: total_age
            type: calculate
            calculation: sum(${child_age})
          - name: rating
            type: range
            label: {zh-Hans: 评分, en: Rating}
            parameters: {start: 1, end: 5, step: 1}
        choices:
          sectors:
            - {value: construction, label: {zh-Hans: 建筑, en: Construction}}
            - {value: domestic, label: {zh-Hans: 家政, en: Domestic work}}
        """)
    assert problems == []
    assert form is not None
    assert (form.id, form.version, form.access, form.publish) == ("intake", "3", "public", False)
    assert form.languages == ("zh-Hans", "en")
    assert form.title.get("en", "zh-Hans") == "Intake"
    assert form.title.get("mn", "zh-Hans") == "登记表"
    wage = form.by_name["wage"]
    assert wage.parents == ("job",) and wage.repeats == ()
    assert wage.required and wage.required_if is not None
    assert form.by_name["child_age"].repeats == ("children",)
    assert form.by_name["children"].max_count == 10
    assert [c.value for c in form.by_name["sector"].choices] == ["construction", "domestic"]
    assert form.by_name["sector"].choice_list == "sectors"
    assert form.by_name["rating"].parameters == {"start": 1.0, "end": 5.0, "step": 1.0}
    assert form.sensitive_names == {"family_name"}
    assert form.fields["child_no"].repeats == ("children",)
    with pytest.raises(AttributeError):
        form.id = "other"  # type: ignore[misc]


def test_order_puts_dependencies_first() -> None:
    form, problems = _load("""
        id: f
        version: 1
        title: F
        questions:
          - {name: c, type: calculate, calculation: '${b} * 2'}
          - {name: b, type: calculate, calculation: '${a} + 1'}
          - {name: a, type: integer, label: A}
        """)
    assert problems == [] and form is not None
    order = list(form.order)
    assert order.index("a") < order.index("b") < order.index("c")


@pytest.mark.parametrize(
    ("expression", "code"),
    [
        ("sum(${child_age})", None),
        ("count(${children})", None),
        ("max(${child_age}) - min(${child_age})", None),
        ("join(', ', ${child_age})", None),
        ("indexed-repeat(${child_age}, ${children}, 1)", None),
        ("${child_age}", "E508"),
        ("${children}", "E509"),
        ("${child_age} + sum(${child_age})", "E508"),
    ],
)
def test_repeat_questions_from_outside_need_an_aggregate(expression: str, code: str | None) -> None:
    codes = _codes(f"""
        id: f
        version: 1
        title: F
        questions:
          - name: children
            type: repeat
            label: Children
            questions:
              - {{name: child_age, type: integer, label: Age}}
              - {{name: same_entry, type: calculate, calculation: '${{child_age}} + 1'}}
          - {{name: outside, type: calculate, calculation: "{expression}"}}
        """)
    assert codes == ([code] if code else [])


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("label: {zh-Hans: 姓名}", "W601"),
        ("label: {zh-Hans: 姓名, en: Name, fr: Nom}", "W604"),
        ("label: {zh-Hans: 姓名, en: Name}\n            appearance: fancy", "W602"),
    ],
)
def test_warnings_do_not_stop_loading(text: str, code: str) -> None:
    form, problems = _load(f"""
        id: f
        version: 1
        title: {{zh-Hans: 表, en: Form}}
        languages: [zh-Hans, en]
        questions:
          - name: family_name
            type: text
            {text}
        """)
    assert form is not None
    assert [p[0] for p in problems] == [code]


def test_missing_translation_falls_back_to_default_language() -> None:
    form, _ = _load("""
        id: f
        version: 1
        title: {zh-Hans: 表}
        languages: [zh-Hans, en]
        questions:
          - {name: a, type: text, label: {zh-Hans: 姓名}}
        """)
    assert form is not None
    assert form.text(form.by_name["a"].label, "en") == "姓名"


def test_unused_choice_list_is_a_warning() -> None:
    assert _codes("""
        id: f
        version: 1
        title: F
        questions:
          - {name: a, type: text, label: A}
        choices:
          spare: [{value: x, label: X}]
        """) == ["W603"]


def test_duplicate_form_ids_across_files(write_form: Callable[[str, str], Path]) -> None:
    body = """
        id: same
        version: 1
        title: Same
        questions:
          - {name: a, type: text, label: A}
        """
    first = write_form(body, "a.yaml")
    write_form(body, "b.yaml")
    result = load_paths([first.parent])
    assert [f.id for f in result.forms] == ["same"]
    assert [p.code for p in result.errors] == ["E104"]


def test_unreadable_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("title: caf\xe9".encode("latin-1"))
    assert [p.code for p in load_paths([path]).errors] == ["E100"]


def test_load_forms_raises_with_every_problem(write_form: Callable[[str, str], Path]) -> None:
    path = write_form("""
        id: f
        version: 1
        title: F
        questions:
          - {name: a, type: txt, label: A}
          - {name: b, type: integer, label: B, relevant: '${zz} > 1'}
        """)
    with pytest.raises(FormError) as info:
        load_forms(path.parent)
    assert [p.code for p in info.value.problems] == ["E205", "E504"]
    assert "E205" in str(info.value)


def test_xlsform_spellings_are_accepted() -> None:
    form, problems = _load("""
        id: f
        version: 1
        title: F
        questions:
          - {name: a, type: select one yes_no, label: A}
          - {name: g, type: begin group, label: G, questions: [{name: b, type: string, label: B}]}
        choices:
          yes_no: [{value: 'yes', label: 'Yes'}, {value: 'no', label: 'No'}]
        """)
    assert problems == [] and form is not None
    assert form.by_name["a"].type == "select_one"
    assert form.by_name["a"].choice_list == "yes_no"
    assert form.by_name["g"].type == "group"
    assert form.by_name["b"].type == "text"


def test_choice_filter_attributes_are_checked() -> None:
    base = """
        id: f
        version: 1
        title: F
        questions:
          - {{name: province, type: select_one provinces, label: P}}
          - {{name: city, type: select_one cities, label: C, choice_filter: "{flt}"}}
        choices:
          provinces: [{{value: henan, label: 河南}}]
          cities: [{{value: zhengzhou, label: 郑州, province: henan}}]
        """
    assert _codes(base.format(flt="province = ${province}")) == []
    assert _codes(base.format(flt="provnce = ${province}")) == ["E504"]


@pytest.mark.parametrize(
    ("stated", "publish", "codes"),
    [
        ("", "true", ["W605"]),
        ("sensitive: false", "true", []),
        ("sensitive: true", "true", []),
        ("", "false", []),
    ],
)
def test_calculation_from_a_sensitive_answer(stated: str, publish: str, codes: list[str]) -> None:
    assert (
        _codes(f"""
        id: f
        version: 1
        title: F
        publish: {publish}
        questions:
          - {{name: id_number, type: text, label: ID, sensitive: true}}
          - name: region
            type: calculate
            calculation: substr(${{id_number}}, 0, 6)
            {stated}
        """)
        == codes
    )
