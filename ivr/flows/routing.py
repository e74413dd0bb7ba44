"""Which center and flow take a call, from the number dialled and the caller's number.

The plan wants every call first received by its own city's 12345 center.
Carriers deliver 12345 either with the area code in front (043212345) or bare;
a bare number is placed by where the caller is (ivr.flows.locate: a fixed line's
area code, a mobile's number segment), and a caller from outside Jilin goes to the
default center.  How the center was chosen is kept on the route (``located_by``,
``place``) for the call record.  A hotline that never closes must answer every
call, so an unknown number still gets the default route, flagged ``matched=False``.
"""

from __future__ import annotations

from ivr.flows import model as m
from ivr.flows.locate import locate_caller
from ivr.flows.steps import normalise_number


def center_for_area(config: m.Config, area: str | None) -> str | None:
    return config.area_codes.get(area) if area else None


def flow_for_center(config: m.Config, center: str) -> str:
    return config.center_flows.get(center, config.default_flow)


def _hotline_vars(config: m.Config, variables: dict[str, str]) -> dict[str, str]:
    """A merged hotline's transition end date travels with the call, for the flow's notice_due."""
    h = config.hotlines.get(variables.get("hotline", ""))
    if h is not None and h.notice_until is not None and "notice_until" not in variables:
        return {**variables, "notice_until": h.notice_until.isoformat()}
    return variables


def _make(config, route, center, number, how, place) -> m.Route:
    flow = flow_for_center(config, center) if route.flow == "center" else route.flow
    variables = _hotline_vars(config, {"center": center, "dialled": number, **route.vars})
    return m.Route(flow=flow, center=center, vars=variables, located_by=how, place=place)


def route_call(config: m.Config, dialled: str, caller: str) -> m.Route:
    """The dialled area code wins (the caller chose that city), then a center fixed by the
    route, then where the caller's own number places them, then the default center."""
    number = normalise_number(dialled)
    here = locate_caller(config, caller)
    by_caller = (here.center, here.located_by, here.place) if here.center else \
        (config.default_center, "default", here.place)
    for route in config.routes:
        prefix = number[: -len(route.number)] if number.endswith(route.number) else None
        if number == route.number:
            center, how, place = (route.center, "fixed", "") if route.center else by_caller
        elif prefix and center_for_area(config, prefix):
            center, how, place = (route.center, "fixed", "") if route.center else \
                (center_for_area(config, prefix), "dialled_area_code", prefix)
        else:
            continue
        return _make(config, route, center, number, how, place)
    for center in config.centers.values():   # a center's own listed numbers
        if number in center.numbers:
            return m.Route(flow=flow_for_center(config, center.id), center=center.id,
                           vars={"center": center.id, "dialled": number}, located_by="center_number", place=number)
    center, how, place = by_caller
    return m.Route(flow=flow_for_center(config, center), center=center,
                   vars={"center": center, "dialled": number}, matched=False, located_by=how, place=place)
