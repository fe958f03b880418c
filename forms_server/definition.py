"""A form as JSON: what the browser runtime and API clients get.

Expressions travel as the loader's AST, so the browser evaluates exactly what the
server evaluates. Choice lists are sent once; a question names its list, or carries
its choices inline when the form wrote them inline.
"""

from __future__ import annotations

from typing import Any

from forms_server.expressions import Expression
from forms_server.model import Choice, Form, Question, Text


def form_definition(form: Form) -> dict[str, Any]:
    """The JSON definition of ``form`` (stable keys; absent values left out)."""
    return _compact(
        {
            "id": form.id,
            "version": form.version,
            "title": _text(form.title),
            "description": _text(form.description),
            "languages": list(form.languages),
            "access": form.access,
            "instance_name": _ast(form.instance_name),
            "order": list(form.order),
            "choice_lists": {
                name: [_choice(c) for c in choices] for name, choices in form.choice_lists.items()
            },
            "questions": [_question(q) for q in form.questions],
        }
    )


def _question(q: Question) -> dict[str, Any]:
    return _compact(
        {
            "name": q.name,
            "type": q.type,
            "label": _text(q.label),
            "hint": _text(q.hint),
            "required": q.required or None,
            "required_if": _ast(q.required_if),
            "required_message": _text(q.required_message),
            "relevant": _ast(q.relevant),
            "constraint": _ast(q.constraint),
            "constraint_message": _text(q.constraint_message),
            "calculation": _ast(q.calculation),
            "default": q.default,
            "default_expr": _ast(q.default_expr),
            "read_only": q.read_only or None,
            "choice_list": q.choice_list,
            "choices": [_choice(c) for c in q.choices] if q.choices and not q.choice_list else None,
            "choice_filter": _ast(q.choice_filter),
            "appearance": list(q.appearance) or None,
            "parameters": dict(q.parameters) or None,
            "repeat_count": _ast(q.repeat_count),
            "min": q.min_count,
            "max": q.max_count,
            "repeats": list(q.repeats) or None,
            "questions": [_question(c) for c in q.questions] or None,
        }
    )


def _choice(choice: Choice) -> dict[str, Any]:
    return _compact(
        {"value": choice.value, "label": _text(choice.label), "attrs": dict(choice.attrs) or None}
    )


def _text(text: Text | None) -> dict[str, str] | None:
    return text.to_json() if text else None


def _ast(expression: Expression | None) -> Any:
    return expression.ast if expression else None


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
