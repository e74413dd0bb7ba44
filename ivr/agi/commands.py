"""AGI command lines, built as plain strings.

AGI splits a command line on spaces and honours double quotes and backslash
escapes (``parse_args`` in res_agi.c), so every argument that may hold a space,
a quote or a caller-controlled string is quoted here.  CR and LF are refused by
the AMI layer before anything reaches the socket.
"""

from __future__ import annotations

ALL_DIGITS = "0123456789*#"


def quote(arg: str) -> str:
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


def arg(value: str) -> str:
    """Quote only when AGI's splitter would otherwise cut or change the value."""
    if value and not any(c in value for c in ' "\\\t'):
        return value
    return quote(value)


def answer() -> str:
    return "ANSWER"


def hangup() -> str:
    return "HANGUP"


def noop() -> str:
    """Does nothing; its answer proves every command queued before it is over."""
    return "NOOP"


def stream_file(name: str, escape_digits: str = "") -> str:
    return f"STREAM FILE {name} {quote(escape_digits)}"


def get_data(name: str, timeout_s: float, max_digits: int) -> str:
    return f"GET DATA {name} {int(timeout_s * 1000)} {int(max_digits)}"


def wait_for_digit(timeout_s: float) -> str:
    return f"WAIT FOR DIGIT {int(timeout_s * 1000)}"


def set_variable(name: str, value: str) -> str:
    _check_name(name)
    return f"SET VARIABLE {name} {arg(value)}"


def get_full_variable(expression: str) -> str:
    """``expression`` is a variable name or a full ``${...}`` expression."""
    if not expression.startswith("${"):
        _check_name(expression)
        expression = "${" + expression + "}"
    return f"GET FULL VARIABLE {expression}"


def exec_app(app: str, *args: str) -> str:
    """``EXEC App arg1,arg2``: the application's own arguments are comma-separated."""
    _check_name(app)
    data = ",".join(args)
    return f"EXEC {app} {arg(data)}" if data else f"EXEC {app}"


def _check_name(name: str) -> None:
    if not name or not all(c.isalnum() or c in "_()" for c in name):
        raise ValueError(f"not a valid Asterisk variable or application name: {name!r}")
