"""Reading checked values out of composed YAML nodes, reporting each problem where it stands.

The :class:`Reader` holds what one form file's checks share: its path, the problems
found so far, the declared languages, and every text and expression read, so that
``semantics`` can resolve them once the whole form is known.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import yaml

from forms_server.errors import Problem, did_you_mean
from forms_server.expressions import Expression, ExpressionError, check_calls, parse
from forms_server.model import Choice, Text
from forms_server.semantics import Located
from forms_server.yamlsource import is_mapping, is_sequence, plain, pos, value_pos

NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,62}")


@dataclass
class Reader:
    path: str
    problems: list[Problem]
    languages: tuple[str, ...] = ("en",)
    choice_lists: dict[str, tuple[Choice, ...]] = field(default_factory=dict)
    exprs: list[Located] = field(default_factory=list)
    texts: list[tuple[str | None, Text, yaml.Node]] = field(default_factory=list)

    def problem(
        self, code: str, message: str, node: yaml.Node, hint: str = "", question: str | None = None
    ) -> None:
        p = pos(node)
        self.problems.append(Problem(code, message, self.path, p.line, p.column, hint, question))

    def keys(
        self,
        node: yaml.Node,
        allowed: tuple[str, ...],
        question: str | None,
        required: tuple[str, ...] = (),
    ) -> dict[str, yaml.Node]:
        """A mapping's values by key, reporting unknown and missing keys."""
        found: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in allowed:
                found.setdefault(key, value_node)
            else:
                hint = did_you_mean(key, allowed) or "allowed keys: " + ", ".join(allowed)
                self.problem("E202", f"unknown key '{key}'", key_node, hint, question)
        where = f" in question '{question}'" if question else ""
        for key in required:
            if key not in found:
                self.problem(
                    "E201", f"missing required key '{key}'{where}", node, f"add '{key}:'", question
                )
        return found

    def enum(
        self, node: yaml.Node | None, allowed: tuple[str, ...], default: str, question: str | None
    ) -> str:
        if node is None:
            return default
        value = plain(node)
        if value not in allowed:
            hint = did_you_mean(str(value), allowed) or "use one of: " + ", ".join(allowed)
            self.problem("E204", f"invalid value {value!r}", node, hint, question)
            return default
        return str(value)

    def boolean(self, node: yaml.Node | None, default: bool, question: str | None) -> bool:
        if node is None:
            return default
        value = plain(node)
        if not isinstance(value, bool):
            self.problem(
                "E203",
                f"expected true or false, found {value!r}",
                node,
                "write true or false",
                question,
            )
            return default
        return value

    def text(self, node: yaml.Node | None, question: str | None, key: str) -> Text | None:
        if node is None:
            return None
        value = plain(node)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            text = Text({"": str(value)})
        elif (
            isinstance(value, dict)
            and value
            and all(
                isinstance(v, str | int | float) and not isinstance(v, bool) for v in value.values()
            )
        ):
            text = Text({str(k): str(v) for k, v in value.items()})
            self.translations(node, text, question, key)
        else:
            self.problem(
                "E203",
                f"{key} must be a string or a mapping of language to string",
                node,
                "e.g. {zh-Hans: 姓名, en: Name}",
                question,
            )
            return None
        self.texts.append((question, text, node))
        return text

    def translations(self, node: yaml.Node, text: Text, question: str | None, key: str) -> None:
        for key_node, _ in node.value:
            if key_node.value not in self.languages:
                self.problem(
                    "W604",
                    f"language '{key_node.value}' of {key} is not in the form's languages",
                    key_node,
                    "add it to languages, or fix the tag",
                    question,
                )
        for lang in self.languages:
            if lang not in text.values:
                where = f" of '{question}'" if question else ""
                self.problem(
                    "W601",
                    f"{key}{where} has no '{lang}' translation",
                    node,
                    f"add {lang}: …; until then the {self.languages[0]} text is shown",
                    question,
                )

    def _choice_nodes(self, node: yaml.Node | None) -> Iterator[tuple[str, yaml.Node]]:
        if node is not None and is_mapping(node):
            for key_node, value_node in node.value:
                yield str(key_node.value), value_node

    def choice_list_map(self, node: yaml.Node) -> dict[str, tuple[Choice, ...]]:
        if not is_mapping(node):
            self.problem(
                "E203",
                "choices must map list names to lists of choices",
                node,
                "e.g. choices: {yes_no: [{value: 'yes', label: Yes}]}",
            )
            return {}
        lists: dict[str, tuple[Choice, ...]] = {}
        for key_node, value_node in node.value:
            name = str(key_node.value)
            if not NAME_RE.fullmatch(name):
                self.problem(
                    "E301",
                    f"invalid choice list name '{name}'",
                    key_node,
                    "use lowercase letters, digits and '_', starting with a letter",
                )
            lists[name] = self.choices(value_node, None)
        return lists

    def choices(self, node: yaml.Node, question: str | None) -> tuple[Choice, ...]:
        if not is_sequence(node) or not node.value:
            self.problem(
                "E203",
                "a choice list must be a non-empty list of choices",
                node,
                "e.g. - {value: 'yes', label: {zh-Hans: 是, en: 'Yes'}}",
                question,
            )
            return ()
        choices: list[Choice] = []
        seen: dict[str, int] = {}
        for item in node.value:
            choice = self.choice(item, question)
            if choice is None:
                continue
            if choice.value in seen:
                self.problem(
                    "E402",
                    f"choice value '{choice.value}' appears twice in the list "
                    f"(first at line {seen[choice.value]})",
                    item,
                    "give every choice its own value",
                    question,
                )
                continue
            seen[choice.value] = pos(item).line
            choices.append(choice)
        return tuple(choices)

    def choice(self, node: yaml.Node, question: str | None) -> Choice | None:
        if not is_mapping(node):
            self.problem(
                "E404",
                "a choice must be a mapping with value and label",
                node,
                "e.g. {value: construction, label: {zh-Hans: 建筑, en: Construction}}",
                question,
            )
            return None
        fields = {str(k.value): (k, v) for k, v in node.value}
        if "value" not in fields or "label" not in fields:
            missing = "value" if "value" not in fields else "label"
            close = did_you_mean(missing, fields)
            self.problem(
                "E201",
                f"a choice needs a '{missing}'",
                node,
                close or f"add {missing}: …",
                question,
            )
            return None
        value_node = fields["value"][1]
        value = plain(value_node)
        if isinstance(value, bool):
            self.problem(
                "E203",
                f"choice value {value!r} was read by YAML as a boolean",
                value_node,
                "quote it: value: 'yes'",
                question,
            )
            return None
        text_value = str(value) if isinstance(value, str | int | float) else ""
        if not text_value or any(ch.isspace() for ch in text_value):
            self.problem(
                "E404",
                f"invalid choice value {value!r}",
                value_node,
                "a choice value is one word without spaces: use '_' between words",
                question,
            )
            return None
        label = self.text(fields["label"][1], question, "label")
        attrs: dict[str, str] = {}
        for key, (key_node, attr_node) in fields.items():
            if key in ("value", "label"):
                continue
            attr = plain(attr_node)
            if not NAME_RE.fullmatch(key) or isinstance(attr, dict | list):
                self.problem(
                    "E404",
                    f"invalid choice attribute '{key}'",
                    key_node,
                    "attributes are names with one plain value, e.g. province: henan",
                    question,
                )
                continue
            attrs[key] = str(attr)
        return Choice(text_value, label or Text({"": text_value}), attrs)

    def expression_of(self, name: str, key: str, node: yaml.Node | None) -> Expression | None:
        located = self.expression(name, key, node)
        return located.expression if located else None

    def expression(self, name: str | None, key: str, node: yaml.Node | None) -> Located | None:
        """Parse one expression, reporting syntax and function errors where they stand."""
        if node is None:
            return None
        value = plain(node)
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.problem("E203", f"{key} must be an expression", node, "e.g. ${age} >= 16", name)
            return None
        try:
            expression = parse(str(value))
        except ExpressionError as exc:
            self.located_problem(exc, node, name, key)
            return None
        for problem in check_calls(expression):
            self.located_problem(problem, node, name, key)
        located = Located(expression, key, node, name)
        self.exprs.append(located)
        return located

    def located_problem(
        self, exc: ExpressionError, node: yaml.Node, name: str | None, key: str
    ) -> None:
        where = f"{key} of '{name}'" if name else key
        p = value_pos(node, exc.offset)
        self.problems.append(
            Problem(
                exc.code, f"{exc.message} in {where}", self.path, p.line, p.column, exc.hint, name
            )
        )
