"""Submissions for the research-database tests: every answer a form can hold, with a
unique canary string in everything that must never be published."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from forms_server.model import Form, Question
from forms_server.research_tables import published
from forms_server.schema import TablePlan, plan_tables
from forms_server.storage import Storage


@dataclass
class Canaries:
    """Every string that must never appear in research.db or in what Datasette serves."""

    values: list[str] = field(default_factory=list)

    def new(self, what: str) -> str:
        value = f"CANARY{uuid.uuid4().hex[:10]}{what}"
        self.values.append(value)
        return value

    def found_in(self, text: str) -> list[str]:
        return [c for c in self.values if c in text]


def answers_for(form: Form, canaries: Canaries, *, variant: int = 0) -> dict[str, Any]:
    """Answers to every question (two entries per repeat); what is not published is a canary."""
    plans = plan_tables(form)

    def level(plan: TablePlan, depth: int) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in plan.columns:
            question = form.by_name[name]
            values[name] = (
                _plain(question, variant)
                if published(question)
                else canaries.new(f"-{form.id}-{name}")
            )
        for repeat in plan.repeats:
            values[repeat] = [level(plans[repeat], depth + 1) for _ in range(2)]
        return values

    return level(plans[None], 0)


def _plain(question: Question, variant: int) -> Any:
    """An ordinary answer of the question's type."""
    choices = [c.value for c in question.choices]
    if question.type == "select_one":
        return choices[variant % len(choices)]
    if question.type in ("select_multiple", "rank"):
        return choices[variant % len(choices) : variant % len(choices) + 2] or choices[:1]
    return {
        "integer": 3 + variant,
        "decimal": 2.5 + variant,
        "range": 4,
        "date": f"2026-11-{10 + variant % 10:02d}",
        "datetime": "2026-11-10T09:30:00+08:00",
        "time": "08:30",
        "acknowledge": "OK",
        "calculate": str(10 + variant),
    }.get(question.type, f"plain text {variant}")


def store_all(
    storage: Storage, forms: dict[str, Form], canaries: Canaries, per_form: int = 3
) -> dict[str, list[str]]:
    """Store ``per_form`` canary submissions of every form; their ids by form."""
    ids: dict[str, list[str]] = {}
    for form in forms.values():
        storage.ensure_schema(form)
        for variant in range(per_form):
            sid = str(uuid.uuid4())
            canaries.values.append(sid)  # the private id itself is never published
            name = canaries.new("-instance")
            storage.save(
                form,
                sid,
                answers_for(form, canaries, variant=variant),
                submitted_by=canaries.new("-collector"),
                completed_at=f"2026-11-{10 + variant:02d}T10:00:00+08:00",
                instance_name=f"{name} · {form.id}",
            )
            ids.setdefault(form.id, []).append(sid)
    return ids
