"""The checks of one question: its keys, name, type and type-specific settings.

`QuestionReader` adds to `reader.Reader` what reading the questions of a form
needs: each question's mapping becomes a frozen `model.Question`, groups and
repeats recursively, with every problem reported where it stands. The loader
(loader.py) builds on it for the form-level checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from forms_server.errors import did_you_mean
from forms_server.model import (
    APPEARANCES,
    CONTAINER_TYPES,
    NO_ANSWER_TYPES,
    QUESTION_TYPES,
    SELECT_TYPES,
    Question,
)
from forms_server.reader import NAME_RE, Reader
from forms_server.yamlsource import is_mapping, is_sequence, plain, pos

__all__ = ["QUESTION_KEYS", "QuestionReader"]

QUESTION_KEYS = (
    "name",
    "type",
    "label",
    "hint",
    "required",
    "required_message",
    "relevant",
    "constraint",
    "constraint_message",
    "calculation",
    "default",
    "read_only",
    "choices",
    "choice_filter",
    "appearance",
    "parameters",
    "repeat_count",
    "min",
    "max",
    "sensitive",
    "description",
    "questions",
)
#: Keys that only some types take: key -> (types, how to say which).
_KEY_TYPES: dict[str, tuple[frozenset[str], str]] = {
    "choices": (SELECT_TYPES, "select_one, select_multiple and rank"),
    "choice_filter": (SELECT_TYPES, "select_one, select_multiple and rank"),
    "parameters": (frozenset({"range"}), "range"),
    "repeat_count": (frozenset({"repeat"}), "repeat"),
    "min": (frozenset({"repeat"}), "repeat"),
    "max": (frozenset({"repeat"}), "repeat"),
    "questions": (CONTAINER_TYPES, "group and repeat"),
}
_NO_INPUT = NO_ANSWER_TYPES | {"calculate"}
#: XLSForm spellings accepted for types.
_TYPE_ALIASES = {
    "select one": "select_one",
    "select multiple": "select_multiple",
    "begin group": "group",
    "begin_group": "group",
    "begin repeat": "repeat",
    "begin_repeat": "repeat",
    "int": "integer",
    "string": "text",
    "trigger": "acknowledge",
    "photo": "image",
}
_RANGE_DEFAULTS = {"start": 1.0, "end": 10.0, "step": 1.0}


@dataclass
class QuestionReader(Reader):
    """Reads questions; remembers the names taken and the choice lists used so far."""

    names: dict[str, yaml.Node] = field(default_factory=dict)
    used_lists: set[str] = field(default_factory=set)

    def question_list(
        self, node: yaml.Node | None, repeats: tuple[str, ...], parents: tuple[str, ...]
    ) -> tuple[Question, ...] | None:
        if node is None:
            return None
        if not is_sequence(node):
            self.problem(
                "E203", "questions must be a list", node, "start each question with '- name: …'"
            )
            return None
        built = (self.question(item, repeats, parents) for item in node.value)
        return tuple(q for q in built if q is not None)

    def question(
        self, node: yaml.Node, repeats: tuple[str, ...], parents: tuple[str, ...]
    ) -> Question | None:
        if not is_mapping(node):
            self.problem(
                "E203",
                "a question must be a mapping",
                node,
                "e.g. - {name: age, type: integer, label: Age}",
            )
            return None
        name_node = next((v for k, v in node.value if k.value == "name"), None)
        name = self.question_name(name_node) if name_node is not None else None
        keys = self.keys(node, QUESTION_KEYS, name, required=("name", "type"))
        qtype, list_name = self.question_type(keys.get("type"), name)
        if name is None or qtype is None:
            return None
        for key, key_node in keys.items():
            allowed = _KEY_TYPES.get(key)
            if allowed and qtype not in allowed[0]:
                self.problem(
                    "E206",
                    f"'{key}' does not apply to a {qtype} question",
                    key_node,
                    f"'{key}' is for {allowed[1]} questions; remove it",
                    name,
                )
        kw: dict[str, Any] = {
            "name": name,
            "type": qtype,
            "line": pos(node).line,
            "repeats": repeats,
            "parents": parents,
        }
        for key in ("label", "hint", "required_message", "constraint_message", "description"):
            kw[key] = self.text(keys.get(key), name, key)
        if kw["label"] is None and qtype not in ("calculate", "hidden"):
            self.problem(
                "E201",
                f"question '{name}' has no label",
                node,
                "add label: {zh-Hans: …, en: …}",
                name,
            )
        kw["read_only"] = self.boolean(keys.get("read_only"), False, name)
        kw["sensitive"] = self.boolean(keys.get("sensitive"), False, name)
        kw["sensitive_stated"] = "sensitive" in keys
        self.required(keys.get("required"), name, qtype, kw)
        for key in ("relevant", "constraint", "choice_filter", "repeat_count"):
            kw[key] = self.expression_of(name, key, keys.get(key))
        calc = keys.get("calculation")
        if calc is not None and qtype != "calculate" and not kw["read_only"]:
            self.problem(
                "E206",
                f"'calculation' on a {qtype} question that is not read_only",
                calc,
                "add read_only: true, or make it a calculate question",
                name,
            )
        kw["calculation"] = self.expression_of(name, "calculation", calc)
        if qtype == "calculate" and calc is None:
            self.problem(
                "E201",
                f"calculate question '{name}' has no calculation",
                node,
                "add calculation: …",
                name,
            )
        if qtype in _NO_INPUT - {"calculate"}:
            for key in ("constraint", "default", "required"):
                if key in keys:
                    self.problem(
                        "E206",
                        f"'{key}' does not apply to a {qtype}",
                        keys[key],
                        f"remove '{key}'",
                        name,
                    )
        self.default(keys.get("default"), name, kw)
        kw["appearance"] = self.appearance(keys.get("appearance"), name)
        self.select(keys, name, qtype, list_name, node, kw)
        if qtype == "range":
            kw["parameters"] = self.parameters(keys.get("parameters"), name)
        if qtype == "repeat":
            kw["min_count"], kw["max_count"] = self.counts(keys, name)
        if qtype in CONTAINER_TYPES:
            inner = (*repeats, name) if qtype == "repeat" else repeats
            children = self.question_list(keys.get("questions"), inner, (*parents, name))
            listed = keys.get("questions")
            if listed is None or (is_sequence(listed) and not listed.value):
                self.problem(
                    "E207",
                    f"{qtype} '{name}' has no questions",
                    node,
                    "add questions: with at least one question",
                    name,
                )
            kw["questions"] = children or ()
        return Question(**kw)

    def question_name(self, node: yaml.Node) -> str | None:
        value = plain(node)
        if not isinstance(value, str) or not NAME_RE.fullmatch(value):
            if isinstance(value, str) and value.startswith("_"):
                self.problem(
                    "E303",
                    f"name '{value}' starts with '_', which is reserved for the "
                    "server's own columns",
                    node,
                    "remove the leading '_'",
                )
            else:
                self.problem(
                    "E301",
                    f"invalid question name {value!r}",
                    node,
                    "use lowercase letters, digits and '_', starting with a letter, at "
                    "most 63 characters, e.g. monthly_wage",
                )
            return None
        if value in self.names:
            first = pos(self.names[value])
            self.problem(
                "E302",
                f"question name '{value}' is already used at line {first.line}",
                node,
                "names are unique in the whole form, groups included: rename one of them",
            )
            return None
        self.names[value] = node
        return value

    def question_type(self, node: yaml.Node | None, name: str | None) -> tuple[str | None, str]:
        if node is None:
            return None, ""
        raw = plain(node)
        if not isinstance(raw, str):
            self.problem("E205", f"invalid question type {raw!r}", node, "e.g. type: text", name)
            return None, ""
        words = raw.strip().split()
        joined = " ".join(words[:2])
        qtype, rest = (
            (_TYPE_ALIASES[joined], words[2:])
            if joined in _TYPE_ALIASES
            else (_TYPE_ALIASES.get(words[0], words[0]) if words else "", words[1:])
        )
        if qtype not in QUESTION_TYPES:
            hint = did_you_mean(qtype, QUESTION_TYPES) or "types: " + ", ".join(
                sorted(QUESTION_TYPES)
            )
            self.problem("E205", f"unknown question type '{raw}'", node, hint, name)
            return None, ""
        if rest and not (qtype in SELECT_TYPES and len(rest) == 1):
            self.problem(
                "E205", f"unknown question type '{raw}'", node, f"write type: {qtype}", name
            )
            return None, ""
        return qtype, rest[0] if rest else ""

    def required(self, node: yaml.Node | None, name: str, qtype: str, kw: dict[str, Any]) -> None:
        if node is None:
            return
        value = plain(node)
        if isinstance(value, bool):
            kw["required"] = value
        elif isinstance(value, str):
            kw["required_if"] = self.expression_of(name, "required", node)
            kw["required"] = kw["required_if"] is not None
        else:
            self.problem(
                "E203",
                "required must be true, false or an expression",
                node,
                "e.g. required: true, or required: ${age} >= 16",
                name,
            )

    def default(self, node: yaml.Node | None, name: str, kw: dict[str, Any]) -> None:
        if node is None:
            return
        value = plain(node)
        if isinstance(value, str) and ("${" in value or "(" in value):
            kw["default_expr"] = self.expression_of(name, "default", node)
        elif isinstance(value, str | int | float | bool) and not isinstance(value, dict):
            kw["default"] = str(value).lower() if isinstance(value, bool) else str(value)
        else:
            self.problem(
                "E203",
                "a default is one literal answer or an expression",
                node,
                "e.g. default: 0, or default: today()",
                name,
            )

    def appearance(self, node: yaml.Node | None, name: str) -> tuple[str, ...]:
        if node is None:
            return ()
        value = plain(node)
        if not isinstance(value, str):
            self.problem(
                "E203", "appearance must be a string", node, "e.g. appearance: minimal", name
            )
            return ()
        words = tuple(value.split())
        for word in words:
            if word not in APPEARANCES:
                hint = did_you_mean(word, APPEARANCES) or "known: " + ", ".join(sorted(APPEARANCES))
                self.problem("W602", f"unknown appearance '{word}' is ignored", node, hint, name)
        return tuple(w for w in words if w in APPEARANCES)

    def select(
        self,
        keys: dict[str, yaml.Node],
        name: str,
        qtype: str,
        list_name: str,
        node: yaml.Node,
        kw: dict[str, Any],
    ) -> None:
        if qtype not in SELECT_TYPES:
            return
        choices_node = keys.get("choices")
        if choices_node is not None and list_name:
            self.problem(
                "E206",
                "choices given twice: in the type and in 'choices'",
                choices_node,
                f"write type: {qtype} and choices: {list_name}",
                name,
            )
        if choices_node is None and not list_name:
            self.problem(
                "E403",
                f"{qtype} question '{name}' has no choices",
                node,
                "add choices: with a list name or a list of choices",
                name,
            )
            return
        if choices_node is not None and is_sequence(choices_node):
            kw["choices"] = self.choices(choices_node, name)
            return
        target = choices_node if choices_node is not None else keys["type"]
        list_name = list_name or str(plain(target))
        if list_name not in self.choice_lists:
            hint = did_you_mean(list_name, self.choice_lists) or "define it under choices:"
            self.problem("E401", f"unknown choice list '{list_name}'", target, hint, name)
            return
        self.used_lists.add(list_name)
        kw["choice_list"] = list_name
        kw["choices"] = self.choice_lists[list_name]

    def parameters(self, node: yaml.Node | None, name: str) -> dict[str, float]:
        params = dict(_RANGE_DEFAULTS)
        if node is None:
            return params
        value = plain(node)
        if not isinstance(value, dict):
            self.problem(
                "E203",
                "parameters must be a mapping",
                node,
                "e.g. parameters: {start: 1, end: 5, step: 1}",
                name,
            )
            return params
        for key, item in value.items():
            if key not in params:
                hint = did_you_mean(str(key), params) or "use start, end and step"
                self.problem("E202", f"unknown parameter '{key}'", node, hint, name)
            elif isinstance(item, bool) or not isinstance(item, int | float):
                self.problem("E203", f"parameter '{key}' must be a number", node, "", name)
            else:
                params[key] = float(item)
        if params["step"] <= 0 or params["end"] <= params["start"]:
            self.problem(
                "E204",
                "a range needs start < end and a step above 0",
                node,
                "e.g. parameters: {start: 1, end: 5, step: 1}",
                name,
            )
        return params

    def counts(self, keys: dict[str, yaml.Node], name: str) -> tuple[int | None, int | None]:
        found: list[int | None] = []
        for key in ("min", "max"):
            node = keys.get(key)
            value = plain(node) if node is not None else None
            if node is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                self.problem(
                    "E203",
                    f"'{key}' must be a whole number of entries, 0 or more",
                    node,
                    f"e.g. {key}: 1",
                    name,
                )
                value = None
            found.append(value)
        low, high = found
        if low is not None and high is not None and low > high:
            self.problem(
                "E204", f"min ({low}) is greater than max ({high})", keys["min"], "swap them", name
            )
        if "repeat_count" in keys and (low is not None or high is not None):
            self.problem(
                "E206",
                "a repeat takes repeat_count or min/max, not both",
                keys["repeat_count"],
                "remove one of them",
                name,
            )
        return low, high
