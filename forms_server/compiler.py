"""Compilation of expressions: an AST in, a function of a `Context` out.

`compile_node` turns an AST into nested closures that compute exactly what the
walker in expressions.py computes (the walker stays the reference). Every value is
worked out in the same order as the walker, so side effects (uuid()) and errors
happen alike. A node the compiler does not know how to compile, or one that is
malformed, is left to the walker, which then raises (or not) when and as it would
have. Parts that always give the same value (literals, and functions without
effects of such parts, like `date('2020-01-01')`) are computed once, here.

Given the form's fields and the question an expression belongs to, the result is
*bound*: references, `.`, `position(..)` and `indexed-repeat` are resolved when
compiling, so that a question outside repeats costs one dictionary lookup, and the
context's `fields` and `here` are no longer read (validation evaluates every
question of one repeat entry with the same context).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TypeAlias, cast

from forms_server.call_compilers import CALL_COMPILERS, returns_boolean
from forms_server.expressions import (
    Compiled,
    Context,
    Field,
    _attr,
    _call,
    _dot_value,
    _equal,
    _ev,
    _lookup,
    _position,
    lookup_in,
)
from forms_server.functions import CALLING_CONTEXT, FUNCTIONS, IMPURE, LIBRARY, arity_ok
from forms_server.lookups import (
    Answer,
    answer_ref,
    between_answer,
    compare_answer,
    entry_compare,
    entry_text_equals,
    free_compare,
    free_ref,
    free_text_equals,
    no_dot,
    scoped_ref,
    selected_answer,
    text_equals,
)
from forms_server.operators import (
    AGAINST_CONSTANT,
    COMPARISONS,
    OPERANDS,
    OPERATORS,
    between_numbers,
    between_operands,
    between_values,
    divided_by,
    equal_number,
    equal_text,
    with_constant,
)
from forms_server.parser import Node
from forms_server.values import (
    NAN,
    Value,
    answer_value,
    to_boolean,
    to_number,
    to_string,
)

__all__ = ["Predicate", "compile_node", "compile_predicate"]

Predicate: TypeAlias = Callable[[Context], bool]

#: Functions whose value depends on their arguments only.
_PURE = frozenset(LIBRARY) - IMPURE
#: A context for computing pure functions of constants, which read nothing of it.
_NOWHERE = Context(answers={}, fields={}, now=datetime(1970, 1, 1, tzinfo=UTC))


def compile_node(
    node: Node, fields: Mapping[str, Field] | None = None, here: str | None = None
) -> Compiled:
    """A function computing `evaluate(node, ctx)` for any ctx, without walking the AST.

    With `fields` it is bound: it computes `evaluate(node, ctx)` as if `ctx.fields`
    were `fields` and `ctx.here` were `here`, whatever they are.
    """
    return _Compiler(fields, here).compile(node)


def compile_predicate(
    node: Node, fields: Mapping[str, Field] | None = None, here: str | None = None
) -> Predicate:
    """`compile_node`, converted to a boolean as `to_boolean` does."""
    return _Compiler(fields, here).predicate(node)


def _constant(value: Value) -> Compiled:
    return lambda ctx: value


class _Compiler:
    def __init__(self, fields: Mapping[str, Field] | None, here: str | None) -> None:
        self.fields = fields
        self.here = here
        self.folded: dict[int, tuple[bool, Value]] = {}

    def compile(self, node: Node) -> Compiled:
        try:
            compiler = _COMPILERS.get(node[0])
            if compiler is not None:
                return compiler(self, node)
        except Exception:  # malformed: the walker fails exactly as it always has
            pass
        return self.walker(node)

    def walker(self, node: Node) -> Compiled:
        if self.fields is None:
            return lambda ctx: _ev(node, ctx)
        fields, here = self.fields, self.here
        return lambda ctx: _ev(node, ctx.but(fields=fields, here=here))

    def predicate(self, node: Node) -> Predicate:
        compiled = self.compile(node)
        try:
            if returns_boolean(node):
                return cast(Predicate, compiled)
        except Exception:
            pass
        return lambda ctx: to_boolean(compiled(ctx))

    def constant(self, node: Node) -> tuple[bool, Value]:
        """Whether `node` always has the same value, without effects, and that value."""
        key = id(node)
        found = self.folded.get(key)
        if found is None:
            try:
                found = self.fold(node)
            except Exception:
                found = (False, "")
            self.folded[key] = found
        return found

    def fold(self, node: Node) -> tuple[bool, Value]:
        tag = node[0]
        if tag == "num":
            number = float(node[1])
            return (number == number, number)  # the walker makes a new NaN each time
        if tag in ("str", "qname") and type(node[1]) is str:
            return (True, node[1])
        if tag == "call" and node[1] in _PURE and arity_ok(node[1], len(node) - 2):
            args: list[Value] = []
            for arg in node[2:]:
                known, value = self.constant(arg)
                if not known:
                    return (False, "")
                args.append(value)
            result = LIBRARY[node[1]](args, _NOWHERE)
            if isinstance(result, tuple) or result != result:
                return (False, "")
            return (True, result)
        return (False, "")

    # -- references

    def ref(self, name: str, dot: bool = False) -> Compiled:
        """``${name}``; with ``dot``, ``.`` (``name`` is then ``here``)."""
        fields = self.fields
        if fields is None:
            return _dot_value if dot else free_ref(name)
        field = fields.get(name)
        if field is None:
            return answer_ref(name, "", dot)
        if not field.repeats and field.type != "repeat":
            return answer_ref(name, field.type, dot)
        is_repeat = field.type == "repeat"
        levels = (*field.repeats, name) if is_repeat else field.repeats
        scope = self.scope()
        shared = 0
        while shared < min(len(levels), len(scope)) and scope[shared] == levels[shared]:
            shared += 1
        if is_repeat:  # a repeat's own level is never the context's: its entries
            shared = min(shared, len(levels) - 1)
        type_ = "" if is_repeat else field.type
        return scoped_ref(name, levels, shared, type_, field.type if dot else None)

    def scope(self) -> tuple[str, ...]:
        assert self.fields is not None
        here = self.fields.get(self.here) if self.here is not None else None
        return here.repeats if here is not None else ()

    def dot(self) -> Compiled:
        if self.fields is None or self.here is None:
            return _dot_value if self.fields is None else no_dot
        return self.ref(self.here, dot=True)

    def answer(self, node: Node) -> Answer | None:
        """A reference (or ``.``) to a question outside repeats, when bound."""
        if self.fields is None:
            return None
        if node[0] == "dot":
            if self.here is None:
                return None
            name, dot = self.here, True
        elif node[0] == "ref":
            name, dot = node[1], False
        else:
            return None
        field = self.fields.get(name)
        if field is None:
            return Answer(name, "", dot)
        if field.repeats or field.type == "repeat":
            return None
        return Answer(name, field.type, dot)

    def between(self, first: Node, second: Node) -> Compiled | None:
        """``X op a and X op b`` with one X: evaluated once (it has no effects), or read
        inline when it is an answer outside repeats and a and b are constant numbers."""
        if first[0] not in AGAINST_CONSTANT or second[0] not in AGAINST_CONSTANT:
            return None
        if first[1] != second[1] or not _pure(first[1]):
            return None
        compare_a, compare_b = COMPARISONS[first[0]], COMPARISONS[second[0]]
        answer = self.answer(first[1])
        (known_a, a), (known_b, b) = self.constant(first[2]), self.constant(second[2])
        if answer is not None and known_a and known_b:
            return between_answer(answer, compare_a, to_number(a), compare_b, to_number(b))
        x_of = self.compile(first[1])
        if known_a and known_b:
            return between_numbers(x_of, compare_a, to_number(a), compare_b, to_number(b))
        a_of, b_of = self.compile(first[2]), self.compile(second[2])
        return between_values(x_of, compare_a, a_of, compare_b, b_of)

    def in_entry(self, node: Node) -> bool:
        """Whether ``node`` is a reference to a question of a repeat outside repeats,
        seen from inside that repeat (bound: then it is the answer in the same entry)."""
        if self.fields is None or node[0] != "ref":
            return False
        field = self.fields.get(node[1])
        if field is None or field.type == "repeat" or len(field.repeats) != 1:
            return False
        return self.scope()[:1] == field.repeats

    def top_field(self, node: Node) -> Field | None:
        """The field of a reference to a question outside repeats, when bound."""
        if self.fields is None or node[0] != "ref":
            return None
        field = self.fields.get(node[1])
        if field is None or field.repeats or field.type == "repeat":
            return None
        return field

    def position(self, node: Node) -> Compiled:
        if self.fields is None:
            return lambda ctx: _position(node, ctx)
        depth = len(self.scope())
        if depth == 0:
            return _constant(1.0)  # the parent of a question outside repeats is the form
        return lambda ctx: float(ctx.index[depth - 1] + 1) if len(ctx.index) >= depth else NAN

    def indexed_repeat(self, node: Node) -> Compiled:
        target, pairs = node[2], node[3:]
        if target[0] != "ref":
            return _constant("")
        name: str = target[1]
        steps = [
            (repeat, self.compile(position))
            for repeat, position in zip(pairs[::2], pairs[1::2], strict=True)
        ]
        fields = self.fields
        field = fields.get(name) if fields is not None else None
        scope = self.scope() if fields is not None else ()

        def indexed_repeat(ctx: Context) -> Value:
            wanted: dict[str, int] = {}
            for repeat, position in steps:
                n = to_number(position(ctx))
                if repeat[0] != "ref" or not (n >= 1 and n.is_integer()):
                    return ""
                wanted[repeat[1]] = int(n) - 1
            if fields is None:
                return _lookup(name, ctx, wanted)
            if field is None:
                return answer_value(ctx.answers.get(name), "")
            if not field.repeats and field.type != "repeat":
                return answer_value(ctx.answers.get(name), field.type)
            return lookup_in(field, name, scope, ctx.answers, ctx.index, wanted)

        return indexed_repeat

    # -- operators

    def logic(self, node: Node) -> Compiled:
        if node[0] == "and":
            between = self.between(node[1], node[2])
            if between is not None:
                return between
        left, right = self.compile(node[1]), self.compile(node[2])
        both = (returns_boolean(node[1]), returns_boolean(node[2]))
        if node[0] == "and":
            if both == (True, True):
                return lambda ctx: left(ctx) and right(ctx)
            if both[0]:
                return lambda ctx: left(ctx) and to_boolean(right(ctx))
            return lambda ctx: to_boolean(left(ctx)) and to_boolean(right(ctx))
        if both == (True, True):
            return lambda ctx: left(ctx) or right(ctx)
        if both[0]:
            return lambda ctx: left(ctx) or to_boolean(right(ctx))
        return lambda ctx: to_boolean(left(ctx)) or to_boolean(right(ctx))

    def equal(self, node: Node) -> Compiled:
        left, right = self.compile(node[1]), self.compile(node[2])
        negate = node[0] == "!="
        known, const = self.constant(node[2])
        if known and type(const) is str:
            text: str = const
            field = self.top_field(node[1])
            if field is not None:
                return text_equals(node[1][1], field.type, text, negate)
            if self.fields is not None and self.in_entry(node[1]):
                return entry_text_equals(left, node[1][1], self.fields, text, negate)
            if self.fields is None and node[1][0] == "ref":
                return free_text_equals(node[1][1], left, text, negate)
            return equal_text(left, text, negate)
        if known and type(const) is float:
            return equal_number(left, const, negate)
        if negate:
            return lambda ctx: not _equal(left(ctx), right(ctx))
        return lambda ctx: _equal(left(ctx), right(ctx))

    def binary(self, node: Node) -> Compiled:
        op = node[0]
        left = self.compile(node[1])
        known, const = self.constant(node[2])
        if known:
            b = to_number(const)
            if op in COMPARISONS:
                return self.compared(node[1], left, COMPARISONS[op], AGAINST_CONSTANT[op], b)
            if op == "div" and b != 0:
                return divided_by(left, b)
            return with_constant(left, OPERATORS[op], b)
        right = self.compile(node[2])
        operate = OPERANDS.get(op)
        if operate is not None:
            return operate(left, right)
        return between_operands(left, OPERATORS[op], right)

    def compared(
        self,
        operand: Node,
        left: Compiled,
        compare: Callable[[float, float], bool],
        against: Callable[[Compiled, float], Compiled],
        b: float,
    ) -> Compiled:
        """``operand < b`` and the like, with a constant number b."""
        answer = self.answer(operand)
        if answer is not None:
            return compare_answer(answer, compare, b)
        if self.fields is None and operand[0] == "ref":
            return free_compare(operand[1], left, compare, b)
        if self.fields is not None and self.in_entry(operand):
            return entry_compare(left, operand[1], self.fields, compare, b)
        return against(left, b)

    def neg(self, node: Node) -> Compiled:
        operand = self.compile(node[1])
        return lambda ctx: -to_number(operand(ctx))

    # -- calls

    def call(self, node: Node) -> Compiled:
        name: str = node[1]
        if name not in FUNCTIONS or not arity_ok(name, len(node) - 2):
            return lambda ctx: _call(node, ctx)  # raises, when (and if) it is reached
        special = _SPECIAL_COMPILERS.get(name)
        if special is not None:
            return special(self, node)
        known, value = self.constant(node)
        if known:
            return _constant(value)
        if name == "selected":
            selected = self.selected(node)
            if selected is not None:
                return selected
        args = [self.compile(arg) for arg in node[2:]]
        specific = CALL_COMPILERS.get(name)
        if specific is not None:
            compiled = specific(node, args, self.constant)
            if compiled is not None:
                return compiled
        function = LIBRARY[name]
        if not args:
            return lambda ctx: function([], ctx)
        if len(args) == 1:
            (a,) = args
            return lambda ctx: function([a(ctx)], ctx)
        if len(args) == 2:
            a, b = args
            return lambda ctx: function([a(ctx), b(ctx)], ctx)
        return lambda ctx: function([arg(ctx) for arg in args], ctx)

    def selected(self, node: Node) -> Compiled | None:
        answer = self.answer(node[2])
        known, value = self.constant(node[3])
        if answer is None or not known:
            return None
        needle = to_string(value).strip(" \t\r\n")
        if not needle or any(space in needle for space in " \t\r\n"):
            return None
        return selected_answer(answer, needle)

    def if_(self, node: Node) -> Compiled:
        condition = node[2]
        then, otherwise = self.compile(node[3]), self.compile(node[4])
        (known_then, a), (known_otherwise, b) = self.constant(node[3]), self.constant(node[4])
        if (
            known_then
            and known_otherwise
            and condition[0] in ("and", "or")
            and returns_boolean(condition[1])
            and returns_boolean(condition[2])
            and (condition[0] == "or" or self.between(condition[1], condition[2]) is None)
        ):  # a choice of two constants on two conditions, in one closure
            first, second = self.compile(condition[1]), self.compile(condition[2])
            if condition[0] == "and":
                return lambda ctx: a if first(ctx) and second(ctx) else b
            return lambda ctx: a if first(ctx) or second(ctx) else b
        test = self.predicate(condition)
        if known_then and known_otherwise:
            return lambda ctx: a if test(ctx) else b
        return lambda ctx: then(ctx) if test(ctx) else otherwise(ctx)

    def once(self, node: Node) -> Compiled:
        current_value = self.dot()
        first = self.compile(node[2])

        def once(ctx: Context) -> Value:
            current = current_value(ctx)
            if type(current) is str:
                return current if current else first(ctx)
            return current if to_string(current) != "" else first(ctx)

        return once


# -- the closures the compiler builds ----------------------------------------------------


def _pure(node: Node) -> bool:
    """Whether evaluating ``node`` twice is evaluating it once: it calls none of the
    context's functions (uuid(), and jr:choice-name's labels)."""
    stack = [node]
    while stack:
        item = stack.pop()
        if item[0] == "call" and isinstance(item[1], str) and item[1] in CALLING_CONTEXT:
            return False
        stack.extend(child for child in item[1:] if isinstance(child, list))
    return True


def _c_num(compiler: _Compiler, node: Node) -> Compiled:
    value = float(node[1])
    if value != value:  # the walker makes a new NaN each time; so does this
        return lambda ctx: float(node[1])
    return _constant(value)


_SPECIAL_COMPILERS: Mapping[str, Callable[[_Compiler, Node], Compiled]] = {
    "if": _Compiler.if_,
    "once": _Compiler.once,
    "position": _Compiler.position,
    "indexed-repeat": _Compiler.indexed_repeat,
}

_COMPILERS: Mapping[str, Callable[[_Compiler, Node], Compiled]] = {
    "num": _c_num,
    "str": lambda compiler, node: _constant(node[1]),
    "qname": lambda compiler, node: _constant(node[1]),
    "ref": lambda compiler, node: compiler.ref(node[1]),
    "dot": lambda compiler, node: compiler.dot(),
    "parent": lambda compiler, node: _constant(""),
    "attr": lambda compiler, node: lambda ctx: _attr(node, ctx),
    "neg": _Compiler.neg,
    "or": _Compiler.logic,
    "and": _Compiler.logic,
    "=": _Compiler.equal,
    "!=": _Compiler.equal,
    **{op: _Compiler.binary for op in OPERATORS},
    "call": _Compiler.call,
}
