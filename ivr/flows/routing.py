"""Which center and flow take a call, from the number dialled and the caller's number.

The plan wants every call first received by its own city's 12345 center.
Carriers deliver 12345 either with the area code in front (043212345) or bare;
a bare number is placed by the caller's area code, and a mobile caller with no
area code goes to the default center (Changchun, whose flow lets the caller
choose the province).  A hotline that never closes must answer every call, so
an unknown number still gets the default route, flagged ``matched=False``.
"""

from __future__ import annotations

from ivr.flows import model as m
from ivr.flows.steps import caller_area, normalise_number


def center_for_area(config: m.Config, area: str | None) -> str | None:
    return config.area_codes.get(area) if area else None


def flow_for_center(config: m.Config, center: str) -> str:
    return config.center_flows.get(center, config.default_flow)


def route_call(config: m.Config, dialled: str, caller: str) -> m.Route:
    number = normalise_number(dialled)
    by_caller = center_for_area(config, caller_area(caller, tuple(config.area_codes)))
    for route in config.routes:
        center = None
        if number == route.number:
            center = route.center or by_caller
        elif number.endswith(route.number) and center_for_area(config, number[: -len(route.number)]):
            center = route.center or center_for_area(config, number[: -len(route.number)])
        else:
            continue
        center = center or config.default_center
        flow = flow_for_center(config, center) if route.flow == "center" else route.flow
        variables = {"center": center, "dialled": number, **route.vars}
        return m.Route(flow=flow, center=center, vars=variables)
    for center in config.centers.values():   # a center's own listed numbers
        if number in center.numbers:
            return m.Route(flow=flow_for_center(config, center.id), center=center.id,
                           vars={"center": center.id, "dialled": number})
    center = by_caller or config.default_center
    return m.Route(flow=flow_for_center(config, center), center=center,
                   vars={"center": center, "dialled": number}, matched=False)
