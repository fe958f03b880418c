"""The expression language of forms: XLSForm's XPath subset, parsed once, evaluated often.

`parse` turns source text into an `Expression`, whose AST is plain JSON (nested
lists) so that the browser evaluates exactly what the server evaluates;
`check_calls` reports unknown functions and wrong argument counts; `evaluate`
computes a value from answers. docs/expressions.md specifies the language and the
AST; values and functions live in functions.py.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NamedTuple, TypeAlias

from forms_server.functions import (
    FUNCTIONS,
    LIBRARY,
    NAN,
    SIGNATURES,
    DateValue,
    Scalar,
    Value,
    answer_value,
    to_boolean,
    to_number,
    to_string,
)

__all__ = [
    "FUNCTIONS",
    "Context",
    "DateValue",
    "Expression",
    "ExpressionError",
    "Field",
    "Node",
    "Value",
    "check_calls",
    "evaluate",
    "parse",
    "references",
    "to_boolean",
    "to_number",
    "to_string",
]

Node: TypeAlias = list[Any]

#: Deepest nesting of parentheses, calls and unary minus the parser follows.
MAX_NESTING: Final = 100
#: Deepest AST accepted (long chains of 'or' nest too); keeps evaluation off the stack limit.
MAX_DEPTH: Final = 200


class ExpressionError(Exception):
    """A problem in one expression, located by character offset into its source."""

    def __init__(self, code: str, message: str, offset: int, hint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.offset = offset
        self.hint = hint


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


# -- tokens ------------------------------------------------------------------------------


class _Token(NamedTuple):
    kind: str  # num str ref dot parent ( ) , op name eof
    text: str
    offset: int
    call: bool = False  # a name directly followed by '('


_SPACE = " \t\r\n"
_DIGITS = "0123456789"  # str.isdigit() would also accept '²' and '٣'
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_CALL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?::[A-Za-z_][A-Za-z0-9_-]*)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_QNAME = re.compile(r"\s*\$\{([A-Za-z_][A-Za-z0-9_]*)\}\s*")
_OPERATORS = ("!=", "<=", ">=", "=", "<", ">", "+", "-", "*")
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
_MISTAKES = {
    "==": "'==' is not an operator: use '='",
    "===": "'===' is not an operator: use '='",
    "=>": "'=>' is not an operator: use '>='",
    "=<": "'=<' is not an operator: use '<='",
    "<>": "'<>' is not an operator: use '!='",
    "&&": "'&&' is not an operator: use 'and'",
    "||": "'||' is not an operator: use 'or'",
    "**": "'**' is not an operator: use pow(x, y)",
    "&": "'&' is not an operator: use 'and'",
    "|": "'|' is not an operator: use 'or'",
    "!": "'!' is not an operator: use not(...) or '!='",
    "/": "'/' is not an operator: divide with 'div'",
    "%": "'%' is not an operator: use 'mod'",
    "^": "'^' is not an operator: use pow(x, y)",
    "≠": "use '!='",
    "≤": "use '<='",
    "≥": "use '>='",
    "“": "curly quotes do not delimit text: use ' or \"",
    "”": "curly quotes do not delimit text: use ' or \"",
    "‘": "curly quotes do not delimit text: use ' or \"",
    "’": "curly quotes do not delimit text: use ' or \"",
    "\u3000": "a full-width space: use an ordinary space",
    "$": "'$' starts a reference to a question: ${name}",
    "{": "braces only appear in ${name}",
    "}": "braces only appear in ${name}",
    "[": "XPath paths and predicates are not supported: refer to questions as ${name}",
    "]": "XPath paths and predicates are not supported: refer to questions as ${name}",
    "@": "XPath paths are not supported: refer to questions as ${name}",
}
_LONG_MISTAKES = sorted((m for m in _MISTAKES if len(m) > 1), key=len, reverse=True)


def _fail(message: str, offset: int, hint: str = "") -> ExpressionError:
    return ExpressionError("E501", message, offset, hint)


def _tokenize(src: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(src)
    while True:
        while i < n and src[i] in _SPACE:
            i += 1
        if i >= n:
            tokens.append(_Token("eof", "", n))
            return tokens
        c = src[i]
        if c in "'\"":
            end = src.find(c, i + 1)
            if end < 0:
                raise _fail("unclosed text", i, f"unclosed string: add the closing {c}")
            tokens.append(_Token("str", src[i + 1 : end], i))
            i = end + 1
        elif c == "$" and src.startswith("${", i):
            tokens.append(_reference(src, i))
            i += len(tokens[-1].text) + 3
        elif c in _DIGITS or (c == "." and i + 1 < n and src[i + 1] in _DIGITS):
            match = _NUMBER.match(src, i)
            assert match is not None  # a digit, or '.' before a digit, starts a number
            tokens.append(_Token("num", match.group(), i))
            i = match.end()
            if i < n and (src[i].isalpha() or src[i] == "_"):
                hint = "put an operator or a space after the number"
                if src[i] in "eE":
                    hint = "exponents are not supported: write the number in full"
                raise _fail(f"unexpected '{src[i]}' after a number", i, hint)
        elif c == ".":
            kind, text = ("parent", "..") if src.startswith("..", i) else ("dot", ".")
            tokens.append(_Token(kind, text, i))
            i += len(text)
        elif c in "(),":
            tokens.append(_Token(c, c, i))
            i += 1
        elif c.isascii() and (c.isalpha() or c == "_"):
            tokens.append(_name(src, i))
            i += len(tokens[-1].text)
        else:
            # Two-character mistakes first ('==' before '='), then real operators ('!='
            # before '!').
            mistake = next((m for m in _LONG_MISTAKES if src.startswith(m, i)), None)
            op = next((op for op in _OPERATORS if src.startswith(op, i)), None)
            if mistake is None and op is None and c in _MISTAKES:
                mistake = c
            if mistake is not None:
                raise _fail(f"unexpected '{mistake}'", i, _MISTAKES[mistake])
            if op is None:
                raise _fail(f"unexpected character '{c}'", i, _character_hint(c))
            tokens.append(_Token("op", op, i))
            i += len(op)


def _reference(src: str, start: int) -> _Token:
    """The ${name} at start; the name may break the naming rules (the loader says so)."""
    end = src.find("}", start + 2)
    match = _NAME.match(src, start + 2)
    if match and match.end() == end:
        return _Token("ref", match.group(), start)
    if end == start + 2:
        raise _fail("empty ${}", end, "put a question name between '${' and '}'")
    bad = match.end() if match else start + 2
    if end < 0 or src[bad] == "$":
        raise _fail("'${' without '}'", start, "add '}' after the question name")
    if src[bad] in _SPACE:
        raise _fail("a space in a question name", bad, "names use letters, digits and '_'")
    if bad == start + 2:
        raise _fail(
            "a question name starts with a letter",
            bad,
            "names use letters, digits and '_', starting with a letter",
        )
    raise _fail(
        f"'{src[bad]}' cannot be part of a question name", bad, "names use letters, digits and '_'"
    )


def _name(src: str, start: int) -> _Token:
    """A bare name, or a function name: only a call may contain '-' and a 'jr:' prefix."""
    match = _CALL_NAME.match(src, start)
    assert match is not None  # a letter or '_' starts a name
    after = match.end()
    while after < len(src) and src[after] in _SPACE:
        after += 1
    if src[after : after + 1] == "(":
        return _Token("name", match.group(), start, True)
    short = _NAME.match(src, start)
    assert short is not None
    return _Token("name", short.group(), start)


def _character_hint(c: str) -> str:
    if "\uff01" <= c <= "\uff5e":
        return f"'{c}' is a full-width character: use '{chr(ord(c) - 0xFEE0)}'"
    return "operators are: or and = != < <= > >= + - * div mod"


# -- parser ------------------------------------------------------------------------------


class _Parser:
    """Recursive descent with precedence climbing for the binary operators."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokenize(source)
        self.pos = 0
        self.nesting = 0
        self.refs: list[tuple[str, int]] = []
        self.calls: list[tuple[str, int, int]] = []
        self.attrs: list[tuple[str, int]] = []
        self.uses_dot = False

    def peek(self) -> _Token:
        return self.tokens[self.pos]

    def take(self) -> _Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def expression(self) -> tuple[Node, int]:
        node, depth = self.binary(1)
        token = self.peek()
        if token.kind == ")":
            raise _fail("unmatched ')'", token.offset, "remove it, or add the '(' it closes")
        if token.kind != "eof":
            raise self.unexpected(token)
        return node, depth

    def operator(self, token: _Token) -> str | None:
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
                raise _fail(
                    "the expression is too long a chain",
                    token.offset,
                    "split it into calculate questions",
                )
            left = [op, left, right]

    def nest(self, token: _Token) -> None:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise _fail(
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
                raise _fail("number too large", token.offset)
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

    def call(self, name: _Token) -> tuple[Node, int]:
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
            raise _fail(
                "jr:choice-name needs the question as '${name}'",
                offset + 1,
                "e.g. jr:choice-name(${sector}, '${sector}')",
            )
        return ["str", text]

    def close(self, opening: _Token) -> None:
        token = self.take()
        if token.kind == ")":
            return
        if token.kind == "eof":
            raise _fail("'(' is not closed", opening.offset, "add ')'")
        self.pos -= 1
        raise self.unexpected(token, "expected ',' or ')'" if opening.kind == "(" else "")

    def before(self, token: _Token) -> _Token | None:
        """The token before this one (tokens have distinct offsets)."""
        i = self.tokens.index(token)
        return self.tokens[i - 1] if i > 0 else None

    def missing_operand(self, token: _Token) -> ExpressionError:
        before = self.before(token)
        if before is None:
            if token.kind == "eof":
                return _fail("the expression is empty", 0, "write one, e.g. ${age} >= 16")
            return _fail(
                f"expected an operand before '{token.text}'",
                token.offset,
                f"'{token.text}' needs an operand on each side",
            )
        if token.kind == "eof":
            if before.kind == "(":
                return _fail("'(' is not closed", before.offset, "add an expression and ')'")
            what = "an argument" if before.kind == "," else "an operand"
            return _fail(
                f"expected {what} after '{before.text}'",
                before.offset,
                f"complete what follows '{before.text}', or remove it",
            )
        if token.kind == ")" and before.kind == "(":
            return _fail("empty parentheses", before.offset, "put an expression inside '()'")
        if token.kind == ",":
            return _fail(
                "expected an argument before ','",
                token.offset,
                "remove the extra ',' or add the missing argument",
            )
        if token.kind == ")":
            return _fail(
                "expected an operand before ')'",
                token.offset,
                f"complete the expression after '{before.text}'",
            )
        return _fail(
            f"expected an operand between '{before.text}' and '{token.text}'",
            token.offset,
            "remove one of the operators, or add the operand",
        )

    def unexpected(self, token: _Token, expected: str = "") -> ExpressionError:
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
        return _fail(f"unexpected {text}", token.offset, hint)


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


def _arity_ok(name: str, count: int) -> bool:
    low, high = FUNCTIONS[name]
    if name == "indexed-repeat" and count % 2 == 0:
        return False
    return count >= low and (high is None or count <= high)


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
        elif not _arity_ok(name, count):
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


# -- evaluation --------------------------------------------------------------------------

_UNSET: Final[Any] = object()


@dataclass(frozen=True)
class Field:
    """What the evaluator needs to know of a question, group or repeat."""

    type: str
    repeats: tuple[str, ...] = ()  # enclosing repeats, outermost first (not itself)


@dataclass(frozen=True)
class Context:
    """Everything an expression can see: answers, the form's fields, the clock, its place."""

    answers: Mapping[str, Any]
    fields: Mapping[str, Field]
    now: datetime
    here: str | None = None
    index: tuple[int, ...] = ()
    dot: Any = _UNSET
    choice: Mapping[str, str] | None = None
    choice_label: Callable[[str, str], str] | None = None
    #: Makes uuid()'s values. The server derives them from the submission's id, so a
    #: resent submission computes the same answers; the default is a random UUID4.
    make_uuid: Callable[[], str] | None = None


def evaluate(expr: Expression | Node, ctx: Context) -> Value:
    """The value of an expression; never raises for an AST that passed check_calls."""
    return _ev(expr.ast if isinstance(expr, Expression) else expr, ctx)


def _ev(node: Node, ctx: Context) -> Value:
    handler = _HANDLERS.get(node[0])
    if handler is None:
        raise ExpressionError("E501", f"not an expression node: {node[0]!r}", 0)
    return handler(node, ctx)


def _lookup(name: str, ctx: Context, wanted: Mapping[str, int] | None = None) -> Value:
    """A question's answer in the entry of each repeat that the context (or `wanted`) fixes.

    A repeat level that is neither fixed by `wanted` nor shared with the current
    question contributes every entry, which makes the result a node-set.
    """
    field = ctx.fields.get(name)
    if field is None:
        return answer_value(ctx.answers.get(name), "")
    is_repeat = field.type == "repeat"
    if not field.repeats and not is_repeat:
        return answer_value(ctx.answers.get(name), field.type)
    levels = (*field.repeats, name) if is_repeat else field.repeats
    here = ctx.fields.get(ctx.here) if ctx.here is not None else None
    scope = here.repeats if here is not None else ()
    fixed: list[int | None] = []
    shared = True
    for k, level in enumerate(levels):
        shared = shared and k < len(scope) and scope[k] == level and k < len(ctx.index)
        if wanted is not None and level in wanted:
            fixed.append(wanted[level])
            shared = False  # inner levels now belong to another entry than the context's
        elif shared and not (is_repeat and k == len(levels) - 1):
            fixed.append(ctx.index[k])
        else:
            fixed.append(None)
    found: list[Scalar] = []
    _collect(ctx.answers, levels, fixed, 0, name, "" if is_repeat else field.type, found)
    if None in fixed:
        return tuple(found)
    return found[0] if found else ""


def _collect(
    level: Mapping[str, Any],
    levels: tuple[str, ...],
    fixed: list[int | None],
    k: int,
    name: str,
    type_: str,
    found: list[Scalar],
) -> None:
    if k == len(levels):
        # A repeat's entry stands for itself: only its number matters (count()).
        found.append(answer_value(level.get(name), type_) if type_ else "")
        return
    entries = level.get(levels[k])
    if not isinstance(entries, list | tuple):
        return
    i = fixed[k]
    chosen = entries if i is None else entries[i : i + 1] if i >= 0 else ()
    for entry in chosen:
        if isinstance(entry, Mapping):
            _collect(entry, levels, fixed, k + 1, name, type_, found)


def _dot_value(ctx: Context) -> Value:
    if ctx.dot is not _UNSET:
        here = ctx.fields.get(ctx.here) if ctx.here is not None else None
        return answer_value(ctx.dot, here.type if here is not None else "")
    return _lookup(ctx.here, ctx) if ctx.here is not None else ""


def _attr(node: Node, ctx: Context) -> Value:
    if ctx.choice is None:
        return ""
    name: str = node[1]
    if name == "name":  # in XLSForm the choice's value is its 'name' column
        return answer_value(ctx.choice.get("value", ctx.choice.get("name")), "")
    return answer_value(ctx.choice.get(name), "")


def _equal(a: Value, b: Value) -> bool:
    if isinstance(a, tuple):
        a = a[0] if a else ""
    if isinstance(b, tuple):
        b = b[0] if b else ""
    if isinstance(a, bool) or isinstance(b, bool):
        return to_boolean(a) == to_boolean(b)
    if isinstance(a, float) or isinstance(b, float):
        return to_number(a) == to_number(b)
    if isinstance(a, DateValue) and isinstance(b, DateValue):
        return a.days == b.days
    return to_string(a) == to_string(b)


def _divide(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or a != a:
            return NAN
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _modulo(a: float, b: float) -> float:
    try:
        return math.fmod(a, b)  # XPath's mod keeps the sign of the dividend, like fmod
    except ValueError:  # x mod 0, Infinity mod x
        return NAN


_ARITHMETIC: Mapping[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "div": _divide,
    "mod": _modulo,
}
_RELATIONS: Mapping[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _arithmetic(node: Node, ctx: Context) -> Value:
    a, b = to_number(_ev(node[1], ctx)), to_number(_ev(node[2], ctx))
    return _ARITHMETIC[node[0]](a, b)


def _relation(node: Node, ctx: Context) -> Value:
    return _RELATIONS[node[0]](to_number(_ev(node[1], ctx)), to_number(_ev(node[2], ctx)))


def _call(node: Node, ctx: Context) -> Value:
    name: str = node[1]
    if name not in FUNCTIONS or not _arity_ok(name, len(node) - 2):
        expr = Expression("", node, (), ((name, len(node) - 2, 0),), (), False)
        raise check_calls(expr)[0]
    special = _SPECIAL.get(name)
    if special is not None:
        return special(node, ctx)
    return LIBRARY[name]([_ev(arg, ctx) for arg in node[2:]], ctx)


def _if(node: Node, ctx: Context) -> Value:
    return _ev(node[3] if to_boolean(_ev(node[2], ctx)) else node[4], ctx)


def _once(node: Node, ctx: Context) -> Value:
    current = _dot_value(ctx)
    return current if to_string(current) != "" else _ev(node[2], ctx)


def _position(node: Node, ctx: Context) -> Value:
    here = ctx.fields.get(ctx.here) if ctx.here is not None else None
    depth = len(here.repeats) if here is not None else 0
    if depth == 0:
        return 1.0  # the parent of a question outside repeats is the form itself: first
    return float(ctx.index[depth - 1] + 1) if len(ctx.index) >= depth else NAN


def _indexed_repeat(node: Node, ctx: Context) -> Value:
    target, pairs = node[2], node[3:]
    if target[0] != "ref":
        return ""
    wanted: dict[str, int] = {}
    for repeat, position in zip(pairs[::2], pairs[1::2], strict=True):
        n = to_number(_ev(position, ctx))
        if repeat[0] != "ref" or not (n >= 1 and n.is_integer()):
            return ""
        wanted[repeat[1]] = int(n) - 1
    return _lookup(target[1], ctx, wanted)


_SPECIAL: Mapping[str, Callable[[Node, Context], Value]] = {
    "if": _if,
    "once": _once,
    "position": _position,
    "indexed-repeat": _indexed_repeat,
}


def _text(node: Node, ctx: Context) -> Value:
    text: str = node[1]
    return text


_HANDLERS: Mapping[str, Callable[[Node, Context], Value]] = {
    "num": lambda node, ctx: float(node[1]),
    "str": _text,
    "qname": _text,
    "ref": lambda node, ctx: _lookup(node[1], ctx),
    "dot": lambda node, ctx: _dot_value(ctx),
    "parent": lambda node, ctx: "",
    "attr": _attr,
    "neg": lambda node, ctx: -to_number(_ev(node[1], ctx)),
    "or": lambda node, ctx: to_boolean(_ev(node[1], ctx)) or to_boolean(_ev(node[2], ctx)),
    "and": lambda node, ctx: to_boolean(_ev(node[1], ctx)) and to_boolean(_ev(node[2], ctx)),
    "=": lambda node, ctx: _equal(_ev(node[1], ctx), _ev(node[2], ctx)),
    "!=": lambda node, ctx: not _equal(_ev(node[1], ctx), _ev(node[2], ctx)),
    **{op: _relation for op in _RELATIONS},
    **{op: _arithmetic for op in _ARITHMETIC},
    "call": _call,
}
