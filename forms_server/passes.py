"""Validation's second and third passes, question by question, as closures.

`relevance_step` and `check_step` turn a question of the plan into the function that
does that question's part of a pass outside repeats, with what the question does not
need left out. The state they work on is a run of validation (`Run`); questions
inside repeats, and everything unusual, go through the run's own methods.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, Protocol

from forms_server.compiler import Predicate
from forms_server.expressions import Compiled, Context
from forms_server.model import Question
from forms_server.values import Value, number_to_string, to_string

__all__ = [
    "ANSWERED",
    "COMPUTED",
    "CONTAINER",
    "REPEAT",
    "Block",
    "Check",
    "CheckStep",
    "Key",
    "RelevanceStep",
    "Run",
    "Step",
    "check_step",
    "relevance_step",
    "run_check",
]

#: What the relevance pass does with a question (see `Step.kind`).
CONTAINER, REPEAT, ANSWERED, COMPUTED = range(4)

Index = tuple[int, ...]
Key = tuple[str, Index]


class Block(NamedTuple):
    """Questions outside repeats that are relevant exactly when their container is.

    Validation decides them with the container, not one by one: a question is in a
    block only if no question between the container and it (in evaluation order)
    could tell the difference.
    """

    relevant: Mapping[Key, bool]
    irrelevant: Mapping[Key, bool]
    keys: tuple[Key, ...]
    #: Their answers when irrelevant: None, and for repeats, no entries.
    cleared: Mapping[str, None]
    repeats: tuple[str, ...]


class Step(NamedTuple):
    """One question of the relevance and calculations pass."""

    name: str
    #: (name, ()) for a question outside repeats: its key in the run's tables.
    key: Key
    repeats: tuple[str, ...]
    #: The enclosing group's key outside repeats; inside: its name and how many
    #: repeats enclose it.
    parent_key: Key | None
    parent: str | None
    parent_depth: int
    relevant: Predicate | None
    kind: int
    calculation: Compiled | None
    block: Block | None
    question: Question
    #: A relevance ``${name} = 'text'`` (or ``!=``, then True) on a text answer outside
    #: repeats: (name, text, negated), read without a call when the answer is a text.
    equality: tuple[str, str, bool] | None = None


class Check(NamedTuple):
    """One question of the checks pass."""

    name: str
    key: Key
    repeats: tuple[str, ...]
    is_repeat: bool
    required: bool
    required_if: Predicate | None
    choice_filter: Predicate | None
    constraint: Predicate | None
    repeat_count: Compiled | None
    question: Question


class Run(Protocol):
    """What the passes need of a run of validation."""

    root: dict[str, Any]
    irrelevant: list[Key]
    #: Calculated questions' posted values.
    current: dict[Key, Any]
    #: Repeat entry index -> its context, once made (see `context`).
    contexts: dict[Index, Context]

    def containers(self, repeats: tuple[str, ...]) -> list[tuple[Index, dict[str, Any]]]: ...

    def context(self, index: Index) -> Context: ...

    def computed(self, step: Step, index: tuple[int, ...], ctx: Context) -> Any: ...

    def drop(self, step: Step, container: dict[str, Any]) -> None: ...

    def drop_block(self, block: Block) -> None: ...

    def check(self, check: Check, index: tuple[int, ...], container: dict[str, Any]) -> None: ...

    def checks_in_repeats(self, check: Check) -> None: ...

    def required_error(self, q: Question, index: tuple[int, ...]) -> None: ...

    def constraint_error(self, q: Question, index: tuple[int, ...]) -> None: ...


#: (run, its relevance table, the root's context)
RelevanceStep = Callable[[Run, dict[Key, bool], Context], None]
#: (run, its relevance table, the root's answers, the root's context), with no pending
#: coercion errors.
CheckStep = Callable[[Run, dict[Key, bool], dict[str, Any], Context], None]


def relevance_step(step: Step) -> RelevanceStep:
    """What the relevance and calculations pass does for ``step``."""
    name, key, repeats, parent_key, _, _, test, kind, calculation, block, q, equality = step
    if repeats:
        return _repeated(step)
    if block is None and kind != COMPUTED and kind != REPEAT and test is not None:
        answered = kind != CONTAINER
        if equality is not None:
            ref, text, negated = equality

            def compared(run: Run, relevant: dict[Key, bool], ctx: Context) -> None:
                if parent_key is None or relevant.get(parent_key, True):
                    raw = ctx.answers.get(ref)
                    if (raw == text) is not negated if type(raw) is str else test(ctx):
                        relevant[key] = True
                        return
                relevant[key] = False
                run.irrelevant.append(key)
                if answered:
                    run.root[name] = None

            return compared

        def decided(run: Run, relevant: dict[Key, bool], ctx: Context) -> None:
            if (parent_key is None or relevant.get(parent_key, True)) and test(ctx):
                relevant[key] = True
            else:
                relevant[key] = False
                run.irrelevant.append(key)
                if answered:
                    run.root[name] = None

        return decided
    if block is None and kind == COMPUTED and test is None:
        assert calculation is not None
        calculate = q.type == "calculate"

        def computed(run: Run, relevant: dict[Key, bool], ctx: Context) -> None:
            if parent_key is None or relevant.get(parent_key, True):
                relevant[key] = True
                if calculate and not run.current:  # its text, or None for ''
                    value = calculation(ctx)
                    if type(value) is str:
                        run.root[name] = value or None
                    elif type(value) is float:
                        run.root[name] = number_to_string(value)
                    else:
                        run.root[name] = to_string(value) or None
                else:
                    run.root[name] = run.computed(step, (), ctx)
            else:
                relevant[key] = False
                run.irrelevant.append(key)
                run.root[name] = None

        return computed

    ref, text, negated = equality if equality is not None else ("", "", False)

    def general(run: Run, relevant: dict[Key, bool], ctx: Context) -> None:
        is_relevant = True
        if parent_key is not None:
            is_relevant = relevant.get(parent_key, True)
        if is_relevant and test is not None:
            raw = ctx.answers.get(ref) if equality is not None else None
            is_relevant = (raw == text) is not negated if type(raw) is str else test(ctx)
        relevant[key] = is_relevant
        if is_relevant:
            if kind == COMPUTED:
                run.root[name] = run.computed(step, (), ctx)
            if block is not None:
                relevant.update(block.relevant)
        else:
            run.irrelevant.append(key)
            run.drop(step, run.root)
            if block is not None:
                run.drop_block(block)

    return general


def _repeated(step: Step) -> RelevanceStep:
    """What the pass does for a question inside repeats: the same, entry by entry."""
    name, _, repeats, _, parent, depth, test, kind, calculation, _, q, _ = step
    computed = kind == COMPUTED
    calculate = computed and q.type == "calculate"
    calculated: Compiled = calculation if calculation is not None else _nothing
    # The key of a container outside repeats is the same in every entry.
    parent_key = (parent, ()) if parent is not None and depth == 0 else None

    def repeated(run: Run, relevant: dict[Key, bool], ctx: Context) -> None:
        contexts = run.contexts
        for index, container in run.containers(repeats):
            is_relevant = True
            if parent_key is not None:
                is_relevant = relevant.get(parent_key, True)
            elif parent is not None:
                is_relevant = relevant.get((parent, index[:depth]), True)
            if is_relevant and test is not None:
                is_relevant = test(contexts.get(index) or run.context(index))
            key = (name, index)
            relevant[key] = is_relevant
            if not is_relevant:
                run.irrelevant.append(key)
                run.drop(step, container)
            elif calculate and not run.current:
                value = calculated(contexts.get(index) or run.context(index))
                if type(value) is str:
                    container[name] = value or None
                elif type(value) is float:
                    container[name] = number_to_string(value)
                else:
                    container[name] = to_string(value) or None
            elif computed:
                container[name] = run.computed(step, index, run.context(index))

    return repeated


def _nothing(ctx: Context) -> Value:
    return ""


def check_step(check: Check) -> CheckStep:
    """What the checks pass does for ``check`` when no coercion error is pending."""
    name, key, repeats, is_repeat, required, required_if, choice_filter, constraint, _, q = check
    if repeats or is_repeat or choice_filter is not None:
        return lambda run, relevant, root, ctx: run_check(run, check, relevant)
    if required_if is None and constraint is None:

        def required_only(
            run: Run, relevant: dict[Key, bool], root: dict[str, Any], ctx: Context
        ) -> None:
            if required and root[name] is None and relevant.get(key, False):
                run.required_error(q, ())

        return required_only

    def answer(run: Run, relevant: dict[Key, bool], root: dict[str, Any], ctx: Context) -> None:
        if not relevant.get(key, False):
            return
        if root[name] is None:
            if required if required_if is None else required_if(ctx):
                run.required_error(q, ())
        elif constraint is not None and not constraint(ctx):
            run.constraint_error(q, ())

    return answer


def run_check(run: Run, check: Check, relevant: dict[Key, bool]) -> None:
    """The checks of ``check`` (in every entry of its repeats), where it is relevant."""
    if check.repeats:
        run.checks_in_repeats(check)
    elif relevant.get(check.key, False):
        run.check(check, (), run.root)
