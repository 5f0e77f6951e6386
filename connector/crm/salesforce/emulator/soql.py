"""A parser and evaluator for exactly the SOQL subset the Salesforce connector emits.

    SELECT f1, Rel.Field, ... FROM Object
      [WHERE cond] [ORDER BY f [ASC|DESC] [NULLS FIRST|LAST], ...] [LIMIT n]

    cond   := and (OR and)*
    and    := unary (AND unary)*
    unary  := NOT unary | '(' cond ')' | field op value | field [NOT] IN '(' value, ... ')'
    op     := = != < <= > >=
    value  := 'string' | number | TRUE | FALSE | NULL | 2026-01-02T03:04:05Z | 2026-01-02

Strings compare case-insensitively; datetime literals are unquoted; the default order is
ascending with nulls first. Anything else is a `SoqlError` (the emulator answers 400
MALFORMED_QUERY, or INVALID_FIELD for an unknown column).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

UTC = timezone.utc

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>'(?:[^'\\]|\\.)*')
  | (?P<dt>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<op>!=|<=|>=|=|<|>)
  | (?P<punct>[(),])
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)
""", re.VERBOSE)
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
KEYWORDS = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "ORDER", "BY", "ASC", "DESC", "NULLS",
            "FIRST", "LAST", "LIMIT", "TRUE", "FALSE", "NULL"}


class SoqlError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Tok:
    kind: str
    text: str
    value: Any = None


@dataclass
class Query:
    fields: list[str]
    sobject: str
    where: Callable[[Callable[[str], Any]], bool] | None = None
    where_fields: list[str] = field(default_factory=list)
    order: list[tuple[str, bool, bool]] = field(default_factory=list)  # (field, descending, nulls_last)
    limit: int | None = None


def parse_datetime(text: str) -> datetime:
    text = text.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    return datetime.fromisoformat(text).astimezone(UTC)


