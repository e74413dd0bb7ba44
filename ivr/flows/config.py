"""Read the config folder the flows depend on: centers, numbers, hotlines, prompts, calendar.

Each file is optional on its own (a flow folder can be checked against a partial
config) but every key present is checked with its line, like a flow.  Files come
from :func:`hotline.yamlconf.document`, so centers.yaml and acd.yaml are parsed
once per process however many parts read them.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import re
from dataclasses import dataclass, field
from typing import Callable

from hotline import calendar
from hotline.yamlconf import document
from ivr.flows import model as m
from ivr.flows.plan_checks import agents_from_acd
from hotline.problems import WARNING, Problem
from ivr.flows.schema import Reader, Ref, parse_prompts
from hotline.yamlpos import Doc

CONFIG_FILES = ("centers.yaml", "numbers.yaml", "subcenters.yaml", "prompts.yaml", "calendar.yaml")
CENTER_KEYS = {"id", "name", "name_en", "level", "population", "area_code", "area_code_verified",
               "languages", "numbers", "note"}
ROUTE_KEYS = {"number", "flow", "center", "vars", "note"}
HOTLINE_KEYS = {"number", "name", "mode", "seats_kept", "transfer_to", "notice", "notice_until", "topic", "note"}


@dataclass
class ParsedConfig:
    config: m.Config
    docs: dict[str, Doc] = field(default_factory=dict)      # file name -> doc
    refs: list[tuple[Doc, Ref]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    agents: tuple[m.AgentSkills, ...] | None = None          # from acd.yaml, when it could be read


def _list_of_mappings(r: Reader, doc: Doc, key: str):
    data = doc.data
    if r.mapping((), data, set(data) if isinstance(data, dict) else set(), what=doc.file) is None:
        return []
    items = data.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        r.error((key,), f"'{key}' must be a list of '- key: value' entries")
        return []
    return items


def _centers(pc: ParsedConfig, doc: Doc) -> dict[str, m.Center]:
    r = Reader(doc, pc.problems)
    r.mapping((), doc.data, {"centers"}, required=("centers",), what=pathlib.Path(doc.file).name)
    out: dict[str, m.Center] = {}
    for i, spec in enumerate(_list_of_mappings(r, doc, "centers")):
        p = ("centers", i)
        if r.mapping(p, spec, CENTER_KEYS, required=("id", "name", "level", "area_code"), what="a center",
                     unknown=r.warning) is None or "id" not in spec:
            continue
        cid = r.text(p + ("id",), spec["id"])
        if cid is None:
            continue
        if cid in out:
            r.error(p + ("id",), f"center '{cid}' is listed twice")
            continue
        area = spec.get("area_code")
        area = r.text(p + ("area_code",), area) if area is not None else None
        if area is not None and not re.fullmatch(r"0\d{2,3}", area):
            r.error(p + ("area_code",), f"area code '{area}' must be 0 followed by 2 or 3 digits (quote it: \"0431\")")
        if "population" in spec:
            r.number(p + ("population",), spec["population"], integer=True)
        langs = r.texts(p + ("languages",), spec["languages"]) if "languages" in spec else ("zh",)
        for lang in langs or ():
            if lang not in m.LANGUAGES:
                r.error(p + ("languages",), f"unknown language '{lang}'")
        numbers = r.texts(p + ("numbers",), spec["numbers"]) if spec.get("numbers") else ()
        out[cid] = m.Center(id=cid, name=str(spec.get("name", cid)), level=str(spec.get("level", "")),
                            area_code=area, languages=tuple(langs or ("zh",)), numbers=tuple(numbers or ()))
    return out


def _numbers(pc: ParsedConfig, doc: Doc) -> dict:
    r = Reader(doc, pc.problems)
    data = doc.data
    allowed = {"default_center", "default_flow", "area_codes", "center_flows", "mobile_places", "numbers"}
    if r.mapping((), data, allowed, required=("numbers",), what=pathlib.Path(doc.file).name) is None:
        return {}
    out: dict = {}
    for key in ("default_center", "default_flow"):
        if key in data:
            out[key] = r.text((key,), data[key])
            pc.refs.append((doc, Ref("center" if key == "default_center" else "flow", out[key], (key,))))
    for key, kind in (("area_codes", "center"), ("center_flows", "flow"), ("mobile_places", "center")):
        raw = data.get(key) or {}
        table = {}
        if r.mapping((key,), raw, set(raw) if isinstance(raw, dict) else set(), what=f"'{key}'") is not None:
            for k, v in raw.items():
                val = r.text((key, k), v)
                if val is None:
                    continue
                if key == "area_codes" and not re.fullmatch(r"0\d{2,3}", k):
                    r.error((key, k), f"area code '{k}' must be 0 followed by 2 or 3 digits", on_key=True)
                if key == "center_flows":
                    pc.refs.append((doc, Ref("center", k, (key, k))))
                table[k] = val
                pc.refs.append((doc, Ref(kind, val, (key, k))))
        out[key] = table
    routes, seen = [], {}
    for i, spec in enumerate(_list_of_mappings(r, doc, "numbers")):
        p = ("numbers", i)
        if r.mapping(p, spec, ROUTE_KEYS, required=("number", "flow"), what="a number") is None or not {"number", "flow"} <= set(spec):
            continue
        number = r.text(p + ("number",), spec["number"])
        flow = r.text(p + ("flow",), spec["flow"])
        if number is None or flow is None:
            continue
        if not re.fullmatch(r"[0-9]{3,20}", number):
            r.error(p + ("number",), f"'{number}' is not a number to dial (digits only)")
        if number in seen:
            r.error(p + ("number",), f"number {number} already routed at line {seen[number]}")
            continue
        seen[number] = doc.at(p + ("number",)).line
        center = None
        if spec.get("center") is not None:
            center = r.text(p + ("center",), spec["center"])
            pc.refs.append((doc, Ref("center", center, p + ("center",))))
        if flow != "center":
            pc.refs.append((doc, Ref("flow", flow, p + ("flow",))))
        variables = {}
        if spec.get("vars") is not None and r.mapping(p + ("vars",), spec["vars"], set(spec["vars"]) if isinstance(spec["vars"], dict) else set(), what="'vars'") is not None:
            for k, v in spec["vars"].items():
                t = r.text(p + ("vars", k), v)
                if t is not None:
                    variables[k] = t
            if "hotline" in variables:
                pc.refs.append((doc, Ref("hotline", variables["hotline"], p + ("vars", "hotline"))))
        routes.append(m.NumberRoute(number=number, flow=flow, center=center, vars=variables))
    out["routes"] = tuple(routes)
    return out


def _hotlines(pc: ParsedConfig, doc: Doc) -> dict[str, m.Hotline]:
    r = Reader(doc, pc.problems)
    r.mapping((), doc.data, {"hotlines"}, required=("hotlines",), what=pathlib.Path(doc.file).name)
    out: dict[str, m.Hotline] = {}
    for i, spec in enumerate(_list_of_mappings(r, doc, "hotlines")):
        p = ("hotlines", i)
        if r.mapping(p, spec, HOTLINE_KEYS, required=("number", "name", "mode"), what="a hotline") is None or not {"number", "name", "mode"} <= set(spec):
            continue
        number = r.text(p + ("number",), spec["number"])
        name = r.text(p + ("name",), spec["name"])
        mode = r.text(p + ("mode",), spec["mode"])
        if number is None or name is None or mode is None:
            continue
        if number in out:
            r.error(p + ("number",), f"hotline {number} is listed twice")
            continue
        if mode not in m.MERGE_MODES:
            r.error(p + ("mode",), f"merge mode '{mode}' is not one of: {', '.join(m.MERGE_MODES)}")
            continue
        seats = r.boolean(p + ("seats_kept",), spec["seats_kept"]) if "seats_kept" in spec else (mode == "subcenter")
        transfer_to = r.text(p + ("transfer_to",), spec["transfer_to"]) if spec.get("transfer_to") is not None else None
        notice = r.text(p + ("notice",), spec["notice"]) if spec.get("notice") is not None else None
        if notice:
            pc.refs.append((doc, Ref("prompt", notice, p + ("notice",))))
        if mode == "whole" and seats:
            r.error(p + ("seats_kept",), f"hotline {number} merges whole (整体并入): its seats join 12345, it cannot keep them")
        if mode == "whole" and not notice:
            r.error(p, f"hotline {number} merges whole (整体并入) but has no transition 'notice' prompt", on_key=True)
        if (mode == "subcenter" or seats) and not transfer_to:
            r.error(p, f"hotline {number} keeps its seats ({mode}) but has no 'transfer_to' number for 12345 to reach them", on_key=True)
        if transfer_to is not None and not re.fullmatch(r"[0-9]{3,20}", transfer_to):
            r.error(p + ("transfer_to",), f"'{transfer_to}' is not a number to dial (digits only)")
        topic = r.text(p + ("topic",), spec["topic"]) if spec.get("topic") is not None else ""
        until = _notice_until(r, p, spec, notice)
        out[number] = m.Hotline(number=number, name=name, mode=mode, seats_kept=bool(seats),
                                transfer_to=transfer_to, notice=notice, topic=topic or "", notice_until=until)
    return out


def _notice_until(r: Reader, p: tuple, spec: dict, notice: str | None) -> dt.date | None:
    """The transition's last day: a date (2027-06-30), and only where there is a notice to end."""
    if spec.get("notice_until") is None:
        return None
    value = spec["notice_until"]
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        r.error(p + ("notice_until",), f"'notice_until' must be a date such as 2027-06-30, got {value!r}")
        return None
    if notice is None:
        r.error(p + ("notice_until",), "'notice_until' ends a transition notice, but this hotline has no 'notice'")
    return value


