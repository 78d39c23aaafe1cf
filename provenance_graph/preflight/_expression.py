"""Data-query expressions: ``instrument='HSC' AND visit IN (1..10) AND detector != 3``.

The grammar is parsed with Lark (LALR), never with regular expressions or
``eval``. A syntax error, an unknown dimension or a value of the wrong type is
an `ExpressionError` that points at the column of the culprit.

The language:

- comparisons ``dim = value``, ``!=``, ``<``, ``<=``, ``>``, ``>=``; values are
  integers or quoted strings (``'HSC'`` or ``"HSC"``);
- set membership ``dim IN (1, 3, 5..9, 10..20:2)`` and ``dim NOT IN (...)``,
  where ``a..b`` is an inclusive range and ``:s`` a stride;
- ``AND``, ``OR``, ``NOT`` and parentheses; keywords are case-insensitive.

Evaluation uses three-valued logic, as SQL does. A comparison on a dimension
that the data ID at hand lacks is *unknown*; ``NOT unknown`` is unknown,
``False AND unknown`` is false, ``True OR unknown`` is true. A data ID passes
unless the expression is definitely false for it. So ``detector != 3`` drops the
detector-3 quanta of per-detector tasks, and says nothing about per-visit ones.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from provenance_graph.errors import ExpressionError
from provenance_graph.model import DEFAULT_UNIVERSE, DimensionUniverse, check_text, suggest

__all__ = ["Expression", "parse_expression"]

_GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: _NOT not_expr -> negation
         | atom
?atom: comparison
     | membership
     | "(" or_expr ")"
comparison: NAME COMPARE value
membership: NAME NOT_KW? _IN "(" item ("," item)* ")"
?item: value
     | INT ".." INT (":" INT)? -> range
?value: INT -> integer
      | STRING -> string
COMPARE: "!=" | "<=" | ">=" | "=" | "<" | ">"
_OR: /OR\b/i
_AND: /AND\b/i
_NOT: /NOT\b/i
NOT_KW: /NOT\b/i
_IN: /IN\b/i
NAME: /[a-z_][a-z0-9_]*/
INT: /-?[0-9]+/
STRING: /'[^']*'/ | /"[^"]*"/
%import common.WS
%ignore WS
"""

_PARSER = Lark(_GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False)

#: Three-valued truth: True, False, or None for unknown.
Truth = bool | None
_Eval = Callable[[Mapping[str, Any]], Truth]

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

_EXPECTED_NAMES = {
    "NAME": "a dimension name",
    "INT": "an integer",
    "STRING": "a quoted string",
    "COMPARE": "a comparison (=, !=, <, <=, >, >=)",
    "_IN": "IN",
    "NOT_KW": "NOT",
    "_AND": "AND",
    "_OR": "OR",
    "_NOT": "NOT",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "$END": "the end",
}


@dataclass(frozen=True)
class _Value:
    value: int | str
    position: int


#: Ranges of up to this many values join the set of values; longer ones are tested arithmetically.
_EXPANDED = 100_000


@dataclass(frozen=True)
class _Range:
    """``a..b:s`` of a membership test, kept as a `range`: ``visit IN (0..10**12)`` must not fill memory."""

    values: range
    position: int


