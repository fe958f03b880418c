"""What validation needs to know of a form, worked out once per form.

A `Plan` holds the form's questions in the orders validation visits them, each with
what does not depend on the answers: its expressions compiled and bound to the form
(compiler.py), how its posted value is read (``coerce``), its container, and which
of validation's passes it takes part in.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from forms_server.coerce import coercer, plain_choices
from forms_server.compiler import Predicate, compile_node, compile_predicate
from forms_server.expressions import Compiled, Expression, Field
from forms_server.functions import WITH_EFFECTS
from forms_server.model import Choice, Form, Question
from forms_server.passes import (
    ANSWERED,
    COMPUTED,
    CONTAINER,
    REPEAT,
    Block,
    Check,
    CheckStep,
    Key,
    RelevanceStep,
    Step,
    check_step,
    relevance_step,
)

__all__ = ["Level", "Plan", "plan"]

#: Types that take no posted answer.
_NO_INPUT = frozenset({"note", "group"})
#: How many languages' labels a plan keeps.
_LANGUAGES_KEPT = 16
#: Types the checks pass leaves alone.
_UNCHECKED = frozenset({"group", "note", "calculate"})

#: How a level reads a posted name (see `Level.actions`).
GROUP, CURRENT, IGNORED, ENTRIES = range(4)


@dataclass(frozen=True, slots=True)
class Level:
    """One level of answers: the root, or the entries of one repeat."""

    #: A clean level before any answer: None for each question, [] for each repeat.
    empty: Mapping[str, Any]
    repeats: tuple[str, ...]
    #: Posted name -> how to read it, for the questions that take an answer.
    coercers: Mapping[str, Callable[[Any], Any]]
    #: select_one name -> the texts it stores as posted (`coerce.plain_choices`).
    choices: Mapping[str, frozenset[str]]
    #: Posted name -> (what to do with it, its question), for the other names of the level.
    actions: Mapping[str, tuple[int, Question]]


@dataclass(frozen=True)
class Plan:
    #: The questions whose relevance or answer must be worked out, dependencies and
    #: containers first; what a `Block` decides is left out.
    steps: tuple[Step, ...]
    #: Questions outside repeats and groups, and without a relevance: always relevant.
    always_relevant: Mapping[Key, bool]
    #: `steps` as closures (see passes.py).
    relevance_steps: tuple[RelevanceStep, ...]
    #: The questions the checks pass looks at, in document order, and as closures
    #: those of them that could find more than a coercion error, but for the
    #: `simple_checks` outside repeats: (name, key, required, constraint, question).
    #: When no check's expression has an effect (uuid()), their order does not
    #: matter: errors are sorted anyway.
    checks: tuple[Check, ...]
    check_steps: tuple[CheckStep, ...]
    simple_checks: tuple[tuple[str, Key, bool, Predicate | None, Question], ...]
    #: Every question in document order, and its position in it.
    document: tuple[Question, ...]
    position: Mapping[str, int]
    #: Repeat path -> that level.
    levels: Mapping[tuple[str, ...], Level]
    #: Select name -> choice value -> position in its list.
    choice_positions: Mapping[str, Mapping[str, int]]
    choices: Mapping[str, Mapping[str, Choice]]
    #: How each question reads a value (calculated ones: what `.` is).
    coercers: Mapping[str, Callable[[Any], Any]]
    #: Calculated questions, recomputed here: ``calculate``, and ``read_only`` with a calculation.
    computed: frozenset[str]
    instance_name: Compiled | None
    #: Language -> select name -> choice value -> label, made on first need.
    labels: dict[str, Mapping[str, Mapping[str, str]]]

    def labels_in(self, form: Form, lang: str) -> Mapping[str, Mapping[str, str]]:
        """The choices' labels in ``lang`` (falling back as `Form.text` does)."""
        found = self.labels.get(lang)
        if found is None:
            found = {
                name: {value: form.text(choice.label, lang) for value, choice in choices.items()}
                for name, choices in self.choices.items()
            }
            if len(self.labels) < _LANGUAGES_KEPT:  # languages come from requests
                self.labels[lang] = found
        return found


_PLANS: dict[int, tuple[weakref.ref[Form], Plan]] = {}


def plan(form: Form) -> Plan:
    """The plan of ``form``, cached for as long as the form lives (forms are not hashable)."""
    key = id(form)
    cached = _PLANS.get(key)
    if cached is not None and cached[0]() is form:
        return cached[1]
    made = _make_plan(form)

    def forget(ref: weakref.ref[Form]) -> None:
        if _PLANS.get(key, (None,))[0] is ref:
            del _PLANS[key]

    _PLANS[key] = (weakref.ref(form, forget), made)
    return made


