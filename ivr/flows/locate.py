"""Where a caller is, from their number, so the call reaches their own city's 12345 first.

A fixed line carries its area code (0433…: Yanbian).  A mobile number carries no
area code, but its first seven digits (the number segment, 号段) are allotted to
one city; ``phonenumbers``' offline geocoder names that city ("吉林省延边朝鲜族自治州"),
and config/numbers.yaml ``mobile_places`` maps such names to center ids, so the
table of places stays in config where the hotline's administrators can read it.
A number the geocoder places outside Jilin, or cannot place, is not guessed at:
it goes to ``default_center`` and the record says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ivr.flows import model as m
from ivr.flows.steps import caller_area, normalise_number


@dataclass(frozen=True, slots=True)
class Location:
    center: str | None       # None: the number says nothing about a Jilin center
    located_by: str          # area_code | mobile_segment | default
    place: str = ""          # the area code, or the geocoder's place name


@lru_cache(maxsize=4096)
def mobile_place(number: str) -> str:
    """The geocoder's Chinese place name for a mainland mobile number, '' when it has none.
    Cached: the geocoder's tables are loaded once and a hotline sees the same callers again."""
    import phonenumbers
    from phonenumbers import geocoder

    try:
        parsed = phonenumbers.parse("+86" + number)
    except phonenumbers.NumberParseException:
        return ""
    return geocoder.description_for_number(parsed, "zh") or ""


def is_mobile(number: str) -> bool:
    return len(number) == 11 and number[0] == "1" and number[1] in "3456789" and number.isdigit()


def center_for_place(config: m.Config, place: str) -> str | None:
    """The center of a place name: the longest configured name the place ends with, so
    '吉林省长春市' matches '长春市' and a county listed on its own wins over its city."""
    best = None
    for name, center in config.mobile_places.items():
        if place.endswith(name) or place == name:
            if best is None or len(name) > len(best[0]):
                best = (name, center)
    return best[1] if best else None


def locate_caller(config: m.Config, caller: str) -> Location:
    area = caller_area(caller, tuple(config.area_codes))
    if area:
        center = config.area_codes.get(area)
        return Location(center, "area_code" if center else "default", area)
    number = normalise_number(caller)
    if is_mobile(number):
        place = mobile_place(number)
        center = center_for_place(config, place) if place else None
        return Location(center, "mobile_segment" if center else "default", place)
    return Location(None, "default", "")
