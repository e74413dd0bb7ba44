"""The value types config models are written in, each with the sentence its mistake reads as.

pydantic's own checks would take ``true`` for 1 and say "Input should be a valid
integer"; these refuse a yes/no where a number belongs and say what is wanted
("must be a whole number from 1 to 65535"), which :mod:`hotline.yamlconf` turns
into ``FILE:LINE:COL: redis.port must be ..., not 99999``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainValidator, Strict
from pydantic_core import PydanticCustomError

#: Every mapping in a config file: a key the model does not know is a mistake, not ignored.
FILE = ConfigDict(extra="forbid")


class Section(BaseModel):
    """A mapping of a config file."""

    model_config = FILE


def wanted(requirement: str) -> PydanticCustomError:
    """A mistake read as ``NAME <requirement>, not <value>``."""
    return PydanticCustomError("hotline", requirement)


def said(sentence: str) -> PydanticCustomError:
    """A mistake read as ``NAME: <sentence>``."""
    return PydanticCustomError("hotline_say", sentence)


def number(lo: float | None = None, hi: float | None = None, *, whole: bool = False, below: float | None = None,
           unit: str = ""):
    """A number type; ``below`` is an upper bound the value must stay under."""
    need = _requirement(lo, hi, whole, below, unit)

    def check(value: Any):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise wanted(need)
        if whole and int(value) != value:
            raise wanted(need)
        if lo is not None and value < lo or hi is not None and value > hi or below is not None and value >= below:
            raise wanted(need)
        return int(value) if whole else float(value)

    return Annotated[int if whole else float, PlainValidator(check)]


def _requirement(lo, hi, whole, below, unit) -> str:
    what = "a whole number" if whole else "a number"
    if unit:
        what += f" of {unit}"
    if lo is not None and hi is not None:
        return f"must be {what} from {lo:g} to {hi:g}"
    if lo is not None and below is not None:
        return f"must be {what} from {lo:g} to under {below:g}"
    if lo is not None:
        return f"must be {what}, {lo:g} or more"
    return f"must be {what}"


def _text(value: Any):
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise wanted("must be text")
    return str(value)


def _one_or_many(value: Any):
    return [value] if isinstance(value, (str, int, float)) and not isinstance(value, bool) else value


#: Text, or a number written where text is meant (an agent id 1001, a name 123) taken as its text.
Text = Annotated[str, PlainValidator(_text)]
#: true or false, never 1, 0 or "yes" in quotes.
Flag = Annotated[bool, Strict()]
#: One text, or a list of texts.
Texts = Annotated[list[Text], BeforeValidator(_one_or_many)]
Seconds = number(0, unit="seconds")
Share = number(0, 1)
Port = number(1, 65535, whole=True)