def _make_plan(form: Form) -> Plan:
    document = tuple(form.walk())
    fields = form.fields
    selects = [q for q in document if q.choices]
    choice_positions = {q.name: {c.value: i for i, c in enumerate(q.choices)} for q in document}
    coercers = {q.name: coercer(q, choice_positions[q.name]) for q in document}
    computed = frozenset(
        q.name
        for q in document
        if q.calculation is not None and (q.type == "calculate" or q.read_only)
    )
    order = _evaluation_order(form)
    owners = _block_owners(document, order, computed)
    blocks = {
        owner: _block([form.by_name[name] for name, o in owners.items() if o == owner])
        for owner in set(owners.values())
    }
    always: dict[Key, bool] = {
        (q.name, ()): True
        for q in document
        if not q.parents and q.relevant is None and q.name not in computed
    }
    steps = tuple(
        _step(q, form, fields, computed, blocks.get(q.name))
        for q in order
        if q.name not in owners and ((q.name, ()) not in always or q.name in blocks)
    )
    checks = tuple(_check(q, fields) for q in document if q.type not in _UNCHECKED)
    pure_checks = not any(
        _has_effects(expr)
        for q in document
        for expr in (q.required_if, q.constraint, q.choice_filter, q.repeat_count)
    )
    return Plan(
        steps=steps,
        relevance_steps=tuple(relevance_step(step) for step in steps),
        always_relevant=always,
        checks=checks,
        check_steps=tuple(
            check_step(c) for c in checks if _strict(c) and not (pure_checks and _simple(c))
        ),
        simple_checks=tuple(
            (c.name, c.key, c.required, c.constraint, c.question)
            for c in checks
            if pure_checks and _simple(c) and _strict(c)
        ),
        document=document,
        position={q.name: i for i, q in enumerate(document)},
        levels=_levels(document, computed, coercers, choice_positions),
        choice_positions={q.name: choice_positions[q.name] for q in selects},
        choices={q.name: {c.value: c for c in q.choices} for q in selects},
        coercers=coercers,
        computed=computed,
        instance_name=(
            compile_node(form.instance_name.ast, fields, None)
            if form.instance_name is not None
            else None
        ),
        labels={},
    )


def _levels(
    document: tuple[Question, ...],
    computed: frozenset[str],
    coercers: Mapping[str, Callable[[Any], Any]],
    choice_positions: Mapping[str, Mapping[str, int]],
) -> dict[tuple[str, ...], Level]:
    shapes: dict[tuple[str, ...], list[Question]] = {(): []}
    for q in document:
        if q.type == "repeat":
            shapes[(*q.repeats, q.name)] = []
        shapes[q.repeats].append(q)
    levels: dict[tuple[str, ...], Level] = {}
    for path, questions in shapes.items():
        answered: dict[str, Callable[[Any], Any]] = {}
        actions: dict[str, tuple[int, Question]] = {}
        for q in questions:
            if q.type == "group":
                actions[q.name] = (GROUP, q)
            elif q.name in computed:
                actions[q.name] = (CURRENT, q)
            elif q.type in _NO_INPUT:
                actions[q.name] = (IGNORED, q)
            elif q.type == "repeat":
                actions[q.name] = (ENTRIES, q)
            else:
                answered[q.name] = coercers[q.name]
        levels[path] = Level(
            empty={
                q.name: [] if q.type == "repeat" else None
                for q in questions
                if q.has_answer or q.type == "repeat"
            },
            repeats=tuple(q.name for q in questions if q.type == "repeat"),
            coercers=answered,
            choices={
                q.name: plain_choices(choice_positions[q.name])
                for q in questions
                if q.type == "select_one" and q.name in answered
            },
            actions=actions,
        )
    return levels


def _block_owners(
    document: tuple[Question, ...], order: tuple[Question, ...], computed: frozenset[str]
) -> dict[str, str]:
    """Question -> the container whose `Block` decides it, for the questions in blocks.

    A question outside repeats, with neither a relevance of its own nor a calculation,
    is relevant exactly when its container is at the time it is visited. It can be
    decided with the container that decides its own container (or with that
    container itself) when nothing visited in between looks at it: no relevance or
    calculation names it, and it is no container of what is visited in between.
    """
    position = {q.name: i for i, q in enumerate(order)}
    readers: dict[str, set[int]] = {}
    for i, q in enumerate(order):
        names = set(q.repeats)
        if q.parents:
            names.add(q.parents[-1])
        for expr in (q.relevant, q.calculation):
            if expr is not None:
                names.update(name for name, _ in expr.refs)
        for name in names:
            readers.setdefault(name, set()).add(i)
    owners: dict[str, str] = {}
    for q in document:  # containers before what they hold
        if q.repeats or not q.parents or q.relevant is not None or q.name in computed:
            continue
        parent = q.parents[-1]
        owner = owners.get(parent, parent)
        start, end = position[owner], position[q.name]
        if start < end and not any(start < i < end for i in readers.get(q.name, ())):
            owners[q.name] = owner
    return owners


