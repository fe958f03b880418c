"""The expression language: the shared vectors, syntax errors, calls, and properties.

The vectors in tests/expressions/ are the contract between this evaluator and the
browser's; docs/expressions.md describes their format.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import shutil
import struct
import subprocess
import time
from datetime import UTC, date, datetime, timedelta, timezone
from datetime import time as clock
from decimal import ROUND_FLOOR, Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forms_server.compiler import compile_node, compile_predicate
from forms_server.expressions import (
    FUNCTIONS,
    Context,
    DateValue,
    ExpressionError,
    Field,
    Value,
    _ev,
    check_calls,
    evaluate,
    parse,
    references,
    to_boolean,
    to_number,
    to_string,
)
from forms_server.functions import LIBRARY, compile_regex, number_to_string, round_whole
from forms_server.uuids import seeded_uuids

HERE = Path(__file__).parent / "expressions"
DOC = json.loads((HERE / "vectors.json").read_text(encoding="utf-8"))
VECTORS: list[dict[str, Any]] = DOC["vectors"]
SYNTAX_ERRORS: list[dict[str, Any]] = json.loads(
    (HERE / "syntax_errors.json").read_text(encoding="utf-8")
)
FIELDS = {
    name: Field(spec["type"], tuple(spec.get("repeats", ())))
    for name, spec in DOC["fields"].items()
}
NOW = datetime.fromisoformat(DOC["now"])
TYPES = {float: "number", str: "string", bool: "boolean", DateValue: "date", tuple: "nodeset"}


def vector_context(vector: dict[str, Any]) -> Context:
    """The evaluation context a vector describes (docs/expressions.md, "Test vectors")."""
    labels: dict[str, dict[str, str]] | None = vector.get("labels")
    extra: dict[str, Any] = {"dot": vector["dot"]} if "dot" in vector else {}
    return Context(
        answers=vector.get("answers", DOC["answers"]),
        fields=FIELDS,
        now=datetime.fromisoformat(vector.get("now", DOC["now"])),
        here=vector.get("here"),
        index=tuple(vector.get("index", ())),
        choice=vector.get("choice"),
        choice_label=(lambda q, v: labels.get(q, {}).get(v, "")) if labels else None,
        **extra,
    )


def context(**answers: Any) -> Context:
    return Context(answers=answers, fields=FIELDS, now=NOW)


# -- the shared vectors ------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS, ids=[v["expr"] for v in VECTORS])
def test_vector(vector: dict[str, Any]) -> None:
    expr = parse(vector["expr"])
    assert check_calls(expr) == []
    result = evaluate(expr, vector_context(vector))
    assert (to_string(result), TYPES[type(result)]) == (vector["expected"], vector["type"])


def _same(a: Value, b: Value) -> bool:
    """The same value: same type and the same repr (NaN included)."""
    return type(a) is type(b) and repr(a) == repr(b)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["expr"] for v in VECTORS])
def test_vector_walked_compiled_and_bound_alike(vector: dict[str, Any]) -> None:
    """The tree walker is the reference; a bound compilation ignores the context's
    fields and current question, which it was given when compiling."""
    expr = parse(vector["expr"])
    ctx = vector_context(vector)
    walked = evaluate(expr.ast, ctx)
    assert _same(compile_node(expr.ast)(ctx), walked)
    bound = compile_node(expr.ast, FIELDS, ctx.here)
    elsewhere = dataclasses.replace(ctx, fields={}, here="nowhere")
    assert _same(bound(elsewhere), walked)
    assert compile_predicate(expr.ast, FIELDS, ctx.here)(elsewhere) is to_boolean(walked)


def test_vectors_cover_every_function_operator_and_node() -> None:
    called: set[str] = set()
    tags: set[str] = set()
    for vector in VECTORS:
        expr = parse(vector["expr"])
        called.update(name for name, _, _ in expr.calls)
        stack = [expr.ast]
        while stack:
            node = stack.pop()
            tags.add(node[0])
            stack.extend(child for child in node[1:] if isinstance(child, list))
    assert set(FUNCTIONS) <= called
    operators = {"or", "and", "=", "!=", "<", "<=", ">", ">=", "+", "-", "*", "div", "mod"}
    nodes = {"num", "str", "ref", "dot", "parent", "attr", "neg", "call", "qname"}
    assert operators | nodes <= tags
    assert len(VECTORS) >= 250


def test_every_function_has_an_implementation() -> None:
    special = {"if", "once", "position", "indexed-repeat"}
    assert set(FUNCTIONS) == set(LIBRARY) | special
    assert not set(LIBRARY) & special


# -- syntax --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", SYNTAX_ERRORS, ids=[c["expr"] for c in SYNTAX_ERRORS])
def test_syntax_error(case: dict[str, Any]) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(case["expr"])
    assert (info.value.code, info.value.offset) == ("E501", case["offset"])
    assert case.get("hint", "") in info.value.hint
    assert info.value.message


@pytest.mark.parametrize(
    ("source", "ast"),
    [
        ("3", ["num", 3]),
        ("3.5", ["num", 3.5]),
        (".5", ["num", 0.5]),
        ("'a'", ["str", "a"]),
        ('"a b"', ["str", "a b"]),
        ("'${a}'", ["str", "${a}"]),
        ("${age}", ["ref", "age"]),
        ("${Age}", ["ref", "Age"]),
        (".", ["dot"]),
        ("..", ["parent"]),
        ("province", ["attr", "province"]),
        ("((1))", ["num", 1]),
        ("-1", ["neg", ["num", 1]]),
        ("--1", ["neg", ["neg", ["num", 1]]]),
        ("1 - 2 - 3", ["-", ["-", ["num", 1], ["num", 2]], ["num", 3]]),
        ("8 div 4 div 2", ["div", ["div", ["num", 8], ["num", 4]], ["num", 2]]),
        ("1 - (2 - 3)", ["-", ["num", 1], ["-", ["num", 2], ["num", 3]]]),
        ("1 + 2 * 3", ["+", ["num", 1], ["*", ["num", 2], ["num", 3]]]),
        ("-2 * 3", ["*", ["neg", ["num", 2]], ["num", 3]]),
        ("2 mod 3 * 4", ["*", ["mod", ["num", 2], ["num", 3]], ["num", 4]]),
        ("1 < 2 <= 3", ["<=", ["<", ["num", 1], ["num", 2]], ["num", 3]]),
        ("1 = 2 != 3", ["!=", ["=", ["num", 1], ["num", 2]], ["num", 3]]),
        ("1 + 1 = 2", ["=", ["+", ["num", 1], ["num", 1]], ["num", 2]]),
        ("1 = 1 < 2", ["=", ["num", 1], ["<", ["num", 1], ["num", 2]]]),
        ("a or b and c", ["or", ["attr", "a"], ["and", ["attr", "b"], ["attr", "c"]]]),
        ("a and b or c", ["or", ["and", ["attr", "a"], ["attr", "b"]], ["attr", "c"]]),
        ("${a}-${b}", ["-", ["ref", "a"], ["ref", "b"]]),
        ("3-1", ["-", ["num", 3], ["num", 1]]),
        ("x-1", ["-", ["attr", "x"], ["num", 1]]),
        ("${a} div(2)", ["div", ["ref", "a"], ["num", 2]]),
        ("${a} mod-1", ["mod", ["ref", "a"], ["neg", ["num", 1]]]),
        ("today()", ["call", "today"]),
        ("f ( 1 , 'x' )", ["call", "f", ["num", 1], ["str", "x"]]),
        ("count-selected(${a})", ["call", "count-selected", ["ref", "a"]]),
        ("position(..)", ["call", "position", ["parent"]]),
        (
            "jr:choice-name(${a}, '${b}')",
            ["call", "jr:choice-name", ["ref", "a"], ["qname", "b"]],
        ),
        ("jr:choice-name(${a}, 'b')", ["call", "jr:choice-name", ["ref", "a"], ["str", "b"]]),
        ("'王小明'", ["str", "王小明"]),
        ("\t1\n+\r2 ", ["+", ["num", 1], ["num", 2]]),
    ],
)
def test_ast(source: str, ast: list[Any]) -> None:
    expr = parse(source)
    assert expr.ast == ast
    assert expr.to_json() == ast
    assert json.loads(json.dumps(expr.ast)) == ast


def test_parse_records_names_calls_attributes_and_dot() -> None:
    source = "concat(${a}, jr:choice-name(${b}, '${c}'), x) = . and ${a} > y"
    expr = parse(source)
    assert expr.refs == (
        ("a", source.index("${a}")),
        ("b", source.index("${b}")),
        ("c", source.index("${c}")),
        ("a", source.rindex("${a}")),
    )
    assert expr.calls == (("concat", 3, 0), ("jr:choice-name", 2, source.index("jr:")))
    assert expr.attrs == (("x", source.index("x)")), ("y", len(source) - 1))
    assert expr.uses_dot
    assert references(expr.ast) == {"a", "b", "c"}
    assert not parse("position(..)").uses_dot


def test_expressions_compare_by_value_and_hash() -> None:
    assert parse("${a} + 1") == parse("${a} + 1")
    assert len({parse("1"), parse("1"), parse("2")}) == 2


@pytest.mark.parametrize(
    ("source", "offset"),
    [
        ("(" * 101 + "1" + ")" * 101, 100),
        ("-" * 101 + "1", 100),
        ("f(" * 101 + ")" * 101, 201),
        ("1" + "+1" * 200, 399),
        ("1" + "0" * 400, 0),
    ],
    ids=["parentheses", "minus", "calls", "chain", "huge-number"],
)
def test_nesting_and_size_limits_are_syntax_errors(source: str, offset: int) -> None:
    with pytest.raises(ExpressionError) as info:
        parse(source)
    assert (info.value.code, info.value.offset) == ("E501", offset)


def test_long_chains_within_the_limit_parse_and_evaluate() -> None:
    source = " or ".join(f"${{age}} = {n}" for n in range(150))
    assert evaluate(parse(source), context(age=149)) is True
    assert to_string(evaluate(parse("(" * 100 + "1" + ")" * 100), context())) == "1"


# -- function calls ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "code", "offset", "hint"),
    [
        ("selectd(${a}, 'x')", "E502", 0, "'selected'"),
        ("1 + Today()", "E502", 4, "'today'"),
        ("choice-name(${a}, '${a}')", "E502", 0, "'jr:choice-name'"),
        ("concat(SUM(${a}))", "E502", 7, "'sum'"),
        ("frobnicate(1)", "E502", 0, ""),
        ("selected(${a})", "E503", 0, "selected("),
        ("if(${a}, 1) + 2", "E503", 0, "if("),
        ("concat()", "E503", 0, ""),
        ("substr('abc', 1, 2, 3)", "E503", 0, ""),
        ("today(1)", "E503", 0, ""),
        ("indexed-repeat(${a}, ${r}, 1, ${s})", "E503", 0, ""),
        ("indexed-repeat(${a}, ${r})", "E503", 0, ""),
    ],
)
def test_check_calls(source: str, code: str, offset: int, hint: str) -> None:
    errors = check_calls(parse(source))
    assert [(e.code, e.offset) for e in errors] == [(code, offset)]
    assert hint in errors[0].hint


@pytest.mark.parametrize(
    "source",
    [
        "indexed-repeat(${a}, ${r}, 1)",
        "indexed-repeat(${a}, ${r}, 1, ${s}, 2)",
        "concat('a', 'b', 'c', 'd')",
        "round(1.5)",
        "round(1.55, 1)",
        "jr:choice-name(${a}, '${a}')",
    ],
)
def test_check_calls_accepts_valid_calls(source: str) -> None:
    assert check_calls(parse(source)) == []


def test_check_calls_names_the_expected_count() -> None:
    messages = [e.message for e in check_calls(parse("substr('a') + indexed-repeat(${a}, ${b})"))]
    assert messages == [
        "'substr' takes 2 or 3 arguments, not 1",
        "'indexed-repeat' takes 3, 5 or 7 arguments, not 2",
    ]


@pytest.mark.parametrize(
    ("ast", "code"),
    [
        (["call", "nope"], "E502"),
        (["call", "substr", ["str", "a"]], "E503"),
        (["call", "if", ["num", 1]], "E503"),
        (["bogus", 1], "E501"),
    ],
)
def test_evaluating_what_check_calls_rejects_raises_expression_error(
    ast: list[Any], code: str
) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate(ast, context())
    assert info.value.code == code


# -- typed Python answers ---------------------------------------------------------------------

TYPED_ANSWERS = [
    (date(2026, 3, 1), "date", "today() - ${x}", "14"),
    (datetime(2026, 3, 15, 2, 30, tzinfo=UTC), "datetime", "${x} = now()", "true"),
    (datetime(2026, 3, 15, 2, 30), "datetime", "decimal-date-time(${x})", "20527.104166666668"),
    (
        datetime(2026, 3, 15, 10, 30, tzinfo=timezone(timedelta(hours=8))),
        "datetime",
        "string(${x})",
        "2026-03-15T10:30:00+08:00",
    ),
    (Decimal("2.675"), "decimal", "round(${x}, 2)", "2.68"),
    (Decimal("sNaN"), "decimal", "${x}", "NaN"),
    (10**400, "integer", "${x}", "Infinity"),
    (7, "integer", "${x} div 2", "3.5"),
    (clock(8, 30), "time", "${x}", "08:30:00"),
    (("a", "b"), "select_multiple", "count-selected(${x})", "2"),
    (["a", 3], "select_multiple", "${x}", "a 3"),
    (None, "text", "${x} = ''", "true"),
    (True, "acknowledge", "${x}", "true"),
    ({"not": "an answer"}, "text", "${x}", ""),
    ("2026-03-15", "text", "${x} - 1", "NaN"),
    ("2026-03-15", "date", "${x} - 1", "20526"),
    ("2026-03-15T10:30:00Z", "datetime", "${x} < now()", "false"),
]


@pytest.mark.parametrize(("answer", "type_", "source", "expected"), TYPED_ANSWERS)
def test_typed_python_answers(answer: Any, type_: str, source: str, expected: str) -> None:
    ctx = Context(answers={"x": answer}, fields={"x": Field(type_)}, now=NOW)
    assert to_string(evaluate(parse(source), ctx)) == expected


def test_a_choice_without_value_uses_its_name_attribute() -> None:
    ctx = Context(answers={}, fields={}, now=NOW, choice={"name": "gz"})
    assert evaluate(parse("name = 'gz'"), ctx) is True


def test_conversions_of_node_sets_use_the_first_value() -> None:
    assert (to_string(()), to_number(()), to_boolean(())) == ("", to_number(""), False)
    nodes: Value = (2.0, "x")
    assert (to_string(nodes), to_number(nodes), to_boolean(nodes)) == ("2", 2.0, True)


# -- JavaScript parity: numbers and regular expressions -----------------------------------------

NODE = shutil.which("node")


def _sample_doubles() -> list[float]:
    rng = random.Random(20260315)
    values = [0.1, 1 / 3, 1e21, 1e-7, 123e-20, 5e-324, 1.7976931348623157e308, 2**53 + 2.0]
    for _ in range(1500):
        bits = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if math.isfinite(bits):
            values.append(bits)
        values.append(rng.uniform(-1, 1) * 10 ** rng.randint(-30, 30))
        values.append(round(rng.uniform(-1e6, 1e6), rng.randint(0, 6)))
    return values


@pytest.mark.skipif(NODE is None, reason="node is not installed (scripts/bootstrap --test)")
def test_number_to_string_matches_javascript() -> None:
    values = _sample_doubles()
    script = "const xs = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
    script += "process.stdout.write(JSON.stringify(xs.map(String)));"
    assert NODE is not None
    run = subprocess.run(
        [NODE, "-e", script], input=json.dumps(values), capture_output=True, text=True, check=True
    )
    expected = json.loads(run.stdout)
    mismatches = [
        (x, number_to_string(x), js)
        for x, js in zip(values, expected, strict=True)
        if number_to_string(x) != js
    ]
    assert mismatches == []


def _regex_cases() -> list[tuple[str, str]]:
    cases = []
    for vector in VECTORS:
        ast = parse(vector["expr"]).ast
        if ast[0] == "call" and ast[1] == "regex" and ast[2][0] == ast[3][0] == "str":
            cases.append((ast[2][1], ast[3][1]))
    return cases


@pytest.mark.skipif(NODE is None, reason="node is not installed (scripts/bootstrap --test)")
def test_portable_regexes_match_as_in_javascript() -> None:
    cases = [(text, pattern) for text, pattern in _regex_cases() if compile_regex(pattern)]
    assert len(cases) >= 20
    script = "const cs = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
    script += "process.stdout.write(JSON.stringify(cs.map(([s, p]) =>"
    script += " new RegExp('^(?:' + p + ')$', 'u').test(s))));"
    assert NODE is not None
    run = subprocess.run(
        [NODE, "-e", script], input=json.dumps(cases), capture_output=True, text=True, check=True
    )
    python = [compile_regex(p).fullmatch(s) is not None for s, p in cases]  # type: ignore[union-attr]
    assert dict(zip(cases, python, strict=True)) == dict(
        zip(cases, json.loads(run.stdout), strict=True)
    )


@given(st.floats(allow_nan=False, allow_infinity=False))
@settings(max_examples=300)
def test_number_to_string_round_trips(x: float) -> None:
    text = number_to_string(x)
    assert float(text) == x
    if x == 0 or 1e-6 <= abs(x) < 1e21:
        assert "e" not in text


def _round_in_decimal(x: float) -> float:
    """round(x, 0) as docs/expressions.md states it: half of 1 added to the shortest
    decimal form of x, floored, in decimal arithmetic."""
    with localcontext() as exact:
        exact.prec = 1000
        rounded = float((Decimal(repr(x)) + Decimal("0.5")).quantize(Decimal(1), ROUND_FLOOR))
    return -0.0 if rounded == 0 and x < 0 else rounded


def test_rounding_to_whole_numbers_is_the_decimal_rounding() -> None:
    rng = random.Random(20260316)
    values = [0.0, -0.0, 0.5, -0.5, 2.5, -2.5, 0.49999999999999994, 2.0**52 - 0.5, 1e-300]
    for whole in range(-6, 7):
        for x in (whole + 0.5, float(whole)):
            values += [x, math.nextafter(x, math.inf), math.nextafter(x, -math.inf)]
    for _ in range(20_000):
        values.append(rng.uniform(-1e6, 1e6))
        values.append(
            rng.randint(-(10**9), 10**9) + rng.choice([0.5, -0.5, 0.4999999999, 0.5000001])
        )
        bits = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
        if math.isfinite(bits) and abs(bits) < 2.0**52:
            values.append(bits)
    mismatches = [x for x in values if repr(round_whole(x)) != repr(_round_in_decimal(x))]
    assert mismatches == []


# -- properties --------------------------------------------------------------------------------

SYNTAX_ALPHABET = "${}()'\".,-+*=!<>/ \tabcdeimnorvz_:0123456789²王😀（"


@given(st.one_of(st.text(max_size=40), st.text(alphabet=SYNTAX_ALPHABET, max_size=60)))
@settings(max_examples=300)
def test_parse_returns_json_or_raises_a_located_expression_error(source: str) -> None:
    error: ExpressionError | None = None
    try:
        expr = parse(source)
    except ExpressionError as exc:
        error = exc
    if error is not None:
        assert error.code == "E501"
        assert 0 <= error.offset <= len(source)
        return
    assert json.loads(json.dumps(expr.ast)) == expr.ast
    assert all(source.startswith("${" + name, offset) for name, offset in expr.refs)
    assert all(source.startswith(name, offset) for name, _, offset in expr.calls)
    assert all(source.startswith(name, offset) for name, offset in expr.attrs)
    for error in check_calls(expr):
        assert error.code in ("E502", "E503")


BINARY = ["or", "and", "=", "!=", "<", "<=", ">", ">=", "+", "-", "*", "div", "mod"]
PLAIN_FUNCTIONS = sorted(set(FUNCTIONS) - {"position", "indexed-repeat", "jr:choice-name"})
REPEATED = [name for name, field in FIELDS.items() if field.repeats]
LEAVES = st.one_of(
    st.integers(-(10**6), 10**6).map(str),
    st.sampled_from(["0.5", "2.675", ".25", "3.", "0", "100000000000000000000000"]),
    st.text(st.characters(blacklist_characters="'", blacklist_categories=["Cs"]), max_size=5).map(
        lambda s: f"'{s}'"
    ),
    st.sampled_from(sorted(FIELDS)).map(lambda name: "${" + name + "}"),
    st.sampled_from([".", "province", "name", "position(..)", "today()", "now()"]),
)


@st.composite
def _call(draw: st.DrawFn, children: st.SearchStrategy[str]) -> str:
    name = draw(st.sampled_from([*PLAIN_FUNCTIONS, "indexed-repeat", "jr:choice-name"]))
    if name == "indexed-repeat":
        target = draw(st.sampled_from(REPEATED))
        return f"indexed-repeat(${{{target}}}, ${{children}}, {draw(children)})"
    if name == "jr:choice-name":
        return f"jr:choice-name({draw(children)}, '${{sector}}')"
    low, high = FUNCTIONS[name]
    count = draw(st.integers(low, low + 2 if high is None else high))
    return f"{name}({', '.join(draw(children) for _ in range(count))})"


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, st.sampled_from(BINARY), children).map(lambda t: f"({' '.join(t)})"),
        children.map(lambda c: f"-{c}"),
        _call(children),
    )


EXPRESSIONS = st.recursive(LEAVES, _extend, max_leaves=12)
ANSWER = st.one_of(
    st.none(),
    st.text(max_size=6),
    st.integers(),
    st.floats(),
    st.decimals(),
    st.booleans(),
    st.dates(),
    st.datetimes(timezones=st.none() | st.just(UTC)),
    st.times(),
    st.lists(st.text(max_size=4), max_size=3),
    st.sampled_from(["2026-03-15", "2026-03-15T10:00:00Z", "1e3", " 12 ", "a b"]),
)
VISIT = st.fixed_dictionaries({}, optional={"visit_cost": ANSWER, "visit_day": ANSWER})
CHILD = st.fixed_dictionaries(
    {},
    optional={
        "child_name": ANSWER,
        "child_age": ANSWER,
        "child_birth": ANSWER,
        "visits": st.one_of(st.lists(VISIT, max_size=3), ANSWER),
    },
)
ANSWERS = st.fixed_dictionaries(
    {},
    optional={
        **{name: ANSWER for name, field in FIELDS.items() if not field.repeats},
        "children": st.one_of(st.lists(CHILD, max_size=3), ANSWER),
    },
)


@given(
    source=EXPRESSIONS,
    answers=ANSWERS,
    here=st.sampled_from([None, "age", "birth_date", "child_label", "visit_cost"]),
    index=st.lists(st.integers(-1, 3), max_size=2).map(tuple),
    dot=st.one_of(st.just("unset"), ANSWER),
)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_evaluating_any_valid_expression_never_raises(
    source: str, answers: dict[str, Any], here: str | None, index: tuple[int, ...], dot: Any
) -> None:
    expr = parse(source)
    assert check_calls(expr) == []
    extra = {} if dot == "unset" else {"dot": dot}
    ctx = Context(
        answers=answers,
        fields=FIELDS,
        now=NOW,
        here=here,
        index=index,
        choice={"value": "gz", "province": "gd"},
        choice_label=lambda q, v: v.upper(),
        **extra,
    )
    result = evaluate(expr, ctx)
    assert type(result) in TYPES
    assert isinstance(to_string(result), str)
    assert isinstance(to_number(result), float)
    assert isinstance(to_boolean(result), bool)


@given(
    source=EXPRESSIONS,
    answers=ANSWERS,
    here=st.sampled_from([None, "age", "birth_date", "child_label", "visit_cost", "children"]),
    index=st.lists(st.integers(-1, 3), max_size=2).map(tuple),
    dot=st.one_of(st.just("unset"), ANSWER),
)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_compiled_and_bound_expressions_compute_what_the_walker_computes(
    source: str, answers: dict[str, Any], here: str | None, index: tuple[int, ...], dot: Any
) -> None:
    ast = parse(source).ast
    extra = {} if dot == "unset" else {"dot": dot}

    def ctx(**changes: Any) -> Context:  # uuid() starts over for each evaluation
        values: dict[str, Any] = {
            "answers": answers,
            "fields": FIELDS,
            "now": NOW,
            "here": here,
            "index": index,
            "choice": {"value": "gz", "province": "gd"},
            "choice_label": lambda q, v: v.upper(),
            "make_uuid": seeded_uuids("seed"),
            **extra,
        }
        return Context(**{**values, **changes})

    walked = _ev(ast, ctx())
    assert _same(compile_node(ast)(ctx()), walked)
    assert _same(compile_node(ast, FIELDS, here)(ctx(fields={}, here="elsewhere")), walked)
    predicate = compile_predicate(ast, FIELDS, here)
    assert predicate(ctx(here=None)) is to_boolean(walked)


OPERAND = st.one_of(
    st.sampled_from(sorted(FIELDS)).map(lambda name: "${" + name + "}"),
    st.sampled_from([".", "string-length(.)", "count-selected(${age})", "today()"]),
)
NUMBER = st.sampled_from(["0", "1", "2.5", "-3", "16", "'7'", "''", "date('2026-03-01')"])
TEXT = st.sampled_from(["''", "'a'", "'yes'", "'a b'", "' a'", "'2026-03-15'", "'1'", "'x\ty'"])
RELATION = st.sampled_from(["<", "<=", ">", ">="])
SHAPES = st.one_of(
    st.tuples(OPERAND, RELATION, NUMBER, RELATION, NUMBER).map(
        lambda t: f"{t[0]} {t[1]} {t[2]} and {t[0]} {t[3]} {t[4]}"
    ),
    st.tuples(OPERAND, RELATION, NUMBER).map(" ".join),
    st.tuples(OPERAND, st.sampled_from(["=", "!="]), TEXT).map(" ".join),
    st.tuples(OPERAND, TEXT).map(lambda t: f"selected({t[0]}, {t[1]})"),
    st.tuples(OPERAND, RELATION, OPERAND, RELATION, OPERAND).map(
        lambda t: f"{t[0]} {t[1]} {t[2]} and {t[0]} {t[3]} {t[4]}"
    ),
)


@given(
    source=SHAPES,
    answers=ANSWERS,
    here=st.sampled_from([None, "age", "birth_date", "child_label", "visit_cost", "sector"]),
    index=st.lists(st.integers(-1, 3), max_size=2).map(tuple),
    dot=st.one_of(st.just("unset"), ANSWER),
)
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_the_shapes_compiled_as_one_operation_compute_what_the_walker_computes(
    source: str, answers: dict[str, Any], here: str | None, index: tuple[int, ...], dot: Any
) -> None:
    ast = parse(source).ast
    extra = {} if dot == "unset" else {"dot": dot}
    ctx = Context(answers=answers, fields=FIELDS, now=NOW, here=here, index=index, **extra)
    walked = _ev(ast, ctx)
    assert _same(compile_node(ast)(ctx), walked)
    assert _same(compile_node(ast, FIELDS, here)(dataclasses.replace(ctx, here=None)), walked)


def test_a_context_changed_by_but_is_the_replaced_context() -> None:
    ctx = Context(answers={"a": 1}, fields=FIELDS, now=NOW, here="age", index=(1,))
    changed = ctx.but(index=(2,), dot="x")
    assert changed == dataclasses.replace(ctx, index=(2,), dot="x")
    assert (ctx.index, changed.index, changed.here) == ((1,), (2,), "age")
    with pytest.raises(dataclasses.FrozenInstanceError):
        changed.index = (3,)  # type: ignore[misc]


# -- speed ----------------------------------------------------------------------------------


def test_a_typical_relevant_evaluates_quickly() -> None:
    """The target is 100k evaluations a second; the bound leaves room for slow machines."""
    expr = parse("${consent} = 'yes' and ${age} >= 16")
    ctx = context(consent="yes", age=30)
    n = 20_000
    start = time.perf_counter()
    for _ in range(n):
        evaluate(expr, ctx)
    assert n / (time.perf_counter() - start) > 20_000
