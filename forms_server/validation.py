"""Posted answers to clean typed answers, or per-field errors. Pure: data in, data out.

:func:`validate` works in three passes over one submission:

1. **Coerce** every posted value to its question's type (``coerce``). Calculated
   questions (``calculate``, and ``read_only`` questions with a ``calculation``) are
   never taken from the input, notes and groups hold no answer: what is posted for
   them is ignored without an error. (A calculated question's posted value is only
   what ``.`` means in its calculation, so that ``once(…)`` keeps the value the page
   computed first, as in ODK.) A name that is not a question of that level (root or
   one repeat's entries) is an ``unknown`` error.
2. **Relevance and calculations**, question by question in dependency order (the
   form's ``order``, with every group or repeat before what it holds), once per repeat
   entry. An irrelevant question's answer becomes None, an irrelevant repeat loses its
   entries, and nothing irrelevant is validated: a coercion error on it is dropped too.
   A ``calculate`` stores ``to_string`` of its result (None for ``''``) — a string, as
   in ODK and in the browser, so that the stored value means the same in every later
   expression. A ``read_only`` question's calculation is converted to the question's
   own type (None when it does not fit). Defaults are *not* applied: a default only
   prefills the page, and the page posts it back as an ordinary answer.
3. **Checks** on what is relevant, in document order: repeat entry counts, then
   ``required``, choice filters and ``constraint`` (only on an answer). Calculated
   ``calculate`` questions are not checked: nobody could correct them.

Error codes (``FieldError.code``): ``unknown``, ``type``, ``choice``, ``duplicate``,
``range``, ``too_long``, ``required``, ``constraint``, ``count``. Messages are in the
person's language: the form's own ``required_message``/``constraint_message`` where
it has one, else a built-in text in Simplified Chinese or English.

The clean answers have a key for every answer-bearing question of each level (None
when unanswered or irrelevant); a repeat's key holds a list of entry dicts of the same
shape. Answers inside groups sit at their level: groups do not nest.
"""

from __future__ import annotations

import itertools
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from forms_server.coerce import Invalid, coerce
from forms_server.expressions import Context, evaluate, to_boolean, to_number, to_string
from forms_server.formdata import from_form_data
from forms_server.functions import answer_value
from forms_server.model import Choice, Form, Question, Text

__all__ = ["FieldError", "Result", "from_form_data", "validate"]

Index = tuple[int, ...]
#: The answers of one level: the root, or one repeat entry.
Level = dict[str, Any]

#: message key -> (Simplified Chinese, English).
_MESSAGES: dict[str, tuple[str, str]] = {
    "required": ("此题必答", "This question is required"),
    "constraint": ("答案不符合要求", "This answer is not allowed"),
    "unknown": ("本表单没有这个问题：{name}", "This form has no question '{name}'"),
    "integer": ("请填写整数", "Enter a whole number"),
    "decimal": ("请填写数字", "Enter a number"),
    "range": (
        "请填写 {start} 到 {end} 之间的数，间隔 {step}",
        "Enter a number from {start} to {end} in steps of {step}",
    ),
    "date": ("请按 年-月-日 填写有效的日期", "Enter a real date as YYYY-MM-DD"),
    "time": ("请按 时:分 填写时间", "Enter a time as HH:MM"),
    "datetime": ("请填写有效的日期和时间", "Enter a date and time as YYYY-MM-DDTHH:MM"),
    "select_one": ("请选择一个选项", "Choose one of the options"),
    "select_multiple": ("请从选项中选择", "Choose from the options"),
    "rank": ("请为选项排序", "Put the options in order"),
    "choice": ("“{value}”不是可选的选项", "'{value}' is not one of the options"),
    "filtered": ("“{value}”在这里不可选", "'{value}' cannot be chosen here"),
    "duplicate": ("“{value}”选了两次", "'{value}' is chosen twice"),
    "acknowledge": ("请确认", "Confirm with OK"),
    "geopoint": ("请按 纬度 经度 填写有效的位置", "Enter a location as latitude longitude"),
    "text": ("请填写文字", "Enter text"),
    "control": ("文字中有不允许的控制字符", "The text contains control characters"),
    "too_long": ("文字太长，最多 {limit} 个字", "Too long: at most {limit} characters"),
    "file": ("文件名无效", "Not a valid file name"),
    "repeat": ("条目格式无效", "Entries must be a list"),
    "group": ("组内的问题按各自的名字提交，不要嵌套", "Post a group's answers by their own names"),
    "count": ("需要正好 {n} 条", "Needs exactly {n} entries"),
    "min_count": ("至少需要 {n} 条", "Needs at least {n} entries"),
    "max_count": ("最多 {n} 条", "Allows at most {n} entries"),
}
#: Types that take no posted answer.
_NO_INPUT = frozenset({"note", "group"})
_MAX_QUOTED = 40


