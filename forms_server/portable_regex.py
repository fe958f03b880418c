"""Regular expressions in the subset both Python's re and JavaScript's RegExp read alike.

`regex()` in a form must match the same answers on the server and in the
browser, so a pattern is accepted only when it means the same to both engines
(JavaScript with the u flag) and is translated where the spelling differs.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["compile_regex"]

# JavaScript's \s; Python's differs in a few code points.
_JS_SPACE = r"\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_SYNTAX_CHARS = "^$\\.*+?()[]{}|/"
_QUANTIFIER = re.compile(r"\{[0-9]+(?:,[0-9]*)?\}")
_HEX = re.compile(r"u[0-9A-Fa-f]{4}|x[0-9A-Fa-f]{2}")


@lru_cache(maxsize=512)
def compile_regex(pattern: str) -> re.Pattern[str] | None:
    """The compiled pattern, or None when it is outside the portable subset or invalid."""
    translated = _translate_regex(pattern)
    if translated is None:
        return None
    try:
        return re.compile(translated, re.ASCII)
    except (re.error, OverflowError, RecursionError, ValueError, Warning):
        return None


def _translate_regex(p: str) -> str | None:
    out: list[str] = []
    i, in_class = 0, False
    while i < len(p):
        c = p[i]
        if c == "\\":
            piece = _escape(p, i + 1, in_class)
            if piece is None:
                return None
            out.append(piece[0])
            i = piece[1]
            continue
        if in_class:
            if c == "[" or (c in "-&~|" and p[i + 1 : i + 2] == c):
                return None  # nested sets and set operations: Python warns, JS differs
            in_class = c != "]"
            out.append(c)
            i += 1
            continue
        if c == "[":
            j = i + 2 if p[i + 1 : i + 2] == "^" else i + 1
            if p[j : j + 1] == "]":
                return None  # '[]' and '[^]' mean different things in the two engines
            out.append(p[i:j])
            i, in_class = j, True
            continue
        if c == "(" and p.startswith("(?", i):
            if not p.startswith(("(?:", "(?=", "(?!"), i):
                return None
            out.append(p[i : i + 3])
            i += 3
            continue
        if c in "]}":
            return None
        if c in "*+?{":
            match = _QUANTIFIER.match(p, i) if c == "{" else None
            if c == "{" and match is None:
                return None
            end = match.end() if match else i + 1
            if p[end : end + 1] == "?":  # lazy
                end += 1
            if p[end : end + 1] and p[end] in "*+?{":
                return None  # possessive or doubled quantifiers
            out.append(p[i:end])
            i = end
            continue
        out.append(r"[^\n\r\u2028\u2029]" if c == "." else r"\Z" if c == "$" else c)
        i += 1
    return None if in_class else "".join(out)


def _escape(p: str, i: int, in_class: bool) -> tuple[str, int] | None:
    """The translation of the escape whose letter is at p[i], and where it ends."""
    if i >= len(p):
        return None
    c = p[i]
    if c in "dwDWntrfv":
        return "\\" + c, i + 1
    if c == "s":
        return (_JS_SPACE if in_class else f"[{_JS_SPACE}]"), i + 1
    if c == "S" and not in_class:
        return f"[^{_JS_SPACE}]", i + 1
    if c == "b" or (c == "B" and not in_class):
        return "\\" + c, i + 1
    if c == "0" and p[i + 1 : i + 2] not in tuple("0123456789"):
        return r"\x00", i + 1
    if c in "123456789" and not in_class:
        j = i
        while j < len(p) and p[j] in "0123456789":
            j += 1
        return "\\" + p[i:j], j
    match = _HEX.match(p, i)
    if match:
        return "\\" + match.group(), match.end()
    if c in _SYNTAX_CHARS or (c == "-" and in_class):
        return "\\" + c, i + 1
    return None
