"""Form files to the model. Every check of the form format happens here, once, at load.

The entry points (`load_paths`, `load_forms`, `load_file`, `load_text`) live here
with the form-level checks. A file is composed with positions (``yamlsource``),
its keys and values checked and turned into frozen model objects (the questions
by ``questions``), and its expressions parsed and resolved (``semantics``).
Every problem found is reported, not only the first one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from forms_server import semantics
from forms_server.errors import FormError, Problem
from forms_server.model import Form
from forms_server.questions import QuestionReader
from forms_server.reader import NAME_RE
from forms_server.yamlsource import compose, is_mapping, plain

LANG_RE = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
FORM_KEYS = (
    "id",
    "version",
    "title",
    "languages",
    "description",
    "instance_name",
    "access",
    "publish",
    "questions",
    "choices",
)


@dataclass(frozen=True)
class LoadResult:
    """The forms that loaded cleanly and every problem found in any file."""

    forms: tuple[Form, ...] = ()
    problems: tuple[Problem, ...] = ()

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]


def form_files(paths: Iterable[str | Path]) -> list[Path]:
    """The form files named by ``paths``: files as given, directories' ``*.yaml``/``*.yml``."""
    found: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            found.extend(sorted(p for p in item.iterdir() if p.suffix in (".yaml", ".yml")))
        else:
            found.append(item)
    return found


def load_paths(paths: Iterable[str | Path]) -> LoadResult:
    """Load and check every form file under ``paths``; forms with errors are left out."""
    forms: list[Form] = []
    problems: list[Problem] = []
    seen: dict[str, Form] = {}
    for path in form_files(paths):
        form, found = load_file(path)
        problems.extend(found)
        if form is None:
            continue
        if form.id in seen:
            problems.append(
                Problem(
                    "E104",
                    f"form id '{form.id}' is already used by {seen[form.id].path}",
                    str(path),
                    hint="give each form its own id",
                )
            )
            continue
        seen[form.id] = form
        forms.append(form)
    return LoadResult(tuple(forms), tuple(problems))


def load_forms(directory: str | Path) -> dict[str, Form]:
    """The forms of a directory by id; raises :class:`FormError` if any file has an error."""
    result = load_paths([directory])
    if result.errors:
        raise FormError(list(result.problems))
    return {form.id: form for form in result.forms}


def load_file(path: str | Path) -> tuple[Form | None, list[Problem]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [
            Problem("E100", f"cannot read the file: {exc}", str(path), hint="save it as UTF-8 text")
        ]
    return load_text(text, str(path))


def load_text(text: str, path: str = "<string>") -> tuple[Form | None, list[Problem]]:
    """Check one form's YAML text; the form is None when any error was found."""
    node, problems = compose(text, path)
    if node is None:
        return None, problems
    builder = _Builder(path, problems)
    form = builder.form(node)
    if form is None or any(p.is_error for p in builder.problems):
        return None, builder.problems
    return form, builder.problems


class _Builder(QuestionReader):
    """Reads a whole form file: the form's own keys, then its questions."""

    def form(self, node: yaml.Node) -> Form | None:
        if not is_mapping(node):
            self.problem(
                "E103",
                "a form file must be a mapping of keys",
                node,
                "start with 'id:', 'version:', 'title:' and 'questions:'",
            )
            return None
        keys = self.keys(node, FORM_KEYS, None, required=("id", "version", "title", "questions"))
        if "languages" in keys:
            self.languages = self.language_list(keys["languages"])
        form_id = self.form_id(keys.get("id"))
        version = self.version(keys.get("version"))
        title = self.text(keys.get("title"), None, "title")
        if "choices" in keys:
            self.choice_lists = self.choice_list_map(keys["choices"])
        questions = self.question_list(keys.get("questions"), (), ())
        description = self.text(keys.get("description"), None, "description")
        instance_name = self.expression(None, "instance_name", keys.get("instance_name"))
        access = self.enum(keys.get("access"), ("collectors", "public"), "collectors", None)
        publish = self.boolean(keys.get("publish"), True, None)
        for name, choices_node in self._choice_nodes(keys.get("choices")):
            if name not in self.used_lists:
                self.problem(
                    "W603",
                    f"choice list '{name}' is not used by any question",
                    choices_node,
                    "remove it, or use it in a select",
                )
        if form_id is None or version is None or title is None or questions is None:
            return None
        order, found = semantics.check(
            self.path, questions, self.exprs, self.texts, self.choice_lists, published=publish
        )
        self.problems.extend(found)
        return Form(
            id=form_id,
            version=version,
            title=title,
            path=self.path,
            questions=questions,
            languages=self.languages,
            description=description,
            instance_name=instance_name.expression if instance_name else None,
            access=access,
            publish=publish,
            choice_lists=self.choice_lists,
            order=order,
        )

    def form_id(self, node: yaml.Node | None) -> str | None:
        if node is None:
            return None
        value = plain(node)
        if not isinstance(value, str) or not NAME_RE.fullmatch(value):
            self.problem(
                "E301",
                f"invalid form id {value!r}",
                node,
                "use lowercase letters, digits and '_', starting with a letter, "
                "at most 63 characters, e.g. worker_intake",
            )
            return None
        return value

    def version(self, node: yaml.Node | None) -> str | None:
        if node is None:
            return None
        value = plain(node)
        if isinstance(value, bool) or not isinstance(value, str | int | float) or value == "":
            self.problem(
                "E203",
                "version must be a string or a number",
                node,
                "e.g. version: 3 or version: '2026-03'",
            )
            return None
        return str(value)

    def language_list(self, node: yaml.Node) -> tuple[str, ...]:
        value = plain(node)
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            self.problem(
                "E203",
                "languages must be a list of language tags",
                node,
                "e.g. languages: [zh-Hans, en]",
            )
            return ("en",)
        for item_node, tag in zip(node.value, value, strict=True):
            if not LANG_RE.fullmatch(tag):
                self.problem(
                    "E204",
                    f"'{tag}' is not a language tag",
                    item_node,
                    "use a BCP 47 tag such as zh-Hans, zh-Hant, en or mn",
                )
        if len(set(value)) != len(value):
            self.problem("E204", "a language is listed twice", node, "list each language once")
        return tuple(value)