@dataclass(frozen=True)
class FieldError:
    """One problem with one answer; ``index`` holds 0-based entry indexes, one per repeat."""

    name: str
    index: Index
    code: str
    message: str


@dataclass(frozen=True)
class Result:
    answers: dict[str, Any]
    errors: tuple[FieldError, ...]
    instance_name: str | None
    #: (name, index) of every question, group and repeat found irrelevant, for a page
    #: that re-renders the answers to hide (entries of an irrelevant repeat are not listed).
    irrelevant: frozenset[tuple[str, Index]] = frozenset()

    @property
    def ok(self) -> bool:
        return not self.errors


def validate(
    form: Form, raw: Mapping[str, Any], *, now: datetime, lang: str, seed: str | None = None
) -> Result:
    """Clean typed answers of ``form`` from ``raw`` (JSON-like, a repeat as a list of dicts).

    ``now`` (timezone-aware) is when the person completed the form: ``today()`` and
    ``now()`` evaluate at it. ``seed`` (the submission's id) makes ``uuid()`` give the same
    values each time the same submission is checked. ``lang`` chooses the messages'
    language; one the form does not have falls back to the form's default language.
    """
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    run = _Run(form, _plan(form), now, lang)
    if seed is not None:
        run.make_uuid = _uuids(seed)
    run.root = run.level(raw, (), ())
    run.relevance_and_calculations()
    run.checks()
    name: str | None = None
    if form.instance_name is not None:
        name = to_string(evaluate(form.instance_name, run.context(None, ()))) or None
    position = run.plan.position
    errors = sorted(run.errors, key=lambda e: (position.get(e.name, len(position)), e.index))
    irrelevant = frozenset(key for key, relevant in run.relevant.items() if not relevant)
    return Result(run.root, tuple(errors), name, irrelevant)


# -- the form's plan, computed once per form -----------------------------------------------


@dataclass(frozen=True)
class _Plan:
    #: Every question, group and repeat: dependencies and containers first.
    order: tuple[Question, ...]
    #: Every question in document order, and its position in it.
    document: tuple[Question, ...]
    position: Mapping[str, int]
    #: Repeat path -> the answer-bearing questions and repeats of that level.
    levels: Mapping[tuple[str, ...], tuple[Question, ...]]
    #: Select name -> choice value -> position in its list.
    choice_positions: Mapping[str, Mapping[str, int]]
    choices: Mapping[str, Mapping[str, Choice]]
    #: Calculated questions, recomputed here: ``calculate``, and ``read_only`` with a calculation.
    computed: frozenset[str]
    #: Names whose posted values are no answer: notes, groups and calculated questions.
    ignored: frozenset[str]


_PLANS: dict[int, tuple[weakref.ref[Form], _Plan]] = {}


def _plan(form: Form) -> _Plan:
    """The plan of ``form``, cached for as long as the form lives (forms are not hashable)."""
    key = id(form)
    cached = _PLANS.get(key)
    if cached is not None and cached[0]() is form:
        return cached[1]
    plan = _make_plan(form)

    def forget(ref: weakref.ref[Form]) -> None:
        if _PLANS.get(key, (None,))[0] is ref:
            del _PLANS[key]

    _PLANS[key] = (weakref.ref(form, forget), plan)
    return plan


