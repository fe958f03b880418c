"""Expression text to an `Expression`: a JSON AST and what the loader checks.

`parse` turns source text (tokenized by lexer.py) into an `Expression`, whose AST
is plain JSON (nested lists) so that the browser evaluates exactly what the
server evaluates; `check_calls` reports unknown functions and wrong argument
counts; `references` names the questions an AST refers to. docs/expressions.md
specifies the language and the AST.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from forms_server.functions import FUNCTIONS, SIGNATURES, arity_ok
from forms_server.lexer import ExpressionError, Token, syntax_error, tokenize

if TYPE_CHECKING:
    from forms_server.expressions import Context
    from forms_server.values import Value

__all__ = [
    "MAX_DEPTH",
    "MAX_NESTING",
    "Expression",
    "ExpressionError",
    "Node",
    "check_calls",
    "parse",
    "references",
]

Node: TypeAlias = list[Any]

#: Deepest nesting of parentheses, calls and unary minus the parser follows.
MAX_NESTING: Final = 100
#: Deepest AST accepted (long chains of 'or' nest too); keeps evaluation off the stack limit.
MAX_DEPTH: Final = 200


@dataclass(frozen=True)
class Expression:
    """A parsed expression, with what the loader checks: names, calls, bare names, '.'."""

    source: str
    ast: Node
    refs: tuple[tuple[str, int], ...]
    calls: tuple[tuple[str, int, int], ...]
    attrs: tuple[tuple[str, int], ...]
    uses_dot: bool

    def __hash__(self) -> int:  # the AST is a list; the source determines it
        return hash(self.source)

    def to_json(self) -> Node:
        return self.ast

    @cached_property
    def compiled(self) -> Callable[[Context], Value]:
        """The AST as nested closures, built on first use (see compiler.compile_node)."""
        from forms_server.compiler import compile_node

        return compile_node(self.ast)

    def __getstate__(self) -> dict[str, Any]:  # leave the closures out of copies and pickles
        state = dict(self.__dict__)
        state.pop("compiled", None)
        return state


_QNAME = re.compile(r"\s*\$\{([A-Za-z_][A-Za-z0-9_]*)\}\s*")
_KEYWORDS = {"or": "or", "and": "and", "div": "div", "mod": "mod"}
_PRECEDENCE = {
    "or": 1,
    "and": 2,
    "=": 3,
    "!=": 3,
    "<": 4,
    "<=": 4,
    ">": 4,
    ">=": 4,
    "+": 5,
    "-": 5,
    "*": 6,
    "div": 6,
    "mod": 6,
}

# -- parser ------------------------------------------------------------------------------


class _Parser:
    """Recursive descent with precedence climbing for the binary operators."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.pos = 0
        self.nesting = 0
        self.refs: list[tuple[str, int]] = []
        self.calls: list[tuple[str, int, int]] = []
        self.attrs: list[tuple[str, int]] = []
        self.uses_dot = False

    def peek(self) -> Token:
        return self.tokens[self.pos]

    def take(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expression(self) -> tuple[Node, int]:
        node, depth = self.binary(1)
        token = self.peek()
        if token.kind == ")":
            raise syntax_error("unmatched ')'", token.offset, "remove it, or add the '(' it closes")
        if token.kind != "eof":
            raise self.unexpected(token)
        return node, depth

    def operator(self, token: Token) -> str | None:
        if token.kind == "op":
            return token.text
        if token.kind == "name":
            return _KEYWORDS.get(token.text)
        return None

    def binary(self, min_precedence: int) -> tuple[Node, int]:
        left, depth = self.unary()
        while True:
            op = self.operator(self.peek())
            if op is None or _PRECEDENCE[op] < min_precedence:
                return left, depth
            token = self.take()
            right, right_depth = self.binary(_PRECEDENCE[op] + 1)
            depth = max(depth, right_depth) + 1
            if depth > MAX_DEPTH:
                raise syntax_error(
                    "the expression is too long a chain",
                    token.offset,
                    "split it into calculate questions",
                )
            left = [op, left, right]

    def nest(self, token: Token) -> None:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise syntax_error(
                f"more than {MAX_NESTING} levels of nesting",
                token.offset,
                "split the expression into calculate questions",
            )

    def unary(self) -> tuple[Node, int]:
        token = self.peek()
        if token.kind == "op" and token.text == "-":
            self.take()
            self.nest(token)
            node, depth = self.unary()
            self.nesting -= 1
            return ["neg", node], depth + 1
        return self.primary()

    def primary(self) -> tuple[Node, int]:
        token = self.take()
        kind = token.kind
        if kind == "num":
            value = float(token.text)
            if math.isinf(value):
                raise syntax_error("number too large", token.offset)
            return ["num", int(value) if value.is_integer() and abs(value) < 2**53 else value], 1
        if kind == "str":
            return ["str", token.text], 1
        if kind == "ref":
            self.refs.append((token.text, token.offset))
            return ["ref", token.text], 1
        if kind == "dot":
            self.uses_dot = True
            return ["dot"], 1
        if kind == "parent":
            return ["parent"], 1
        if kind == "(":
            self.nest(token)
            node, depth = self.binary(1)
            self.close(token)
            self.nesting -= 1
            return node, depth
        if kind == "name" and token.call:
            return self.call(token)
        if kind == "name" and token.text not in _KEYWORDS:
            self.attrs.append((token.text, token.offset))
            return ["attr", token.text], 1
        raise self.missing_operand(token)

    def call(self, name: Token) -> tuple[Node, int]:
        self.calls.append((name.text, 0, name.offset))
        slot = len(self.calls) - 1
        paren = self.take()
        self.nest(paren)
        args: list[Node] = []
        starts: list[int] = []
        depth = 0
        if self.peek().kind == ")":
            self.take()
        else:
            while True:
                starts.append(self.peek().offset)
                arg, arg_depth = self.binary(1)
                args.append(arg)
                depth = max(depth, arg_depth)
                if self.peek().kind == ",":
                    self.take()
                    continue
                self.close(paren)
                break
        self.nesting -= 1
        self.calls[slot] = (name.text, len(args), name.offset)
        if name.text == "jr:choice-name" and len(args) > 1 and args[1][0] == "str":
            args[1] = self.question_name(args[1][1], starts[1])
        return ["call", name.text, *args], depth + 1

    def question_name(self, text: str, offset: int) -> Node:
        """jr:choice-name's second argument: the question whose choices give the label."""
        match = _QNAME.fullmatch(text)
        if match:
            self.refs.append((match.group(1), offset + 1 + match.start(1) - 2))
            return ["qname", match.group(1)]
        if "${" in text:
            raise syntax_error(
                "jr:choice-name needs the question as '${name}'",
                offset + 1,
                "e.g. jr:choice-name(${sector}, '${sector}')",
            )
        return ["str", text]

    def close(self, opening: Token) -> None:
        token = self.take()
        if token.kind == ")":
            return
        if token.kind == "eof":
            raise syntax_error("'(' is not closed", opening.offset, "add ')'")
        self.pos -= 1
        raise self.unexpected(token, "expected ',' or ')'" if opening.kind == "(" else "")

    def before(self, token: Token) -> Token | None:
        """The token before this one (tokens have distinct offsets)."""
        i = self.tokens.index(token)
        return self.tokens[i - 1] if i > 0 else None

    def missing_operand(self, token: Token) -> ExpressionError:
        before = self.before(token)
        if before is None:
            if token.kind == "eof":
                return syntax_error("the expression is empty", 0, "write one, e.g. ${age} >= 16")
            return syntax_error(
                f"expected an operand before '{token.text}'",
                token.offset,
                f"'{token.text}' needs an operand on each side",
            )
        if token.kind == "eof":
            if before.kind == "(":
                return syntax_error("'(' is not closed", before.offset, "add an expression and ')'")
            what = "an argument" if before.kind == "," else "an operand"
            return syntax_error(
                f"expected {what} after '{before.text}'",
                before.offset,
                f"complete what follows '{before.text}', or remove it",
            )
        if token.kind == ")" and before.kind == "(":
            return syntax_error("empty parentheses", before.offset, "put an expression inside '()'")
        if token.kind == ",":
            return syntax_error(
                "expected an argument before ','",
                token.offset,
                "remove the extra ',' or add the missing argument",
            )
        if token.kind == ")":
            return syntax_error(
                "expected an operand before ')'",
                token.offset,
                f"complete the expression after '{before.text}'",
            )
        return syntax_error(
            f"expected an operand between '{before.text}' and '{token.text}'",
            token.offset,
            "remove one of the operators, or add the operand",
        )

    def unexpected(self, token: Token, expected: str = "") -> ExpressionError:
        before = self.before(token)
        shown = {"num": token.text, "str": repr(token.text), "ref": f"${{{token.text}}}"}
        text = shown.get(token.kind, token.text)
        if token.kind == "name" and token.text.lower() in _KEYWORDS:
            hint = f"'{token.text}' is not an operator: use '{token.text.lower()}'"
        elif before is not None and before.kind == "name" and before.text == "not":
            hint = "not is a function: not(...)"
        elif before is not None and before.kind == "name" and before.text in FUNCTIONS:
            hint = f"'{before.text}' is a function: {before.text}(...)"
        else:
            hint = expected or "add an operator such as 'and', '=' or '+' between them"
        return syntax_error(f"unexpected {text}", token.offset, hint)


def parse(source: str) -> Expression:
    """Parse one expression; raises ExpressionError (E501) on a syntax error."""
    parser = _Parser(source)
    ast, _ = parser.expression()
    return Expression(
        source=source,
        ast=ast,
        refs=tuple(sorted(parser.refs, key=lambda r: r[1])),
        calls=tuple(sorted(parser.calls, key=lambda c: c[2])),
        attrs=tuple(parser.attrs),
        uses_dot=parser.uses_dot,
    )


def _expected_count(name: str) -> str:
    low, high = FUNCTIONS[name]
    if name == "indexed-repeat":
        return "3, 5 or 7 arguments"
    if high is None:
        return f"at least {low} argument{'s' * (low != 1)}"
    if low == high:
        return f"{low} argument{'s' * (low != 1)}"
    return f"{low} or {high} arguments" if high == low + 1 else f"{low} to {high} arguments"


def check_calls(expr: Expression) -> list[ExpressionError]:
    """Unknown functions (E502) and wrong numbers of arguments (E503), at the name."""
    errors: list[ExpressionError] = []
    for name, count, offset in expr.calls:
        if name not in FUNCTIONS:
            close = (
                [name.lower()]
                if name.lower() in FUNCTIONS
                else difflib.get_close_matches(name, FUNCTIONS, n=1)
            )
            hint = f"did you mean '{close[0]}'?" if close else "see docs/expressions.md"
            errors.append(ExpressionError("E502", f"unknown function '{name}'", offset, hint))
        elif not arity_ok(name, count):
            message = f"'{name}' takes {_expected_count(name)}, not {count}"
            hint = f"e.g. {SIGNATURES[name][2]}"
            errors.append(ExpressionError("E503", message, offset, hint))
    return errors


def references(ast: Node) -> set[str]:
    """Names of the questions an AST refers to (including jr:choice-name's question)."""
    found: set[str] = set()
    stack = [ast]
    while stack:
        node = stack.pop()
        if node[0] in ("ref", "qname"):
            found.add(node[1])
        elif node[0] not in ("num", "str", "attr"):
            stack.extend(child for child in node[1:] if isinstance(child, list))
    return found