def _calendar(pc: ParsedConfig, doc: Doc, today: dt.date | None = None) -> tuple[frozenset, frozenset]:
    """calendar.yaml laid over the holiday library (hotline.calendar), and how soon the calendar runs out.

    The check runs at start and at each reload, so a hotline running towards the
    end of the known years is told here; ``today`` is for tests.
    """
    r = Reader(doc, pc.problems)
    local, mistakes = calendar.parse(doc.data)
    for path, message in mistakes:
        r.error(path, message)
    cal = calendar.merge(local)
    found = calendar.expiry(cal.last_day, today or calendar.today())
    if found:
        severity, message = found
        mark = doc.at(("years",) if "years" in (doc.data or {}) else ())
        pc.problems.append(Problem(doc.file, mark.line, mark.col, message, severity, blocks_serving=False))
    return cal.holidays, cal.workdays


def _acd_queues(path: pathlib.Path, pc: ParsedConfig, stop=None) -> tuple[frozenset, frozenset]:
    """Queue names and skills from the ACD's config (owned by the ACD; read leniently)."""
    doc = document(path, stop=stop)
    queues, skills = set(), set()
    if doc.problems or not isinstance(doc.data, dict):
        pc.problems.append(Problem(str(path), 1, 1, "cannot read queue names from this file; queues checked against center ids", WARNING))
        return frozenset(), frozenset()
    pc.docs["acd.yaml"] = doc
    pc.agents = agents_from_acd(doc.data)
    for q in doc.data.get("queues") or []:
        qid = q.get("id", q.get("name")) if isinstance(q, dict) else None   # id, else name
        if qid is not None:
            queues.add(str(qid))
            for s in q.get("skills") or []:
                if isinstance(s, str):
                    skills.add(s)
    for s in doc.data.get("skills") or []:
        if isinstance(s, str):
            skills.add(s)
        elif isinstance(s, dict) and isinstance(s.get("name"), str):
            skills.add(s["name"])
    return frozenset(queues), frozenset(skills)