class _Compiler(Transformer[Token, _Eval]):
    """Turns the parse tree into a closure; checks dimension names and value types."""

    def __init__(self, text: str, universe: DimensionUniverse) -> None:
        super().__init__()
        self.text = text
        self.universe = universe
        self.dimensions: set[str] = set()
        self.terms: list[tuple[str, _Eval]] = []
        self.required: dict[int, dict[str, frozenset[int | str]]] = {}
        """By ``id`` of a compiled part: the values each dimension must take for the part to
        hold, where the data ID has the dimension (`Expression.required_values`)."""

    def _dimension(self, token: Token) -> tuple[str, type]:
        name = str(token)
        if name not in self.universe:
            raise ExpressionError(
                f"unknown dimension {name!r}",
                expression=self.text,
                position=token.start_pos,
                hint=suggest(name, sorted(self.universe.dimensions))
                or f"known dimensions: {', '.join(sorted(self.universe.dimensions))}",
            )
        self.dimensions.add(name)
        return name, self.universe.value_type(name)

    def _typed(self, name: str, kind: type, value: _Value) -> int | str:
        if not isinstance(value.value, kind):
            want = "an integer" if kind is int else "a quoted string"
            example = f"{name} = 42" if kind is int else f"{name} = 'value'"
            raise ExpressionError(
                f"dimension {name!r} takes {want}, not {value.value!r}",
                expression=self.text,
                position=value.position,
                hint=f"write it like {example}",
            )
        return value.value

    def _int(self, token: Token) -> int:
        try:
            return int(token)
        except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
            raise ExpressionError(
                f"integer of {len(token)} characters is too long",
                expression=self.text,
                position=token.start_pos,
                hint="data ID values are integers of up to 19 digits",
            ) from None

    @v_args(inline=True)
    def integer(self, token: Token) -> _Value:
        return _Value(self._int(token), token.start_pos or 0)

    @v_args(inline=True)
    def string(self, token: Token) -> _Value:
        return _Value(str(token)[1:-1], token.start_pos or 0)

    @v_args(inline=True)
    def range(self, start: Token, stop: Token, stride: Token | None = None) -> _Range:
        a, b = self._int(start), self._int(stop)
        step = self._int(stride) if stride is not None else 1
        if a > b:
            raise ExpressionError(
                f"range {a}..{b} is empty",
                expression=self.text,
                position=start.start_pos,
                hint=f"ranges are inclusive and ascending: write {b}..{a}",
            )
        if step <= 0:
            raise ExpressionError(
                f"range stride {step} must be positive",
                expression=self.text,
                position=stride.start_pos if stride is not None else start.start_pos,
            )
        count = (b - a) // step + 1
        if count > sys.maxsize:  # len() of a range refuses more (OverflowError)
            raise ExpressionError(
                f"range {a}..{b}{f':{step}' if stride is not None else ''} holds {count:,} values, "
                f"more than the {sys.maxsize:,} a range may hold",
                expression=self.text,
                position=start.start_pos,
                hint="compare instead, e.g. visit >= 0, or narrow the range",
            )
        return _Range(range(a, b + 1, step), start.start_pos or 0)

    def _term(self, meta: Any, evaluate: _Eval) -> _Eval:
        """Keep an atomic comparison, with its text, for `Expression.terms`."""
        self.terms.append((self.text[meta.start_pos : meta.end_pos], evaluate))
        return evaluate

    @v_args(inline=True, meta=True)
    def comparison(self, meta: Any, name_token: Token, op: Token, value: _Value) -> _Eval:
        name, kind = self._dimension(name_token)
        wanted = self._typed(name, kind, value)
        compare = _COMPARE[str(op)]

        def evaluate(data_id: Mapping[str, Any]) -> Truth:
            have = data_id.get(name)
            return None if have is None else compare(have, wanted)

        if str(op) == "=":
            self.required[id(evaluate)] = {name: frozenset([wanted])}
        return self._term(meta, evaluate)

    @v_args(meta=True)
    def membership(self, meta: Any, children: list[Any]) -> _Eval:
        name_token = children[0]
        negate = len(children) > 1 and isinstance(children[1], Token) and children[1].type == "NOT_KW"
        items = children[2:] if negate else children[1:]
        name, kind = self._dimension(name_token)
        values: set[int | str] = set()
        ranges: list[range] = []
        for item in items:
            if isinstance(item, _Range):
                self._typed(name, kind, _Value(item.values.start, item.position))
                if len(item.values) <= _EXPANDED:
                    values.update(item.values)
                else:
                    ranges.append(item.values)
            else:
                values.add(self._typed(name, kind, item))
        frozen = frozenset(values)

        def evaluate(data_id: Mapping[str, Any]) -> Truth:
            have = data_id.get(name)
            if have is None:
                return None
            # `in range` is arithmetic for an int, but a scan of the whole range for anything else.
            found = have in frozen or (type(have) is int and any(have in r for r in ranges))
            return not found if negate else found

        if not negate and not ranges:
            self.required[id(evaluate)] = {name: frozen}
        return self._term(meta, evaluate)

    @v_args(inline=True)
    def negation(self, inner: _Eval) -> _Eval:
        def evaluate(data_id: Mapping[str, Any]) -> Truth:
            value = inner(data_id)
            return None if value is None else not value

        return evaluate

    def and_expr(self, parts: list[_Eval]) -> _Eval:
        def evaluate(data_id: Mapping[str, Any]) -> Truth:
            unknown = False
            for part in parts:
                value = part(data_id)
                if value is False:
                    return False
                unknown = unknown or value is None
            return None if unknown else True

        # A part that is false makes the whole false: what each part requires, the whole does.
        required: dict[str, frozenset[int | str]] = {}
        for part in parts:
            for name, values in self.required.get(id(part), {}).items():
                required[name] = required[name] & values if name in required else values
        if required:
            self.required[id(evaluate)] = required
        return evaluate

    def or_expr(self, parts: list[_Eval]) -> _Eval:
        def evaluate(data_id: Mapping[str, Any]) -> Truth:
            unknown = False
            for part in parts:
                value = part(data_id)
                if value is True:
                    return True
                unknown = unknown or value is None
            return None if unknown else False

        return evaluate


