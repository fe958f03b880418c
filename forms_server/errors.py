"""The error catalogue: every problem a form file can have, with a code, a place and a fix.

Each problem names the file, line and column (1-based), the question it concerns,
what is wrong and what to do about it. Tests assert codes, never message wording.
``docs/errors.md`` lists the catalogue for form authors.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]

#: code -> (severity, short title). The title is what ``check --json`` reports as ``title``.
CATALOGUE: dict[str, tuple[Severity, str]] = {
    # Files and YAML syntax
    "E100": ("error", "file cannot be read"),
    "E101": ("error", "YAML syntax error"),
    "E102": ("error", "duplicate key"),
    "E103": ("error", "the file is not a mapping"),
    "E104": ("error", "duplicate form id"),
    # Form and question keys
    "E201": ("error", "missing required key"),
    "E202": ("error", "unknown key"),
    "E203": ("error", "wrong value type"),
    "E204": ("error", "invalid value"),
    "E205": ("error", "unknown question type"),
    "E206": ("error", "key not allowed for this question type"),
    "E207": ("error", "group or repeat without questions"),
    # Names
    "E301": ("error", "invalid name"),
    "E302": ("error", "duplicate name"),
    "E303": ("error", "reserved name"),
    # Choices
    "E401": ("error", "unknown choice list"),
    "E402": ("error", "duplicate choice value"),
    "E403": ("error", "select without choices"),
    "E404": ("error", "invalid choice"),
    # Expressions
    "E501": ("error", "expression syntax error"),
    "E502": ("error", "unknown function"),
    "E503": ("error", "wrong number of arguments"),
    "E504": ("error", "unknown question"),
    "E505": ("error", "dependency cycle"),
    "E506": ("error", "'.' outside a question's own expression"),
    "E507": ("error", "bare name outside a choice filter"),
    "E508": ("error", "repeat question referred to from outside its repeat"),
    "E509": ("error", "expression refers to a question without an answer"),
    # Warnings
    "W601": ("warning", "missing translation"),
    "W602": ("warning", "unknown appearance"),
    "W603": ("warning", "unused choice list"),
    "W604": ("warning", "language not declared"),
    "W605": ("warning", "calculation reveals a sensitive answer"),
}


@dataclass(frozen=True)
class Problem:
    """One error or warning found in a form file."""

    code: str
    message: str
    path: str
    line: int = 1
    column: int = 1
    hint: str = ""
    question: str | None = None

    @property
    def severity(self) -> Severity:
        return CATALOGUE[self.code][0]

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def format(self) -> str:
        """``path:line:col: CODE message — hint``, the form ``check`` prints."""
        text = f"{self.path}:{self.line}:{self.column}: {self.code} {self.message}"
        if self.hint:
            text += f" — {self.hint}"
        return text

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "code": self.code,
            "severity": self.severity,
            "title": CATALOGUE[self.code][1],
            "message": self.message,
            "hint": self.hint,
            "question": self.question,
        }


@dataclass
class FormError(Exception):
    """Raised when forms cannot be loaded; carries every problem found, not just the first."""

    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        errors = [p for p in self.problems if p.is_error]
        return "\n".join(p.format() for p in errors) or "invalid form"


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A hint naming the closest candidate, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""
