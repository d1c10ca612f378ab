"""A small, safe reader of Argo Rollouts condition expressions, for one measured value.

Argo evaluates ``successCondition`` / ``failureCondition`` with the expr language, on a
``result`` that is a number (scalar query) or a vector (``result[0]``). canary-mc reads
the common shapes only; nothing is ever executed:

- comparisons of ``result`` or ``result[0]`` with a number: ``result[0] >= 0.95``,
  ``result < 500``, in either order;
- ``&&`` / ``and``, ``||`` / ``or``, ``!`` / ``not``, parentheses;
- guards: ``isNaN(result[0])``, ``isInf(result)``, ``len(result) == 0``.

:func:`read_condition` turns one into a :class:`Condition`: where on the real line it is
true (a union of :class:`Band` s), and what it gives for a NaN value and for an empty
result (true, false or an evaluation error, which Argo counts as an Error measurement).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_]\w*)"
    r"|(?P<op><=|>=|==|!=|&&|\|\||[-<>!()\[\]]))"
)
_COMPARE = {"<", "<=", ">", ">=", "==", "!="}
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}

Truth = Literal["true", "false", "error"]


class ConditionSyntaxError(ValueError):
    """The expression is not one of the shapes canary-mc reads."""


@dataclass(frozen=True)
class Band:
    """An interval of the real line, each end open or closed (infinite ends are open)."""

    low: float
    high: float
    low_closed: bool
    high_closed: bool

    def contains(self, x: float) -> bool:
        above = x > self.low or (self.low_closed and x == self.low)
        below = x < self.high or (self.high_closed and x == self.high)
        return above and below


@dataclass(frozen=True)
class Condition:
    """What a condition says about one measured value.

    Attributes
    ----------
    text : str
        The expression as written (arguments substituted).
    bands : tuple of Band
        Disjoint, in increasing order: the finite values for which it is true.
    on_nan, on_empty : {"true", "false", "error"}
        Its value for a NaN measurement and for an empty result (no data).
    """

    text: str
    bands: tuple[Band, ...]
    on_nan: Truth
    on_empty: Truth

    def holds(self, x: float) -> bool:
        return any(band.contains(x) for band in self.bands)


# --- parsing: tokens to a tiny tree of tuples ---------------------------------------------


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ConditionSyntaxError(f"cannot read {text[pos:]!r}")
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "name" and value in {"and", "or", "not"}:
            kind, value = "op", {"and": "&&", "or": "||", "not": "!"}[value]
        out.append((kind, value))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise ConditionSyntaxError("ends too early")
        token = self.tokens[self.pos]
        if expected is not None and token[1] != expected:
            raise ConditionSyntaxError(f"expected {expected!r}, got {token[1]!r}")
        self.pos += 1
        return token

    def parse(self) -> tuple:
        tree = self.disjunction()
        if self.peek() is not None:
            raise ConditionSyntaxError(f"unexpected {self.peek()!r}")
        return tree

    def disjunction(self) -> tuple:
        tree = self.conjunction()
        while self.peek() == "||":
            self.take()
            tree = ("or", tree, self.conjunction())
        return tree

    def conjunction(self) -> tuple:
        tree = self.negation()
        while self.peek() == "&&":
            self.take()
            tree = ("and", tree, self.negation())
        return tree

    def negation(self) -> tuple:
        if self.peek() == "!":
            self.take()
            return ("not", self.negation())
        return self.comparison()

    def comparison(self) -> tuple:
        left = self.operand()
        if self.peek() in _COMPARE:
            op = self.take()[1]
            return ("cmp", op, left, self.operand())
        if left[0] not in {"isNaN", "isInf", "group"}:
            raise ConditionSyntaxError("a value alone is not a condition; compare it")
        return left

    def operand(self) -> tuple:
        kind, value = self.take()
        if value == "-" and self.pos < len(self.tokens) and self.tokens[self.pos][0] == "num":
            return ("num", -float(self.take()[1]))
        if kind == "num":
            return ("num", float(value))
        if value == "(":
            inner = self.disjunction()
            self.take(")")
            return ("group", inner)
        if value == "result":
            if self.peek() == "[":
                self.take()
                index = self.take()
                if index != ("num", "0"):
                    raise ConditionSyntaxError("only result[0] is read, not other elements")
                self.take("]")
            return ("value",)
        if value in {"isNaN", "isInf", "len"}:
            self.take("(")
            inner = self.operand()
            self.take(")")
            if inner[0] != "value":
                raise ConditionSyntaxError(f"{value}() is read on result or result[0] only")
            return (value,)
        raise ConditionSyntaxError(
            f"{value!r} is not read (only result, numbers, isNaN, isInf, len)"
        )


# --- evaluation on one measured value -----------------------------------------------------


class _EvalError(Exception):
    pass


def _evaluate(tree: tuple, x: float | None) -> bool | float:
    """``x`` is the measured value, ``None`` for an empty result."""
    kind = tree[0]
    if kind == "or":
        return bool(_evaluate(tree[1], x)) or bool(_evaluate(tree[2], x))
    if kind == "and":
        return bool(_evaluate(tree[1], x)) and bool(_evaluate(tree[2], x))
    if kind == "not":
        return not _evaluate(tree[1], x)
    if kind == "group":
        return _evaluate(tree[1], x)
    if kind == "num":
        return tree[1]
    if kind == "len":
        return 0.0 if x is None else 1.0
    if kind in {"value", "isNaN", "isInf"}:
        if x is None:  # result[0] of an empty vector, or a comparison with nothing
            raise _EvalError
        return {"value": x, "isNaN": math.isnan(x), "isInf": math.isinf(x)}[kind]
    op, left, right = tree[1], _evaluate(tree[2], x), _evaluate(tree[3], x)
    return {
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
        "==": left == right,
        "!=": left != right,
    }[op]


def _numbers(tree: tuple) -> list[float]:
    if tree[0] == "num":
        return [tree[1]]
    return [n for part in tree[1:] if isinstance(part, tuple) for n in _numbers(part)]


def _truth(tree: tuple, x: float | None) -> Truth:
    try:
        return "true" if _evaluate(tree, x) else "false"
    except _EvalError:
        return "error"


def read_condition(text: str) -> Condition:
    """Read an Argo condition of a common shape; raise :class:`ConditionSyntaxError` if not.

    Examples
    --------
    >>> c = read_condition("result[0] <= 0.01 && result[0] >= 0")
    >>> c.bands
    (Band(low=0.0, high=0.01, low_closed=True, high_closed=True),)
    >>> read_condition("len(result) == 0 || result[0] < 0.4").on_empty
    'true'
    """
    tree = _Parser(text).parse()
    cuts = sorted(set(_numbers(tree)))
    if not cuts:
        cuts = [0.0]
    # The truth can change only at a constant: test each, and a point in every gap.
    probes: list[float] = [cuts[0] - max(1.0, abs(cuts[0]))]
    for a, b in zip(cuts, [*cuts[1:], None], strict=True):
        probes.append(a)
        probes.append((a + b) / 2 if b is not None else a + max(1.0, abs(a)))
    truths = []
    for x in probes:
        value = _truth(tree, x)
        if value == "error":
            raise ConditionSyntaxError("cannot be evaluated on a plain number")
        truths.append(value == "true")
    # Probes alternate: even indices are gaps, odd ones the constants themselves.
    bands: list[Band] = []
    start: int | None = None
    end = len(probes) - 1
    for i, inside in enumerate([*truths, False]):
        if inside and start is None:
            start = i
        elif not inside and start is not None:
            last = i - 1
            if start == 0:
                low, low_closed = -math.inf, False
            elif start % 2 == 1:
                low, low_closed = probes[start], True
            else:
                low, low_closed = probes[start - 1], False
            if last == end:
                high, high_closed = math.inf, False
            elif last % 2 == 1:
                high, high_closed = probes[last], True
            else:
                high, high_closed = probes[last + 1], False
            bands.append(Band(low, high, low_closed, high_closed))
            start = None
    return Condition(text, tuple(bands), _truth(tree, math.nan), _truth(tree, None))


def substitute_args(text: str, args: dict[str, str]) -> tuple[str, list[str]]:
    """Replace ``{{args.NAME}}`` by its value; return the text and the names left unresolved."""
    missing: list[str] = []

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in args:
            return args[name]
        missing.append(name)
        return match.group(0)

    return re.sub(r"\{\{\s*args\.([\w.-]+)\s*\}\}", value, text), missing