def _make_plan(form: Form) -> _Plan:
    document = tuple(form.walk())
    levels: dict[tuple[str, ...], list[Question]] = {(): []}
    for q in document:
        if q.type == "repeat":
            levels[(*q.repeats, q.name)] = []
        if q.has_answer or q.type == "repeat":
            levels[q.repeats].append(q)
    selects = [q for q in document if q.choices]
    computed = frozenset(
        q.name
        for q in document
        if q.calculation is not None and (q.type == "calculate" or q.read_only)
    )
    return _Plan(
        order=_evaluation_order(form),
        document=document,
        position={q.name: i for i, q in enumerate(document)},
        levels={path: tuple(qs) for path, qs in levels.items()},
        choice_positions={q.name: {c.value: i for i, c in enumerate(q.choices)} for q in selects},
        choices={q.name: {c.value: c for c in q.choices} for q in selects},
        computed=computed,
        ignored=computed | {q.name for q in document if q.type in _NO_INPUT},
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


# -- one validation ------------------------------------------------------------------------


def _containers(root: Level, repeats: tuple[str, ...]) -> list[tuple[Index, Level]]:
    """Every entry dict at the level of ``repeats`` with its index (the root for ``()``)."""
    found: list[tuple[Index, Level]] = [((), root)]
    for repeat in repeats:
        found = [
            ((*index, i), entry)
            for index, container in found
            for i, entry in enumerate(container[repeat])
        ]
    return found


class _Run:
    def __init__(self, form: Form, plan: _Plan, now: datetime, lang: str) -> None:
        self.form = form
        self.plan = plan
        self.now = now
        self.lang = lang  # form texts fall back to the default language by themselves
        self.make_uuid: Callable[[], str] | None = None
        self.chinese = self.lang.startswith("zh") or (
            not self.lang.startswith("en") and form.default_language.startswith("zh")
        )
        self.root: dict[str, Any] = {}
        self.errors: list[FieldError] = []
        #: Coercion errors, reported only if the question turns out relevant.
        self.pending: dict[tuple[str, Index], FieldError] = {}
        #: Calculated questions' posted values: what `.` is in their calculation.
        self.current: dict[tuple[str, Index], Any] = {}
        self.relevant: dict[tuple[str, Index], bool] = {}
        #: (question, index) -> its context, made on first need: they see ``root`` live.
        self.contexts: dict[tuple[str | None, Index], Context] = {}

    # -- messages

    def message(self, key: str, **params: Any) -> str:
        zh, en = _MESSAGES[key]
        quoted = {k: _quoted(v) for k, v in params.items()}
        return (zh if self.chinese else en).format(**quoted)

    def form_message(self, text: Text | None, key: str) -> str:
        return self.form.text(text, self.lang) if text is not None else self.message(key)

    def error(self, question: str, index: Index, code: str, message: str) -> None:
        self.errors.append(FieldError(question, index, code, message))

    # -- pass 1: coercion

    def level(
        self, raw: Mapping[str, Any], repeats: tuple[str, ...], index: Index
    ) -> dict[str, Any]:
        """The clean answers of one level (the root or one entry) from its raw answers."""
        clean: dict[str, Any] = {
            q.name: [] if q.type == "repeat" else None for q in self.plan.levels[repeats]
        }
        by_name = self.form.by_name
        for name, value in raw.items():
            question = by_name.get(name)
            if question is None or question.repeats != repeats:
                self.error(str(name), index, "unknown", self.message("unknown", name=name))
            elif question.type == "group" and isinstance(value, Mapping):
                # Nested answers would otherwise vanish without a word.
                self.error(name, index, "type", self.message("group"))
            elif name in self.plan.computed:
                self.keep_current(question, value, index)
            elif name in self.plan.ignored:
                continue
            elif question.type == "repeat":
                clean[name] = self.entries(question, value, index)
            else:
                try:
                    clean[name] = coerce(question, value, self.plan.choice_positions.get(name, {}))
                except Invalid as exc:
                    self.pending[(name, index)] = FieldError(
                        name, index, exc.code, self.message(exc.key, **exc.params)
                    )
        return clean

    def entries(self, repeat: Question, value: Any, index: Index) -> list[dict[str, Any]]:
        if value is None or value == "":
            return []
        if not isinstance(value, list) or not all(isinstance(e, Mapping) for e in value):
            self.pending[(repeat.name, index)] = FieldError(
                repeat.name, index, "type", self.message("repeat")
            )
            return []
        inner = (*repeat.repeats, repeat.name)
        return [self.level(entry, inner, (*index, i)) for i, entry in enumerate(value)]

    def keep_current(self, q: Question, value: Any, index: Index) -> None:
        """Keep a calculated question's posted value for ``.``; one that does not fit is dropped."""
        if q.type == "calculate" and isinstance(value, int | float) and not isinstance(value, bool):
            value = to_string(answer_value(value, ""))
        try:
            current = coerce(q, value, self.plan.choice_positions.get(q.name, {}))
        except Invalid:
            return
        if current is not None:
            self.current[(q.name, index)] = current

    # -- pass 2: relevance and calculations

    def context(self, here: str | None, index: Index) -> Context:
        key = (here, index)
        ctx = self.contexts.get(key)
        if ctx is None:
            ctx = self.contexts[key] = Context(
                answers=self.root,
                fields=self.form.fields,
                now=self.now,
                here=here,
                index=index,
                choice_label=self.choice_label,
                make_uuid=self.make_uuid,
            )
        return ctx

    def choice_label(self, question: str, value: str) -> str:
        choice = self.plan.choices.get(question, {}).get(value)
        return self.form.text(choice.label, self.lang) if choice else ""

    def relevance_and_calculations(self) -> None:
        by_name = self.form.by_name
        for q in self.plan.order:
            parent = by_name[q.parents[-1]] if q.parents else None
            computed = q.name in self.plan.computed
            for index, container in _containers(self.root, q.repeats):
                relevant = True
                if parent is not None:
                    relevant = self.relevant.get((parent.name, index[: len(parent.repeats)]), True)
                if relevant and q.relevant is not None:
                    relevant = to_boolean(evaluate(q.relevant, self.context(q.name, index)))
                self.relevant[(q.name, index)] = relevant
                if q.type == "repeat":
                    if not relevant:
                        container[q.name] = []
                elif not q.has_answer:
                    continue
                elif not relevant:
                    container[q.name] = None
                elif computed:
                    assert q.calculation is not None
                    ctx = self.context(q.name, index)
                    current = self.current.get((q.name, index))
                    if current is not None:
                        ctx = replace(ctx, dot=current)
                    container[q.name] = self.computed(q, evaluate(q.calculation, ctx))

    def computed(self, q: Question, value: Any) -> Any:
        text = to_string(value)
        if text == "":
            return None
        if q.type == "calculate":
            return text
        try:
            return coerce(q, text, self.plan.choice_positions.get(q.name, {}))
        except Invalid:
            return None

    # -- pass 3: checks

    def checks(self) -> None:
        for q in self.plan.document:
            if q.type in ("group", "note", "calculate"):
                continue
            for index, container in _containers(self.root, q.repeats):
                if not self.relevant.get((q.name, index), False):
                    continue
                pending = self.pending.get((q.name, index))
                if pending is not None:
                    self.errors.append(pending)
                elif q.type == "repeat":
                    self.check_count(q, index, len(container[q.name]))
                else:
                    self.check_answer(q, index, container[q.name])

    def check_count(self, q: Question, index: Index, count: int) -> None:
        if q.repeat_count is not None:
            wanted = to_number(evaluate(q.repeat_count, self.context(q.name, index)))
            # As in ODK, a count that is not a number (an unanswered question) means none.
            fixed = int(wanted) if wanted == wanted and wanted > 0 else 0
            if count != fixed:
                self.error(q.name, index, "count", self.message("count", n=fixed))
        if q.min_count is not None and count < q.min_count:
            self.error(q.name, index, "count", self.message("min_count", n=q.min_count))
        if q.max_count is not None and count > q.max_count:
            self.error(q.name, index, "count", self.message("max_count", n=q.max_count))

    def check_answer(self, q: Question, index: Index, value: Any) -> None:
        if value is None:
            required = q.required
            if q.required_if is not None:
                required = to_boolean(evaluate(q.required_if, self.context(q.name, index)))
            if required:
                message = self.form_message(q.required_message, "required")
                self.error(q.name, index, "required", message)
            return
        if q.choice_filter is not None:
            ctx = self.context(q.name, index)
            for chosen in value if isinstance(value, list) else [value]:
                if not self.offered(q, chosen, ctx):
                    label = self.choice_label(q.name, chosen) or chosen
                    self.error(q.name, index, "choice", self.message("filtered", value=label))
                    return
        if q.constraint is not None and not to_boolean(
            evaluate(q.constraint, self.context(q.name, index))
        ):
            message = self.form_message(q.constraint_message, "constraint")
            self.error(q.name, index, "constraint", message)

    def offered(self, q: Question, value: str, ctx: Context) -> bool:
        """Whether the choice filter keeps ``value`` among ``q``'s choices."""
        assert q.choice_filter is not None
        choice = self.plan.choices[q.name][value]
        attrs = {"value": value, "name": value, "label": self.form.text(choice.label, self.lang)}
        attrs.update(choice.attrs)
        return to_boolean(evaluate(q.choice_filter, replace(ctx, choice=attrs)))


def _quoted(value: Any) -> str:
    """A value shown inside a message, shortened."""
    text = str(value)
    return text if len(text) <= _MAX_QUOTED else text[: _MAX_QUOTED - 1] + "…"


def _uuids(seed: str) -> Callable[[], str]:
    """uuid() values derived from ``seed`` (the submission's id), the same on every resend."""
    namespace = uuid.uuid5(uuid.NAMESPACE_URL, "forms-server:" + seed)
    counter = itertools.count()
    return lambda: str(uuid.uuid5(namespace, str(next(counter))))
