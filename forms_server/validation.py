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

What does not depend on the answers is worked out once per form (plan.py): the
orders, each question's expressions compiled and bound to the form (compiler.py),
and each question's part of passes 2 and 3 as a closure (passes.py).

Error codes (``FieldError.code``): ``unknown``, ``type``, ``choice``, ``duplicate``,
``range``, ``too_long``, ``required``, ``constraint``, ``count``. Messages are in the
person's language: the form's own ``required_message``/``constraint_message`` where
it has one, else a built-in text in Simplified Chinese or English.

The clean answers have a key for every answer-bearing question of each level (None
when unanswered or irrelevant); a repeat's key holds a list of entry dicts of the same
shape. Answers inside groups sit at their level: groups do not nest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from forms_server.coerce import Invalid
from forms_server.expressions import Context, to_number, to_string
from forms_server.formdata import from_form_data
from forms_server.functions import answer_value
from forms_server.model import Form, Question, Text
from forms_server.passes import CONTAINER, REPEAT, Block, Check, Step, run_check
from forms_server.plan import CURRENT, ENTRIES, GROUP, Plan, plan
from forms_server.uuids import seeded_uuids

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
_MAX_QUOTED = 40
_NO_LABELS: Mapping[str, str] = {}


@dataclass(frozen=True)
class FieldError:
    """One problem with one answer; ``index`` holds 0-based entry indexes, one per repeat."""

    name: str
    index: Index
    code: str
    message: str


@dataclass(frozen=True, init=False)
class Result:
    answers: dict[str, Any]
    errors: tuple[FieldError, ...]
    instance_name: str | None
    #: (name, index) of every question, group and repeat found irrelevant, for a page
    #: that re-renders the answers to hide (entries of an irrelevant repeat are not listed).
    irrelevant: frozenset[tuple[str, Index]] = frozenset()

    def __init__(
        self,
        answers: dict[str, Any],
        errors: tuple[FieldError, ...],
        instance_name: str | None,
        irrelevant: frozenset[tuple[str, Index]] = frozenset(),
    ) -> None:
        # One store, not one frozen-dataclass store per field: one result per submission.
        fields = {
            "answers": answers,
            "errors": errors,
            "instance_name": instance_name,
            "irrelevant": irrelevant,
        }
        object.__setattr__(self, "__dict__", fields)

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
    run = _Run(form, plan(form), now, lang, seeded_uuids(seed) if seed is not None else None)
    run.root = run.level(raw, (), ())
    run.relevance_and_calculations()
    run.checks()
    name: str | None = None
    if run.plan.instance_name is not None:
        name = to_string(run.plan.instance_name(run.context(()))) or None
    errors = run.errors
    if len(errors) > 1:
        position = run.plan.position
        errors.sort(key=lambda e: (position.get(e.name, len(position)), e.index))
    return Result(run.root, tuple(errors), name, frozenset(run.irrelevant))


def _containers(root: Level, repeats: tuple[str, ...]) -> list[tuple[Index, Level]]:
    """Every entry dict at the level of ``repeats`` with its index (the root for ``()``)."""
    if len(repeats) == 1:
        return [((i,), entry) for i, entry in enumerate(root[repeats[0]])]
    found: list[tuple[Index, Level]] = [((), root)]
    for repeat in repeats:
        found = [
            ((*index, i), entry)
            for index, container in found
            for i, entry in enumerate(container[repeat])
        ]
    return found


