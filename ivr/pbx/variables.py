"""``${VAR}`` substitution and ``$[...]`` expressions, as the dialplan and GET FULL VARIABLE do.

Asterisk substitutes every application's data before the application runs
(``pbx_substitute_variables_helper_full``): ``${NAME}`` reads a channel variable,
else a global one, else a function such as ``CALLERID(num)``; ``$[...]`` is then
evaluated by ``ast_expr``.  The shipped dialplan needs only string equality
(``$["${AGISTATUS}" = "SUCCESS"]``); the usual comparison, ``&``, ``|``, ``!``,
``+``/``-`` and parentheses are here too.
"""

from __future__ import annotations

import re

_VAR = re.compile(r"\$\{([^{}]*)\}")


def lookup(ch, name: str, globals_: dict[str, str] | None = None) -> str:
    """The value of ``${name}`` on ``ch`` (None channel: globals only)."""
    upper = name.upper()
    if ch is not None:
        if upper == "CALLERID(NUM)":
            return ch.cid_num
        if upper == "CALLERID(NAME)":
            return ch.cid_name
        if upper == "CALLERID(DNID)":
            return "" if ch.dnid == "unknown" else ch.dnid
        if upper == "CHANNEL":
            return ch.name
        if upper == "UNIQUEID":
            return ch.uniqueid
        if upper == "EXTEN":
            return ch.exten
        if upper == "CONTEXT":
            return ch.context
        if upper == "PRIORITY":
            return str(ch.priority)
        if upper in ("LANGUAGE()", "CHANNEL(LANGUAGE)"):
            return ch.language
        if name in ch.vars:
            return ch.vars[name]
    if upper.startswith("GLOBAL(") and name.endswith(")"):     # func_global: the global only
        return (globals_ or {}).get(name[7:-1], "")
    return (globals_ or {}).get(name, "")


def substitute(ch, text: str, globals_: dict[str, str] | None = None) -> str:
    """Replace ``${...}`` (innermost first) and evaluate ``$[...]``."""
    prev = None
    while prev != text:
        prev, text = text, _VAR.sub(lambda m: lookup(ch, m.group(1), globals_), text)
    return _expressions(text)


def _expressions(text: str) -> str:
    start = text.find("$[")
    while start >= 0:
        depth, i = 0, start + 1
        while i < len(text):
            if text[i] == "[":
                depth += 1
            elif text[i] == "]":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        if i >= len(text):            # no closing bracket: Asterisk leaves the text as it is
            return text
        inner = _expressions(text[start + 2 : i])
        text = text[:start] + evaluate(inner) + text[i + 1 :]
        start = text.find("$[", start)
    return text


# -- ast_expr, the small part of it a dialplan here uses ---------------------------------

_TOKEN = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|(!=|<=|>=|[=<>&|!()+\-])|([^\s"=<>&|!()+\-]+))')


def _tokens(expr: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    expr = expr.rstrip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"cannot read expression at {expr[pos:]!r}")
        if m.group(1) is not None:
            out.append(("str", m.group(1).replace('\\"', '"')))
        elif m.group(2) is not None:
            out.append(("op", m.group(2)))
        else:
            out.append(("str", m.group(3)))
        pos = m.end()
    return out


def _number(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


class _Parser:
    """Precedence climbing: ``|`` < ``&`` < comparisons < ``+ -`` < unary ``! -``."""

    def __init__(self, tokens):
        self.tokens = tokens
        self.i = 0

    def peek(self):
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "")

    def take(self):
        tok = self.peek()
        self.i += 1
        return tok

    def parse(self) -> str:
        if not self.tokens:
            return ""
        value = self.or_()
        if self.peek()[0] != "end":
            raise ValueError(f"unexpected {self.peek()[1]!r}")
        return value

    def or_(self) -> str:
        left = self.and_()
        while self.peek() == ("op", "|"):
            self.take()
            right = self.and_()
            left = left if _true(left) else (right if _true(right) else "0")
        return left

    def and_(self) -> str:
        left = self.compare()
        while self.peek() == ("op", "&"):
            self.take()
            right = self.compare()
            left = left if _true(left) and _true(right) else "0"
        return left

    def compare(self) -> str:
        left = self.additive()
        while self.peek()[0] == "op" and self.peek()[1] in ("=", "!=", "<", ">", "<=", ">="):
            op = self.take()[1]
            right = self.additive()
            a, b = _number(left), _number(right)
            x, y = (a, b) if a is not None and b is not None else (left, right)
            result = {"=": x == y, "!=": x != y, "<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y}[op]
            left = "1" if result else "0"
        return left

    def additive(self) -> str:
        left = self.unary()
        while self.peek()[0] == "op" and self.peek()[1] in ("+", "-"):
            op = self.take()[1]
            right = self.unary()
            a, b = _number(left), _number(right)
            if a is None or b is None:
                raise ValueError(f"non-numeric argument to {op!r}")
            left = str(a + b if op == "+" else a - b)
        return left

    def unary(self) -> str:
        kind, value = self.peek()
        if (kind, value) == ("op", "!"):
            self.take()
            return "0" if _true(self.unary()) else "1"
        if (kind, value) == ("op", "-"):
            self.take()
            n = _number(self.unary())
            if n is None:
                raise ValueError("non-numeric argument to unary '-'")
            return str(-n)
        if (kind, value) == ("op", "("):
            self.take()
            inner = self.or_()
            if self.take() != ("op", ")"):
                raise ValueError("missing ')'")
            return inner
        if kind == "str":
            self.take()
            return value
        raise ValueError(f"unexpected {value or 'end of expression'!r}")


def _true(value: str) -> bool:
    return value not in ("", "0")


def evaluate(expr: str) -> str:
    """``ast_expr``: the value of one expression; a syntax error gives "" as Asterisk
    does (it logs a warning and substitutes nothing)."""
    try:
        return _Parser(_tokens(expr)).parse()
    except ValueError:
        return ""


def check_condition(value: str) -> bool:
    """``pbx_checkcondition``: empty is false, a number is its own truth, any other text true."""
    value = value.strip()
    if not value:
        return False
    m = re.match(r"[+-]?\d+", value)
    if m:
        return int(m.group(0)) != 0
    return True