def load_config(folder: pathlib.Path | None, prompt_seconds: dict[str, float] | None = None, *,
                stop: Callable[[], bool] | None = None, today: dt.date | None = None) -> ParsedConfig:
    """``today`` fixes the day the calendar's end is measured from (tests); else :func:`hotline.calendar.today`."""
    pc = ParsedConfig(config=m.Config())
    if folder is None:
        return pc
    folder = pathlib.Path(folder)
    kw: dict = {}
    for name in CONFIG_FILES:
        path = folder / name
        if not path.exists():
            continue
        doc = document(path, stop=stop)
        pc.docs[name] = doc
        pc.problems.extend(doc.problems)
        if doc.data is None:
            if not doc.problems:
                pc.problems.append(Problem(doc.file, 1, 1, "empty file"))
            continue
        if name == "centers.yaml":
            kw["centers"] = _centers(pc, doc)
        elif name == "numbers.yaml":
            kw.update(_numbers(pc, doc))
        elif name == "subcenters.yaml":
            kw["hotlines"] = _hotlines(pc, doc)
        elif name == "prompts.yaml":
            r = Reader(doc, pc.problems)
            if r.mapping((), doc.data, {"prompts"}, required=("prompts",), what="prompts.yaml") is not None and doc.data.get("prompts") is not None:
                kw["prompts"] = parse_prompts(r, ("prompts",), doc.data["prompts"], doc.file)
        elif name == "calendar.yaml":
            kw["holidays"], kw["workdays"] = _calendar(pc, doc, today)
    if "calendar.yaml" not in pc.docs:          # no local file: the library's years alone
        cal = calendar.merge()
        kw["holidays"], kw["workdays"] = cal.holidays, cal.workdays
    acd = folder / "acd.yaml"
    queues, skills = frozenset(), frozenset()
    if acd.exists():
        queues, skills = _acd_queues(acd, pc, stop)
    if queues:
        kw["queues"], kw["queues_from"] = queues, f"{folder.name}/acd.yaml"
    else:
        kw["queues"], kw["queues_from"] = frozenset(kw.get("centers", {})), "the center ids"
    if skills:
        kw["skills"] = m.Config().skills | skills
    if pc.agents is not None:
        kw["agents"] = pc.agents
    routes = kw.pop("routes", ())
    pc.config = m.Config(routes=routes, prompt_seconds=dict(prompt_seconds or {}),
                         **{k: v for k, v in kw.items() if v is not None})
    return pc
