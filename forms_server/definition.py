"""A form as JSON: what the browser runtime and API clients get.

Expressions travel as the loader's AST, so the browser evaluates exactly what the
server evaluates. Choice lists are sent once; a question names its list, or carries
its choices inline when the form wrote them inline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from forms_server.expressions import Expression
from forms_server.model import Choice, Form, Question, Text


def form_definition(form: Form) -> dict[str, Any]:
    """The full JSON definition of ``form``, every text in every language."""
    return _Writer(form, None).form()


def page_definition(form: Form, lang: str) -> dict[str, Any]:
    """What a form page embeds for its script: texts in ``lang`` only, and no titles,
    labels, hints or descriptions, which the page's HTML already shows."""
    return _Writer(form, lang).form()


@dataclass(frozen=True)
class _Writer:
    source: Form
    #: None: every language, everything; a tag: only what a page's script needs.
    lang: str | None

    def form(self) -> dict[str, Any]:
        form = self.source
        return _compact(
            {
                "id": form.id,
                "version": form.version,
                "title": self.shown(form.title),
                "description": self.shown(form.description),
                "languages": list(form.languages),
                "access": form.access,
                "instance_name": _ast(form.instance_name),
                "order": list(form.order),
                "choice_lists": {
                    name: [self.choice(c) for c in choices]
                    for name, choices in form.choice_lists.items()
                },
                "questions": [self.question(q) for q in form.questions],
            }
        )

    def question(self, q: Question) -> dict[str, Any]:
        inline = q.choices and not q.choice_list
        return _compact(
            {
                "name": q.name,
                "type": q.type,
                "label": self.shown(q.label),
                "hint": self.shown(q.hint),
                "required": q.required or None,
                "required_if": _ast(q.required_if),
                "required_message": self.text(q.required_message),
                "relevant": _ast(q.relevant),
                "constraint": _ast(q.constraint),
                "constraint_message": self.text(q.constraint_message),
                "calculation": _ast(q.calculation),
                "default": q.default,
                "default_expr": _ast(q.default_expr),
                "read_only": q.read_only or None,
                "choice_list": q.choice_list,
                "choices": [self.choice(c) for c in q.choices] if inline else None,
                "choice_filter": _ast(q.choice_filter),
                "appearance": list(q.appearance) or None,
                "parameters": dict(q.parameters) or None,
                "repeat_count": _ast(q.repeat_count),
                "min": q.min_count,
                "max": q.max_count,
                "repeats": list(q.repeats) or None,
                "questions": [self.question(c) for c in q.questions] or None,
            }
        )

    def choice(self, choice: Choice) -> dict[str, Any]:
        return _compact(
            {
                "value": choice.value,
                "label": self.text(choice.label),
                "attrs": dict(choice.attrs) or None,
            }
        )

    def text(self, text: Text | None) -> dict[str, str] | None:
        if text is None:
            return None
        if self.lang is None:
            return text.to_json()
        return {self.lang: text.get(self.lang, self.source.default_language)}

    def shown(self, text: Text | None) -> dict[str, str] | None:
        """A text the page's HTML shows already: left out of a page's definition."""
        return self.text(text) if self.lang is None else None


def _ast(expression: Expression | None) -> Any:
    return expression.ast if expression else None


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