class _Run:
    """One validation: the answers as they are cleaned, and what was found."""

    def __init__(
        self,
        form: Form,
        plan: Plan,
        now: datetime,
        lang: str,
        make_uuid: Callable[[], str] | None,
    ) -> None:
        self.form = form
        self.plan = plan
        self.now = now
        self.lang = lang  # form texts fall back to the default language by themselves
        self.make_uuid = make_uuid
        self.labels = plan.labels_in(form, lang)
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
        self.irrelevant: list[tuple[str, Index]] = []
        #: Repeat entry index -> its context, made on first need: they see ``root`` live.
        self.contexts: dict[Index, Context] = {}
        #: Repeat path -> its entries, until a repeat loses its entries.
        self.entries_at: dict[tuple[str, ...], list[tuple[Index, Level]]] = {}

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
        shape = self.plan.levels[repeats]
        clean = dict(shape.empty)
        for name in shape.repeats:
            clean[name] = []
        coercers, choices = shape.coercers, shape.choices
        for name, value in raw.items():
            plain = choices.get(name)
            if plain is not None and type(value) is str and value in plain:
                clean[name] = value  # a choice, as its coercer would take it
                continue
            convert = coercers.get(name)
            if convert is None:
                self.other(shape.actions.get(name), name, value, clean, index)
                continue
            try:
                clean[name] = convert(value)
            except Invalid as exc:
                self.pending[(name, index)] = FieldError(
                    name, index, exc.code, self.message(exc.key, **exc.params)
                )
        return clean

    def other(
        self,
        action: tuple[int, Question] | None,
        name: Any,
        value: Any,
        clean: dict[str, Any],
        index: Index,
    ) -> None:
        """A posted name that is not a plain answer of its level."""
        if action is None:
            self.error(str(name), index, "unknown", self.message("unknown", name=name))
            return
        kind, question = action
        if kind == ENTRIES:
            clean[name] = self.entries(question, value, index)
        elif kind == CURRENT:
            self.keep_current(question, value, index)
        elif kind == GROUP:
            if isinstance(value, Mapping):
                # Nested answers would otherwise vanish without a word.
                self.error(name, index, "type", self.message("group"))
            elif name in self.plan.computed:
                self.keep_current(question, value, index)

    def entries(self, repeat: Question, value: Any, index: Index) -> list[dict[str, Any]]:
        if value is None or value == "":
            return []
        if not isinstance(value, list) or not all(
            type(e) is dict or isinstance(e, Mapping) for e in value
        ):
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
            current = self.plan.coercers[q.name](value)
        except Invalid:
            return
        if current is not None:
            self.current[(q.name, index)] = current

    # -- pass 2: relevance and calculations

    def context(self, index: Index) -> Context:
        """The context of a repeat entry (the root's for ``()``): they see ``root`` live."""
        ctx = self.contexts.get(index)
        if ctx is None:
            root = self.contexts.get(())
            if root is None:
                root = self.contexts[()] = Context(
                    answers=self.root,
                    fields=self.form.fields,
                    now=self.now,
                    choice_label=self.choice_label,
                    make_uuid=self.make_uuid,
                )
            ctx = self.contexts[index] = root.but(index=index) if index else root
        return ctx

    def choice_label(self, question: str, value: str) -> str:
        return self.labels.get(question, _NO_LABELS).get(value, "")

    def containers(self, repeats: tuple[str, ...]) -> list[tuple[Index, Level]]:
        found = self.entries_at.get(repeats)
        if found is None:
            found = self.entries_at[repeats] = _containers(self.root, repeats)
        return found

    def relevance_and_calculations(self) -> None:
        relevant = self.relevant
        relevant.update(self.plan.always_relevant)
        ctx = self.context(())
        for step in self.plan.relevance_steps:
            step(self, relevant, ctx)

    def drop(self, step: Step, container: Level) -> None:
        """Remove an irrelevant question's answer (a repeat's entries) from ``container``."""
        if step.kind == REPEAT:
            container[step.name] = []
            self.entries_at.clear()
        elif step.kind != CONTAINER:
            container[step.name] = None

    def drop_block(self, block: Block) -> None:
        """What an irrelevant container decides for its block: irrelevant too."""
        self.relevant.update(block.irrelevant)
        self.irrelevant.extend(block.keys)
        self.root.update(block.cleared)
        for name in block.repeats:
            self.root[name] = []
        if block.repeats:
            self.entries_at.clear()

    def computed(self, step: Step, index: Index, ctx: Context) -> Any:
        assert step.calculation is not None
        if self.current:
            current = self.current.get((step.name, index))
            if current is not None:
                ctx = ctx.but(dot=current)
        value = step.calculation(ctx)
        text = value if type(value) is str else to_string(value)
        if text == "":
            return None
        if step.question.type == "calculate":
            return text
        try:
            return self.plan.coercers[step.name](text)
        except Invalid:
            return None

    # -- pass 3: checks

    def checks(self) -> None:
        relevant, root = self.relevant, self.root
        ctx = self.context(())
        if not self.pending:
            for name, key, required, constraint, q in self.plan.simple_checks:
                if root[name] is None:
                    if required and relevant.get(key, False):
                        self.required_error(q, ())
                elif constraint is not None and relevant.get(key, False) and not constraint(ctx):
                    self.constraint_error(q, ())
            for step in self.plan.check_steps:
                step(self, relevant, root, ctx)
            return
        for check in self.plan.checks:  # with the coercion errors, where relevant
            run_check(self, check, relevant)

    def checks_in_repeats(self, check: Check) -> None:
        for index, container in self.containers(check.repeats):
            if self.relevant.get((check.name, index), False):
                self.check(check, index, container)

    def check(self, check: Check, index: Index, container: Level) -> None:
        """The checks of a relevant question, or its coercion error."""
        if self.pending:
            found = self.pending.get((check.name, index))
            if found is not None:
                self.errors.append(found)
                return
        if check.is_repeat:
            self.check_count(check, index, len(container[check.name]))
        else:
            self.check_answer(check, index, container[check.name])

    def required_error(self, q: Question, index: Index) -> None:
        self.error(q.name, index, "required", self.form_message(q.required_message, "required"))

    def constraint_error(self, q: Question, index: Index) -> None:
        message = self.form_message(q.constraint_message, "constraint")
        self.error(q.name, index, "constraint", message)

    def check_count(self, check: Check, index: Index, count: int) -> None:
        q = check.question
        if check.repeat_count is not None:
            wanted = to_number(check.repeat_count(self.context(index)))
            # As in ODK, a count that is not a number (an unanswered question) means none.
            fixed = int(wanted) if wanted == wanted and wanted > 0 else 0
            if count != fixed:
                self.error(q.name, index, "count", self.message("count", n=fixed))
        if q.min_count is not None and count < q.min_count:
            self.error(q.name, index, "count", self.message("min_count", n=q.min_count))
        if q.max_count is not None and count > q.max_count:
            self.error(q.name, index, "count", self.message("max_count", n=q.max_count))

    def check_answer(self, check: Check, index: Index, value: Any) -> None:
        q = check.question
        if value is None:
            required = q.required
            if check.required_if is not None:
                required = check.required_if(self.context(index))
            if required:
                self.required_error(q, index)
            return
        if check.choice_filter is not None:
            ctx = self.context(index)
            for chosen in value if isinstance(value, list) else [value]:
                if not self.offered(check, chosen, ctx):
                    label = self.choice_label(q.name, chosen) or chosen
                    self.error(q.name, index, "choice", self.message("filtered", value=label))
                    return
        if check.constraint is not None and not check.constraint(self.context(index)):
            self.constraint_error(q, index)

    def offered(self, check: Check, value: str, ctx: Context) -> bool:
        """Whether the choice filter keeps ``value`` among the question's choices."""
        assert check.choice_filter is not None
        choice = self.plan.choices[check.name][value]
        attrs = {"value": value, "name": value, "label": self.choice_label(check.name, value)}
        attrs.update(choice.attrs)
        return check.choice_filter(ctx.but(choice=attrs))


def _quoted(value: Any) -> str:
    """A value shown inside a message, shortened."""
    text = str(value)
    return text if len(text) <= _MAX_QUOTED else text[: _MAX_QUOTED - 1] + "…"
