"""Shared fixtures: paths of the repository and a helper to write forms inline."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORMS_DIR = ROOT / "form_definitions"


@pytest.fixture
def write_form(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write an inline YAML form (dedented) to a file and return its path."""

    def write(text: str, name: str = "form.yaml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return write