class Expression:
    """A parsed, checked data query.

    Parameters
    ----------
    text
        The expression; empty or blank means "everything".
    universe
        The dimensions the expression may name.
    """

    def __init__(self, text: str = "", universe: DimensionUniverse = DEFAULT_UNIVERSE) -> None:
        self.text = text
        self._evaluate: _Eval | None = None
        self.dimensions: frozenset[str] = frozenset()
        self._terms: list[tuple[str, _Eval]] = []
        self._required: Mapping[str, frozenset[int | str]] = {}
        if not text.strip():
            return
        check_text(text, "the expression", ExpressionError)  # a plan stores it
        compiler = _Compiler(text, universe)
        try:
            tree = _PARSER.parse(text)
            self._evaluate = compiler.transform(tree)
        except UnexpectedInput as err:
            raise _syntax_error(text, err) from None
        except VisitError as err:
            if isinstance(err.orig_exc, ExpressionError):
                raise err.orig_exc from None
            if not isinstance(err.orig_exc, RecursionError):
                raise
            raise _too_deep() from None
        except RecursionError:
            raise _too_deep() from None
        self.dimensions = frozenset(compiler.dimensions)
        self._terms = compiler.terms
        self._required = compiler.required.get(id(self._evaluate), {})

    def __call__(self, data_id: Mapping[str, Any]) -> Truth:
        """Evaluate on a data ID: True, False, or None when a named dimension is absent."""
        return True if self._evaluate is None else self._evaluate(data_id)

    def admits(self, data_id: Mapping[str, Any]) -> bool:
        """True unless the expression is definitely false for ``data_id``."""
        return self._evaluate is None or self._evaluate(data_id) is not False

    def __bool__(self) -> bool:
        return self._evaluate is not None

    def required_values(self) -> dict[str, list[int | str]]:
        """``{dimension: values}`` that a data ID having the dimension must take to be admitted.

        From the ``=`` and ``IN`` tests the expression joins with ``AND`` at its top (not under
        ``OR`` or ``NOT``, nor ``IN`` with a range too long to list): a necessary condition, which
        a store can test with an index before `admits` decides. Empty when there is none.
        """

        def order(value: int | str) -> tuple[bool, int | str]:
            return isinstance(value, str), value

        return {name: sorted(values, key=order) for name, values in self._required.items()}

    def terms(self) -> list[tuple[str, Callable[[Mapping[str, Any]], Truth]]]:
        """Each atomic comparison (``visit = 3``, ``detector IN (1..4)``): its text and its test.

        Pre-flight names the term that matches nothing when a query as a whole does.
        """
        return list(self._terms)

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"


def parse_expression(text: str, universe: DimensionUniverse = DEFAULT_UNIVERSE) -> Expression:
    """Parse and check a data query; raise `ExpressionError` pointing at the culprit."""
    return Expression(text, universe)


def _too_deep() -> ExpressionError:
    return ExpressionError(
        "the expression nests too deeply", hint="use fewer parentheses and NOTs, or IN (...)"
    )


def _syntax_error(text: str, err: UnexpectedInput) -> ExpressionError:
    position = err.pos_in_stream if err.pos_in_stream is not None else len(text)
    if isinstance(err, UnexpectedCharacters):
        char = text[position] if position < len(text) else ""
        hint = None
        if char in {'"', "'"}:
            hint = "close the quoted string"
        elif char in {"=", "!"}:
            hint = "comparisons are =, !=, <, <=, > and >="
        elif char.isupper() or (char.isalpha() and not char.islower()):
            hint = "dimension names are lower-case, e.g. visit; keywords are AND, OR, NOT, IN"
        return ExpressionError(
            f"unexpected character {char!r}", expression=text, position=position, hint=hint
        )
    if isinstance(err, UnexpectedEOF):
        return ExpressionError(
            "the expression ends too early",
            expression=text,
            position=len(text),
            hint=_expected([str(t) for t in err.expected]),
        )
    if isinstance(err, UnexpectedToken):
        token = err.token
        if token.type == "$END":
            return ExpressionError(
                "the expression ends too early",
                expression=text,
                position=len(text),
                hint=_expected(err.expected),
            )
        hint = _expected(err.expected)
        start = token.start_pos if token.start_pos is not None else position
        if str(token) == "=" and start > 0 and text[start - 1] in "=<>!":
            hint = "equality is a single '=': write visit = 3"
        return ExpressionError(
            f"unexpected {str(token)!r}",
            expression=text,
            position=start,
            hint=hint,
        )
    return ExpressionError(f"cannot parse the expression: {err}", expression=text, position=position)


def _expected(names: set[str] | frozenset[str] | list[str]) -> str:
    described = sorted({_EXPECTED_NAMES.get(n, n.lower()) for n in names})
    return "expected " + ", ".join(described) if described else ""
