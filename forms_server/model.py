"""The form model: what a checked form file becomes. Frozen, no I/O.

The loader builds these objects once, after every check has passed; the web
layer, validation, storage and PDFs only read them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from forms_server.expressions import Expression, Field

#: Every question type of the form format.
QUESTION_TYPES = frozenset(
    {
        "text",
        "integer",
        "decimal",
        "date",
        "time",
        "datetime",
        "select_one",
        "select_multiple",
        "rank",
        "range",
        "note",
        "acknowledge",
        "calculate",
        "hidden",
        "geopoint",
        "image",
        "file",
        "barcode",
        "group",
        "repeat",
    }
)
SELECT_TYPES = frozenset({"select_one", "select_multiple", "rank"})
CONTAINER_TYPES = frozenset({"group", "repeat"})
#: Types that hold no answer of their own.
NO_ANSWER_TYPES = frozenset({"group", "repeat", "note"})
#: Types a person never sees as an input.
INVISIBLE_TYPES = frozenset({"calculate", "hidden"})
APPEARANCES = frozenset(
    {"minimal", "horizontal", "likert", "multiline", "numbers", "month-year", "year", "signature"}
)


@dataclass(frozen=True)
class Text:
    """A text in one or more languages. A plain string is stored under the key ``""``."""

    values: Mapping[str, str]

    def get(self, lang: str, default_lang: str) -> str:
        """The text in ``lang``, else in the form's default language, else any."""
        for key in (lang, "", default_lang):
            if key in self.values:
                return self.values[key]
        return next(iter(self.values.values()), "")

    def to_json(self) -> dict[str, str]:
        return dict(self.values)


@dataclass(frozen=True)
class Choice:
    value: str
    label: Text
    #: Extra attributes, e.g. ``province`` for a choice filter.
    attrs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Question:
    name: str
    type: str
    line: int
    label: Text | None = None
    hint: Text | None = None
    required: bool = False
    required_if: Expression | None = None
    required_message: Text | None = None
    relevant: Expression | None = None
    constraint: Expression | None = None
    constraint_message: Text | None = None
    calculation: Expression | None = None
    #: A literal default; ``default_expr`` when it is an expression.
    default: str | None = None
    default_expr: Expression | None = None
    read_only: bool = False
    choice_list: str | None = None
    choices: tuple[Choice, ...] = ()
    choice_filter: Expression | None = None
    appearance: tuple[str, ...] = ()
    parameters: Mapping[str, float] = field(default_factory=dict)
    repeat_count: Expression | None = None
    min_count: int | None = None
    max_count: int | None = None
    sensitive: bool = False
    #: ``sensitive`` was written in the file (``sensitive: false`` states a choice).
    sensitive_stated: bool = False
    description: Text | None = None
    questions: tuple[Question, ...] = ()
    #: Names of the enclosing repeats, outermost first.
    repeats: tuple[str, ...] = ()
    #: Names of the enclosing groups and repeats, outermost first.
    parents: tuple[str, ...] = ()

    @property
    def has_answer(self) -> bool:
        return self.type not in NO_ANSWER_TYPES

    def walk(self) -> Iterator[Question]:
        """This question and everything inside it, in document order."""
        yield self
        for child in self.questions:
            yield from child.walk()


@dataclass(frozen=True)
class Form:
    id: str
    version: str
    title: Text
    path: str
    questions: tuple[Question, ...]
    languages: tuple[str, ...] = ("en",)
    description: Text | None = None
    instance_name: Expression | None = None
    access: str = "collectors"
    publish: bool = True
    choice_lists: Mapping[str, tuple[Choice, ...]] = field(default_factory=dict)
    #: Question names in an order where every relevance and calculation comes
    #: after what it depends on (document order where nothing depends).
    order: tuple[str, ...] = ()

    @property
    def default_language(self) -> str:
        return self.languages[0]

    def walk(self) -> Iterator[Question]:
        """Every question, group and repeat, in document order."""
        for question in self.questions:
            yield from question.walk()

    @cached_property
    def by_name(self) -> Mapping[str, Question]:
        return {q.name: q for q in self.walk()}

    @cached_property
    def fields(self) -> Mapping[str, Field]:
        """What the expression evaluator needs to know of each question."""
        return {q.name: Field(type=q.type, repeats=q.repeats) for q in self.walk()}

    @property
    def sensitive_names(self) -> frozenset[str]:
        return frozenset(q.name for q in self.walk() if q.sensitive)

    def text(self, value: Text | None, lang: str) -> str:
        return value.get(lang, self.default_language) if value else ""

    def summary(self) -> dict[str, Any]:
        """A short description for listings."""
        questions = [q for q in self.walk() if q.type not in CONTAINER_TYPES]
        return {
            "id": self.id,
            "version": self.version,
            "title": self.title.get(self.default_language, self.default_language),
            "languages": list(self.languages),
            "questions": len(questions),
            "sensitive": sum(1 for q in questions if q.sensitive),
            "access": self.access,
            "publish": self.publish,
        }