def _tokens(text: str) -> list[Tok]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise SoqlError("MALFORMED_QUERY", f"unexpected token at position {pos}: {text[pos:pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        raw = m.group()
        if kind == "ws":
            continue
        if kind == "str":
            value = re.sub(r"\\(.)", lambda e: _ESCAPES.get(e.group(1), e.group(1)), raw[1:-1])
            out.append(Tok("value", raw, value))
        elif kind == "dt":
            out.append(Tok("value", raw, parse_datetime(raw)))
        elif kind == "date":
            out.append(Tok("value", raw, date.fromisoformat(raw)))
        elif kind == "num":
            out.append(Tok("value", raw, float(raw) if "." in raw else int(raw)))
        elif kind == "name" and raw.upper() in KEYWORDS:
            upper = raw.upper()
            if upper in ("TRUE", "FALSE", "NULL"):
                out.append(Tok("value", raw, {"TRUE": True, "FALSE": False, "NULL": None}[upper]))
            else:
                out.append(Tok("kw", upper))
        else:
            out.append(Tok(kind, raw))
    return out


def _norm(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _compare(left: Any, op: str, right: Any) -> bool:
    if right is None or left is None:
        if op == "=":
            return left is None and right is None
        if op == "!=":
            return (left is None) != (right is None)
        return False
    if isinstance(right, datetime) and isinstance(left, str):
        left = parse_datetime(left)
    elif isinstance(right, date) and not isinstance(right, datetime) and isinstance(left, str):
        left = date.fromisoformat(left[:10])
    left, right = _norm(left), _norm(right)
    try:
        return {"=": left == right, "!=": left != right, "<": left < right, "<=": left <= right,
                ">": left > right, ">=": left >= right}[op]
    except TypeError:
        return False


class _Parser:
    def __init__(self, text: str, resolve: Callable[[str, str], str]) -> None:
        self.toks = _tokens(text)
        self.i = 0
        self.resolve = resolve  # (object, field as written) -> canonical name, or SoqlError
        self.sobject = ""
        self.where_fields: list[str] = []

    def peek(self, kind: str = "", text: str = "") -> bool:
        if self.i >= len(self.toks):
            return False
        tok = self.toks[self.i]
        return (not kind or tok.kind == kind) and (not text or tok.text == text)

    def take(self, kind: str, text: str = "") -> Tok:
        if not self.peek(kind, text):
            got = self.toks[self.i].text if self.i < len(self.toks) else "end of query"
            raise SoqlError("MALFORMED_QUERY", f"expected {text or kind}, found {got!r}")
        self.i += 1
        return self.toks[self.i - 1]

    def parse(self) -> Query:
        self.take("kw", "SELECT")
        raw_fields = [self.take("name").text]
        while self.peek("punct", ","):
            self.take("punct")
            raw_fields.append(self.take("name").text)
        self.take("kw", "FROM")
        self.sobject = self.resolve("", self.take("name").text)
        query = Query([self.resolve(self.sobject, f) for f in raw_fields], self.sobject)
        if self.peek("kw", "WHERE"):
            self.take("kw")
            query.where = self.cond()
            query.where_fields = self.where_fields
        if self.peek("kw", "ORDER"):
            self.take("kw")
            self.take("kw", "BY")
            while True:
                name = self.resolve(self.sobject, self.take("name").text)
                desc = False
                if self.peek("kw", "ASC") or self.peek("kw", "DESC"):
                    desc = self.take("kw").text == "DESC"
                nulls_last = desc
                if self.peek("kw", "NULLS"):
                    self.take("kw")
                    nulls_last = self.take("kw").text == "LAST"
                query.order.append((name, desc, nulls_last))
                if not self.peek("punct", ","):
                    break
                self.take("punct")
        if self.peek("kw", "LIMIT"):
            self.take("kw")
            tok = self.take("value")
            if not isinstance(tok.value, int) or tok.value < 0:
                raise SoqlError("MALFORMED_QUERY", "LIMIT takes a non-negative integer")
            query.limit = tok.value
        if self.i != len(self.toks):
            raise SoqlError("MALFORMED_QUERY", f"unexpected {self.toks[self.i].text!r}")
        return query

    def cond(self) -> Callable:
        parts = [self.conj()]
        while self.peek("kw", "OR"):
            self.take("kw")
            parts.append(self.conj())
        return parts[0] if len(parts) == 1 else (lambda get, p=parts: any(f(get) for f in p))

    def conj(self) -> Callable:
        parts = [self.unary()]
        while self.peek("kw", "AND"):
            self.take("kw")
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda get, p=parts: all(f(get) for f in p))

    def unary(self) -> Callable:
        if self.peek("kw", "NOT"):
            self.take("kw")
            inner = self.unary()
            return lambda get: not inner(get)
        if self.peek("punct", "("):
            self.take("punct")
            inner = self.cond()
            self.take("punct", ")")
            return inner
        name = self.resolve(self.sobject, self.take("name").text)
        self.where_fields.append(name)
        negate = False
        if self.peek("kw", "NOT"):
            self.take("kw")
            negate = True
        if self.peek("kw", "IN"):
            self.take("kw")
            self.take("punct", "(")
            values = [self.take("value").value]
            while self.peek("punct", ","):
                self.take("punct")
                values.append(self.take("value").value)
            self.take("punct", ")")
            wanted = {_norm(v) for v in values}
            return lambda get: (_norm(get(name)) in wanted) != negate
        if negate:
            raise SoqlError("MALFORMED_QUERY", "NOT must be followed by IN here")
        op = self.take("op").text
        value = self.take("value").value
        return lambda get: _compare(get(name), op, value)


def parse(text: str, resolve: Callable[[str, str], str]) -> Query:
    if len(text) > 100_000:
        raise SoqlError("MALFORMED_QUERY", "the query is longer than 100,000 characters")
    return _Parser(text, resolve).parse()


def sort_key(order: list[tuple[str, bool, bool]], get: Callable[[dict, str], Any]) -> Callable[[dict], tuple]:
    """A key for `sorted` honouring ASC/DESC and NULLS FIRST/LAST on each column, Id last."""

    class _Rev:
        __slots__ = ("v",)

        def __init__(self, v: Any) -> None:
            self.v = v

        def __lt__(self, other: _Rev) -> bool:
            return other.v < self.v

        def __eq__(self, other: object) -> bool:
            return isinstance(other, _Rev) and other.v == self.v

    def key(row: dict) -> tuple:
        out: list[Any] = []
        for name, desc, nulls_last in order:
            value = _norm(get(row, name))
            is_null = value is None
            null_rank = (1 if nulls_last else 0) if is_null else (0 if nulls_last else 1)
            if desc:
                out.append((null_rank, _Rev("" if is_null else value)))
            else:
                out.append((null_rank, "" if is_null else value))
        out.append(row.get("Id", ""))
        return tuple(out)

    return key
