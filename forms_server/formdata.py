"""HTML form fields to the raw nested answers that ``validation.validate`` takes.

A browser posts a form as (name, value) pairs; the names say where each answer goes.
"""

from __future__ import annotations

from typing import Any

from forms_server.model import Form


def from_form_data(form: Form, items: list[tuple[str, str]]) -> dict[str, Any]:
    """HTML form fields to the raw nested answers ``validation.validate`` takes.

    A question is posted as ``name``, a select_multiple or rank as one pair per chosen
    value (space-separated values are split too), a repeat entry's question as
    ``repeat.0.name`` (nested: ``outer.0.inner.1.name``); ``repeat.0`` alone makes
    the entry exist even if nothing in it is posted. Entries are ordered by index, gaps
    closed. An empty string is unanswered. Names that are not questions are kept, so
    that ``validate`` reports them; a single-answer question posted twice becomes a
    list, which ``validate`` refuses.
    """
    root: dict[str, Any] = {}
    for name, value in items:
        steps, field = _field_path(form, name)
        container = root
        for repeat, i in steps:
            entries = container.get(repeat)
            if not isinstance(entries, _Entries):
                entries = container[repeat] = _Entries()
            container = entries.setdefault(i, {})
        if field is not None:
            _put(form, container, field, value)
    return _closed(root)


class _Entries(dict[int, dict[str, Any]]):
    """A repeat's entries by posted index, before the gaps are closed."""


class _Many(list[Any]):
    """Several values posted for a question that takes one."""


def _field_path(form: Form, name: str) -> tuple[list[tuple[str, int]], str | None]:
    """(repeat, index) steps and the question name; a malformed path stays one name."""
    parts = name.split(".")
    steps: list[tuple[str, int]] = []
    for repeat, index in zip(parts[0::2], parts[1::2], strict=False):
        question = form.by_name.get(repeat)
        if (
            question is None
            or question.type != "repeat"
            or question.repeats != tuple(s for s, _ in steps)
            or not (index.isdigit() and index.isascii() and len(index) <= 6)
        ):
            return [], name
        steps.append((repeat, int(index)))
    return steps, parts[-1] if len(parts) % 2 else None


def _put(form: Form, container: dict[str, Any], name: str, value: str) -> None:
    question = form.by_name.get(name)
    if question is not None and question.type in ("select_multiple", "rank"):
        chosen = container.setdefault(name, [])
        if isinstance(chosen, list):
            chosen.extend(value.split())
        return
    if value == "":
        container.setdefault(name, None)
        return
    existing = container.get(name)
    if existing is None or isinstance(existing, _Entries):
        container[name] = value
    elif isinstance(existing, _Many):
        existing.append(value)
    else:
        container[name] = _Many([existing, value])


def _closed(container: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in container.items():
        if isinstance(value, _Entries):
            result[name] = [_closed(value[i]) for i in sorted(value)]
        elif isinstance(value, list):
            result[name] = list(value) or None
        else:
            result[name] = value
    return result
