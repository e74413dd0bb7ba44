"""A problem found in a flow or config file, printed the way compilers do.

Engineers fix flows in an editor; ``FILE:LINE:COL: message`` lets the editor
jump to the spot, and one problem per line keeps a long report greppable.
"""

from __future__ import annotations

from dataclasses import dataclass

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Problem:
    file: str
    line: int
    col: int
    message: str
    severity: str = ERROR
    #: False for an error ``ivr check`` must report but a running hotline must not stop for (the
    #: holiday calendar running out): refusing calls would hurt callers more than a wrong holiday branch.
    blocks_serving: bool = True

    def __str__(self) -> str:
        tag = "" if self.severity == ERROR else "warning: "
        return f"{self.file}:{self.line}:{self.col}: {tag}{self.message}"

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR


def errors(problems) -> list[Problem]:
    return [p for p in problems if p.is_error]


def sort_key(p: Problem):
    return (p.file, p.line, p.col, p.message)