def _block(questions: list[Question]) -> Block:
    keys = tuple((q.name, ()) for q in questions)
    return Block(
        relevant=dict.fromkeys(keys, True),
        irrelevant=dict.fromkeys(keys, False),
        keys=keys,
        cleared={q.name: None for q in questions if q.has_answer},
        repeats=tuple(q.name for q in questions if q.type == "repeat"),
    )


def _simple(check: Check) -> bool:
    """A question outside repeats, checked by its ``required`` flag and its constraint."""
    return not (check.repeats or check.is_repeat or check.required_if or check.choice_filter)


def _has_effects(expr: Expression | None) -> bool:
    return expr is not None and any(name in WITH_EFFECTS for name, _, _ in expr.calls)


def _strict(check: Check) -> bool:
    """Whether the check could find an error in a relevant answer that coerced."""
    return (
        check.is_repeat
        or check.required
        or any((check.required_if, check.choice_filter, check.constraint))
    )


def _bound(expr: Expression | None, fields: Mapping[str, Field], here: str) -> Compiled | None:
    return compile_node(expr.ast, fields, here) if expr is not None else None


def _test(expr: Expression | None, fields: Mapping[str, Field], here: str) -> Predicate | None:
    return compile_predicate(expr.ast, fields, here) if expr is not None else None


def _step(
    q: Question,
    form: Form,
    fields: Mapping[str, Field],
    computed: frozenset[str],
    block: Block | None,
) -> Step:
    parent = form.by_name[q.parents[-1]] if q.parents else None
    if q.type == "repeat":
        kind = REPEAT
    elif not q.has_answer:
        kind = CONTAINER
    elif q.name in computed:
        kind = COMPUTED
    else:
        kind = ANSWERED
    return Step(
        name=q.name,
        key=(q.name, ()),
        repeats=q.repeats,
        parent_key=(parent.name, ()) if parent is not None and not q.repeats else None,
        parent=parent.name if parent is not None else None,
        parent_depth=len(parent.repeats) if parent is not None else 0,
        relevant=_test(q.relevant, fields, q.name),
        kind=kind,
        calculation=_bound(q.calculation, fields, q.name) if kind == COMPUTED else None,
        block=block,
        question=q,
        equality=_equality(q.relevant, fields),
    )


def _equality(expr: Expression | None, fields: Mapping[str, Field]) -> tuple[str, str, bool] | None:
    """``${name} = 'text'`` (or ``!=``) on a question outside repeats with a text answer."""
    if expr is None:
        return None
    op, *operands = expr.ast
    if op not in ("=", "!=") or len(operands) != 2:
        return None
    ref, text = operands
    if ref[0] != "ref" or text[0] != "str" or type(text[1]) is not str:
        return None
    field = fields.get(ref[1])
    if field is None or field.repeats or field.type in ("repeat", "date", "datetime"):
        return None
    return (ref[1], text[1], op == "!=")


def _check(q: Question, fields: Mapping[str, Field]) -> Check:
    return Check(
        name=q.name,
        key=(q.name, ()),
        repeats=q.repeats,
        is_repeat=q.type == "repeat",
        required=q.required,
        required_if=_test(q.required_if, fields, q.name),
        choice_filter=_test(q.choice_filter, fields, q.name),
        constraint=_test(q.constraint, fields, q.name),
        repeat_count=_bound(q.repeat_count, fields, q.name),
        question=q,
    )


def _evaluation_order(form: Form) -> tuple[Question, ...]:
    """``form.order`` made to put every group and repeat before what it holds.

    A question's relevance needs its container's, which the form's order (relevance
    and calculation references only) does not promise. A cycle through a container is
    broken where it is met.
    """
    by_name = form.by_name
    deps: dict[str, list[str]] = {}
    for q in by_name.values():
        names = [q.parents[-1]] if q.parents else []
        for expr in (q.relevant, q.calculation):
            if expr is not None:
                names.extend(name for name, _ in expr.refs if name in by_name)
        deps[q.name] = names
    done: set[str] = set()
    result: list[Question] = []
    for root in (*form.order, *by_name):
        if root in done:
            continue
        visiting = {root}
        stack = [(root, iter(deps[root]))]
        while stack:
            name, pending = stack[-1]
            for dep in pending:
                if dep not in done and dep not in visiting:
                    visiting.add(dep)
                    stack.append((dep, iter(deps[dep])))
                    break
            else:
                stack.pop()
                done.add(name)
                result.append(by_name[name])
    return tuple(result)
