"""Expression source text to tokens, with a hint for each usual slip.

The first stage of `parser.parse`: numbers, texts, ${name} references, names,
parentheses and operators, each with its character offset into the source. A
syntax error (E501) is raised as an `ExpressionError`, the error every stage of
the expression language reports with.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["ExpressionError", "Token", "syntax_error", "tokenize"]


class ExpressionError(Exception):
    """A problem in one expression, located by character offset into its source."""

    def __init__(self, code: str, message: str, offset: int, hint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.offset = offset
        self.hint = hint


class Token(NamedTuple):
    kind: str  # num str ref dot parent ( ) , op name eof
    text: str
    offset: int
    call: bool = False  # a name directly followed by '('


_SPACE = " \t\r\n"
_DIGITS = "0123456789"  # str.isdigit() would also accept '²' and '٣'
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_CALL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?::[A-Za-z_][A-Za-z0-9_-]*)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = ("!=", "<=", ">=", "=", "<", ">", "+", "-", "*")
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


def syntax_error(message: str, offset: int, hint: str = "") -> ExpressionError:
    """An E501 at offset: the code of every error found while reading the syntax."""
    return ExpressionError("E501", message, offset, hint)


def tokenize(src: str) -> list[Token]:
    """The tokens of src, ending with an 'eof' token; raises ExpressionError (E501)."""
    tokens: list[Token] = []
    i, n = 0, len(src)
    while True:
        while i < n and src[i] in _SPACE:
            i += 1
        if i >= n:
            tokens.append(Token("eof", "", n))
            return tokens
        c = src[i]
        if c in "'\"":
            end = src.find(c, i + 1)
            if end < 0:
                raise syntax_error("unclosed text", i, f"unclosed string: add the closing {c}")
            tokens.append(Token("str", src[i + 1 : end], i))
            i = end + 1
        elif c == "$" and src.startswith("${", i):
            tokens.append(_reference(src, i))
            i += len(tokens[-1].text) + 3
        elif c in _DIGITS or (c == "." and i + 1 < n and src[i + 1] in _DIGITS):
            match = _NUMBER.match(src, i)
            assert match is not None  # a digit, or '.' before a digit, starts a number
            tokens.append(Token("num", match.group(), i))
            i = match.end()
            if i < n and (src[i].isalpha() or src[i] == "_"):
                hint = "put an operator or a space after the number"
                if src[i] in "eE":
                    hint = "exponents are not supported: write the number in full"
                raise syntax_error(f"unexpected '{src[i]}' after a number", i, hint)
        elif c == ".":
            kind, text = ("parent", "..") if src.startswith("..", i) else ("dot", ".")
            tokens.append(Token(kind, text, i))
            i += len(text)
        elif c in "(),":
            tokens.append(Token(c, c, i))
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
                raise syntax_error(f"unexpected '{mistake}'", i, _MISTAKES[mistake])
            if op is None:
                raise syntax_error(f"unexpected character '{c}'", i, _character_hint(c))
            tokens.append(Token("op", op, i))
            i += len(op)


def _reference(src: str, start: int) -> Token:
    """The ${name} at start; the name may break the naming rules (the loader says so)."""
    end = src.find("}", start + 2)
    match = _NAME.match(src, start + 2)
    if match and match.end() == end:
        return Token("ref", match.group(), start)
    if end == start + 2:
        raise syntax_error("empty ${}", end, "put a question name between '${' and '}'")
    bad = match.end() if match else start + 2
    if end < 0 or src[bad] == "$":
        raise syntax_error("'${' without '}'", start, "add '}' after the question name")
    if src[bad] in _SPACE:
        raise syntax_error("a space in a question name", bad, "names use letters, digits and '_'")
    if bad == start + 2:
        raise syntax_error(
            "a question name starts with a letter",
            bad,
            "names use letters, digits and '_', starting with a letter",
        )
    raise syntax_error(
        f"'{src[bad]}' cannot be part of a question name", bad, "names use letters, digits and '_'"
    )


def _name(src: str, start: int) -> Token:
    """A bare name, or a function name: only a call may contain '-' and a 'jr:' prefix."""
    match = _CALL_NAME.match(src, start)
    assert match is not None  # a letter or '_' starts a name
    after = match.end()
    while after < len(src) and src[after] in _SPACE:
        after += 1
    if src[after : after + 1] == "(":
        return Token("name", match.group(), start, True)
    short = _NAME.match(src, start)
    assert short is not None
    return Token("name", short.group(), start)


def _character_hint(c: str) -> str:
    if "\uff01" <= c <= "\uff5e":
        return f"'{c}' is a full-width character: use '{chr(ord(c) - 0xFEE0)}'"
    return "operators are: or and = != < <= > >= + - * div mod"
