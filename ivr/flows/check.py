"""Check flows and config together before they go live.

A mistake in a flow drops real callers, so everything a running call could
trip over is refused here: dangling names, nodes no call reaches, endless
loops, silent prompts, sound names Asterisk cannot take and, given the sounds
folder, sound files that are not installed.  The worst-case time from answer to
a queue is measured against the flow's budget (GB/T 33358: a person within 15 s).
"""

from __future__ import annotations

import hashlib
import pathlib
from dataclasses import dataclass, field
from typing import Callable

from ivr.flows import model as m
from ivr.flows.audio_len import load_table
from ivr.flows.budget import main_path_warning, worst_to_queue
from ivr.flows.config import CONFIG_FILES, ParsedConfig, load_config
from ivr.flows.loops import endless_loops, reached, sccs, sub_flows
from ivr.flows.plan_checks import misrouted_center_numbers, unrouted_hotlines, unstaffable_steps
from hotline.problems import WARNING, Problem, errors, sort_key
from ivr.flows.schema import ParsedFlow, Ref, parse_flow
from ivr.flows.sounds import missing_sounds
from hotline.yamlpos import Doc, Stopped, Unreadable, load_file, read_limited


@dataclass
class CheckResult:
    problems: list[Problem] = field(default_factory=list)
    flowset: m.FlowSet | None = None     # set when no error stops serving (see Problem.blocks_serving)
    budgets: dict[str, tuple[float, list[str]]] = field(default_factory=dict)  # flow -> worst s, path
    unloaded: set[str] = field(default_factory=set)     # files refused as a whole (syntax, limits): root causes
    hidden: int = 0                     # problems of context files the checked flows do not need
    context_folders: list[str] = field(default_factory=list)   # folders whose other flows were read for names

    @property
    def causes_first(self) -> list[Problem]:
        """The errors, those of files that could not be loaded at all first (the rest often follow from them)."""
        return sorted(self.errors, key=lambda p: p.file not in self.unloaded)

    @property
    def errors(self) -> list[Problem]:
        return errors(self.problems)

    @property
    def ok(self) -> bool:
        return not self.errors


def flow_files(folder: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in folder.rglob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def split_paths(paths: list[pathlib.Path]) -> tuple[list[pathlib.Path], pathlib.Path | None, list[str]]:
    """Sort command-line paths into flow files and one config folder."""
    flows: list[pathlib.Path] = []
    config: pathlib.Path | None = None
    missing = []
    for path in paths:
        if not path.exists():
            missing.append(str(path))
        elif path.is_dir():
            if any((path / name).exists() for name in CONFIG_FILES):
                config = path
            else:
                flows.extend(flow_files(path))
        elif path.name in CONFIG_FILES or path.name == "acd.yaml":
            config = path.parent
        else:
            flows.append(path)
    return flows, config, missing


def sibling_flows(named: list[pathlib.Path], config_dir: pathlib.Path | None, loaded: list[pathlib.Path]) -> list[pathlib.Path]:
    """The other flow files beside each flow file named alone: an engineer checks the file just
    edited, and its sub-flows live in the same folder, as the engine loads them.  Only that folder,
    not below it, so a flow saved in a big folder does not pull in everything under it."""
    seen = {f.resolve() for f in loaded}
    config = config_dir.resolve() if config_dir is not None else None
    out: list[pathlib.Path] = []
    for folder in dict.fromkeys(f.parent for f in named):
        if folder.resolve() == config:
            continue
        for f in sorted(folder.glob("*.y*ml")):
            if f.suffix in (".yaml", ".yml") and f.is_file() and f.resolve() not in seen \
                    and f.name not in CONFIG_FILES + ("acd.yaml",):
                seen.add(f.resolve())
                out.append(f)
    return out


def version_of(files: list[pathlib.Path]) -> str:
    h = hashlib.sha256()
    for f in sorted(files):
        try:
            content = read_limited(f)
        except Unreadable as exc:     # refused by the loader anyway; never read a huge file whole
            content = str(exc).encode()
        h.update(str(f).encode() + b"\0" + content + b"\0")
    return h.hexdigest()[:12]


def load_and_check(flow_paths: list[pathlib.Path], config_dir: pathlib.Path | None,
                   prompts_dir: pathlib.Path | str | None = None, *, whole_folder: bool = True,
                   sounds_dir: pathlib.Path | str | None = None, stop: Callable[[], bool] | None = None,
                   context: list[pathlib.Path] = ()) -> CheckResult:
    """Check flows and config together.  ``whole_folder`` False: only some flow files are given,
    so the flows that config/numbers.yaml routes to are not all here to be checked.  ``sounds_dir``:
    Asterisk's sounds folder, where every prompt's sound file must be.  ``stop``: asked now and
    then; True raises :class:`Stopped` (a reload that ran out of time gives up).  ``context``: more
    flow files, loaded so the names the checked flows use resolve; their problems are reported only
    where a checked flow needs them (see :func:`_needed_files`)."""
    pc = load_config(config_dir, load_table(prompts_dir), stop=stop)
    parsed = []
    for p in list(flow_paths) + list(context):
        if stop is not None and stop():
            raise Stopped()
        parsed.append(parse_flow(load_file(p, stop=stop)))
    problems = list(pc.problems)
    for pf in parsed:
        problems.extend(pf.problems)
    flows: dict[str, m.Flow] = {}
    for pf in parsed:
        if pf.flow is None:
            continue
        if pf.flow.name in flows:
            other = flows[pf.flow.name]
            problems.append(pf.doc.problem(("flow",), f"flow '{pf.flow.name}' is already defined in {other.file}"))
            continue
        flows[pf.flow.name] = pf.flow
    files = list(flow_paths) + list(context) + ([config_dir / n for n in CONFIG_FILES + ("acd.yaml",)] if config_dir else [])
    library = m.FlowSet(flows={}, config=pc.config, version=version_of([f for f in files if f.exists()]))
    # every flow points back at the set it was loaded with (sub-flows, shared prompts, numbers)
    for name, flow in list(flows.items()):
        object.__setattr__(flow, "library", library)
    library.flows.update(flows)
    checker = _Checker(library, parsed, pc, problems, config_dir is not None, whole_folder)
    checker.run(stop)
    if sounds_dir is not None:
        checker.sounds(pathlib.Path(sounds_dir))
    unloaded = {pf.doc.file for pf in parsed if pf.doc.data is None and pf.doc.problems}
    unloaded |= {d.file for d in pc.docs.values() if d.data is None and d.problems}
    budgets, hidden = checker.budgets, 0
    if context:
        named, extra = parsed[: len(flow_paths)], parsed[len(flow_paths):]
        quiet = {pf.doc.file for pf in extra} - _needed_files(named, extra, library)
        shown = [p for p in problems if p.file not in quiet]
        hidden, problems = len(problems) - len(shown), shown
        budgets = {n: b for n, b in budgets.items() if library.flows[n].file not in quiet}
    result = CheckResult(problems=sorted(problems, key=sort_key), budgets=budgets, unloaded=unloaded, hidden=hidden,
                         context_folders=sorted({str(f.parent) for f in context}))
    if not any(p.blocks_serving for p in errors(problems)):
        result.flowset = library
    return result


def _needed_files(named: list[ParsedFlow], extra: list[ParsedFlow], library: m.FlowSet) -> set[str]:
    """Context files whose problems concern the checked flows: the sub-flows they run (however deep),
    a file defining one of their names again, and, when a name they run is not found, the files that
    could not be read as a flow at all (the missing flow may be in one of them)."""
    needed: set[str] = set()
    names = {pf.flow.name for pf in named if pf.flow is not None}
    for name in names:
        needed |= {library.flows[n].file for n in sub_flows(library, name)}
    dangling = any(ref.kind == "flow" and ref.name not in library.flows for pf in named for ref in pf.refs)
    for pf in extra:
        if pf.flow is not None and pf.flow.name in names:
            needed.add(pf.doc.file)                 # defines a checked flow's name again
        elif dangling and (pf.flow is None or library.flows.get(pf.flow.name) is not pf.flow):
            needed.add(pf.doc.file)
    return needed


def check_paths(paths: list[str], prompts_dir: str | None = "build/prompts", sounds_dir: str | None = None) -> CheckResult:
    """``ivr check PATH...``: folders of flows, flow files, the config folder.  A flow file named
    alone is checked with the other flows of its folder loaded for its names (sub-flows), and only
    its own problems and those of what it runs are reported."""
    given = [pathlib.Path(p) for p in paths]
    flow_paths, config_dir, missing = split_paths(given)
    whole = any(p.is_dir() and p != config_dir for p in given)
    if missing:
        raise FileNotFoundError(missing[0])
    if config_dir is None:
        for guess in ([flow_paths[0].parent.parent / "config"] if flow_paths else []) + [pathlib.Path("config")]:
            if (guess / "centers.yaml").exists():
                config_dir = guess
                break
    alone = [p for p in given if p.is_file() and p in flow_paths]
    context = sibling_flows(alone, config_dir, flow_paths)
    return load_and_check(flow_paths, config_dir, prompts_dir, whole_folder=whole, sounds_dir=sounds_dir,
                          context=context)


class _Checker:
    def __init__(self, lib: m.FlowSet, parsed: list[ParsedFlow], pc: ParsedConfig, problems: list[Problem], have_config: bool,
                 whole_folder: bool = True):
        self.whole_folder = whole_folder
        self.lib = lib
        self.cfg = lib.config
        self.parsed = [pf for pf in parsed if pf.flow is not None and lib.flows.get(pf.flow.name) is pf.flow]
        self.all_parsed = parsed
        self.pc = pc
        self.problems = problems
        self.have_config = have_config
        self.budgets: dict[str, tuple[float, list[str]]] = {}

    def err(self, doc: Doc, path, msg, *, on_key=False):
        self.problems.append(doc.problem(tuple(path), msg, on_key=on_key))

    def warn(self, doc: Doc, path, msg, *, on_key=False):
        self.problems.append(doc.problem(tuple(path), msg, WARNING, on_key=on_key))

    def run(self, stop: Callable[[], bool] | None = None):
        steps = [lambda: [self.refs(pf) for pf in self.all_parsed], self.prompt_clashes, self.config_refs,
                 self.engine_prompts, lambda: [self.reachability(pf) for pf in self.parsed],
                 lambda: [self.loops(pf) for pf in self.parsed], self.sub_flow_cycles,
                 self.entry_flows_checks, self.languages, self.budget,
                 lambda: self.problems.extend(unstaffable_steps(self.cfg, self.parsed))]
        for step in steps:
            if stop is not None and stop():
                raise Stopped()
            step()

    # ------------------------------------------------------------ names

    def refs(self, pf: ParsedFlow):
        doc = pf.doc
        local = pf.flow.prompts if pf.flow else {}
        shared_doc = self.pc.docs.get("prompts.yaml")
        for pid, p in local.items():
            if pid in self.cfg.prompts and shared_doc is not None:
                self.warn(doc, ("prompts", pid), f"prompt '{pid}' hides the shared one in {shared_doc.file}:{self.cfg.prompts[pid].line}", on_key=True)
        for ref in pf.refs:
            self.check_ref(doc, ref, pf.declared, local, flow_name=pf.flow.name if pf.flow else "")

    def prompt_clashes(self):
        """Placeholder audio is named by prompt id: two flows' prompts with one id would share a file."""
        first: dict[str, tuple[ParsedFlow, m.Prompt]] = {}
        for pf in self.parsed:
            for pid, p in pf.flow.prompts.items():
                if pid in first:
                    other_pf, other = first[pid]
                    if other.texts != p.texts or other.audio != p.audio:
                        self.err(pf.doc, ("prompts", pid), f"prompt '{pid}' is also defined, differently, in {other.file}:{other.line}; "
                                 "give one of them another name", on_key=True)
                else:
                    first[pid] = (pf, p)

    def check_ref(self, doc: Doc, ref: Ref, declared: set[str] | None = None, local=None, flow_name=""):
        n = ref.name
        cfg = self.cfg
        if ref.kind == "node":
            if declared is not None and n not in declared:
                self.err(doc, ref.path, f"no node '{n}' in this flow")
        elif ref.kind == "prompt":
            if n not in (local or {}) and n not in cfg.prompts:
                if local is None:
                    where = "config/prompts.yaml"
                elif self.have_config:
                    where = "this flow's prompts nor config/prompts.yaml"
                else:
                    where = "this flow's prompts (no config folder given)"
                self.err(doc, ref.path, f"no prompt '{n}' in {where}")
        elif ref.kind == "flow":
            if n not in self.lib.flows:
                self.err(doc, ref.path, f"no flow named '{n}' among the flows checked")
            elif n == flow_name and ref.path and ref.path[0] == "nodes":
                self.err(doc, ref.path, f"flow '{n}' runs itself as a sub-flow: it would never end")
        elif ref.kind == "queue":
            if n == "$center":
                return
            if n not in cfg.queues:
                self.err(doc, ref.path, f"no queue '{n}' in {cfg.queues_from}" + ("" if cfg.queues else " (no config folder given)"))
        elif ref.kind == "skill":
            if n not in cfg.skills:
                self.err(doc, ref.path, f"unknown skill '{n}'; known skills: {', '.join(sorted(cfg.skills))}")
        elif ref.kind == "hotline":
            h = cfg.hotlines.get(n)
            if h is None:
                self.err(doc, ref.path, f"no hotline or sub-center '{n}' in config/subcenters.yaml")
            elif doc.file.endswith(".yaml") and ref.path and ref.path[0] == "nodes" and not (h.seats_kept and h.transfer_to):
                self.err(doc, ref.path, f"hotline {n} ({h.name}) keeps no seats of its own ({h.mode}): a transfer to it would reach nobody")
        elif ref.kind == "center":
            if n not in cfg.centers:
                self.err(doc, ref.path, f"no center '{n}' in config/centers.yaml")
            elif "transfer" in ref.path and not cfg.centers[n].numbers:
                self.err(doc, ref.path, f"center '{n}' has no 'numbers' in config/centers.yaml to transfer to; "
                                        f"to hand a call to its seats, enqueue to its queue instead")

    def config_refs(self):
        for doc, ref in self.pc.refs:
            if ref.kind == "flow" and not self.whole_folder:
                continue   # single flow files checked: the other flows numbers.yaml names are not here
            self.check_ref(doc, ref)
        numbers = self.pc.docs.get("numbers.yaml")
        subs = self.pc.docs.get("subcenters.yaml")
        if numbers is not None and subs is not None:
            self.problems.extend(unrouted_hotlines(self.cfg, subs))
        if numbers is not None and self.pc.docs.get("centers.yaml") is not None:
            self.problems.extend(misrouted_center_numbers(self.cfg, self.pc.docs["centers.yaml"]))
        if numbers is not None and self.cfg.queues_from != "the center ids":
            for cid in self.cfg.centers:
                if cid not in self.cfg.queues:
                    self.warn(numbers, (), f"center '{cid}' has no queue in {self.cfg.queues_from}: calls queued to $center there would have nowhere to go")

    # ------------------------------------------------------------ graph

    def reachability(self, pf: ParsedFlow):
        flow = pf.flow
        seen = reached(flow)
        for name in flow.nodes:
            if name not in seen:
                self.warn(pf.doc, ("nodes", name), f"node '{name}' is never reached from the entry '{flow.entry}'", on_key=True)

    def loops(self, pf: ParsedFlow):
        """Endless loops (see ivr.flows.loops): a call could go round them for ever."""
        for first, message in endless_loops(pf.flow, self.lib):
            self.err(pf.doc, ("nodes", first), message, on_key=True)

    def sub_flow_cycles(self):
        graph = {name: sorted({n.flow for n in f.nodes.values() if isinstance(n, m.RunFlow) and n.flow in self.lib.flows and n.flow != name})
                 for name, f in self.lib.flows.items()}
        for comp in sccs(graph):
            if len(comp) > 1:
                first = sorted(comp)[0]
                pf = next(p for p in self.parsed if p.flow.name == first)
                self.err(pf.doc, ("flow",), f"sub-flows run each other in a circle: {' -> '.join(sorted(comp))} -> {first}")

    def entry_flows(self) -> set[str]:
        """Flows that answer calls: routed by numbers.yaml, or run by no other flow and never returning."""
        names = {r.flow for r in self.cfg.routes if r.flow != "center"}
        if any(r.flow == "center" for r in self.cfg.routes):
            names |= set(self.cfg.center_flows.values()) | {self.cfg.default_flow}
        run_by_others = {n.flow for f in self.lib.flows.values() for n in f.nodes.values() if isinstance(n, m.RunFlow)}
        names |= {n for n, f in self.lib.flows.items()
                  if n not in run_by_others and not any(isinstance(x, m.Return) for x in f.nodes.values())}
        return {n for n in names if n in self.lib.flows}

    def entry_flows_checks(self):
        for pf in self.parsed:
            if pf.flow.name in self.entry_flows():
                for name, node in pf.flow.nodes.items():
                    if isinstance(node, m.Return):
                        self.err(pf.doc, ("nodes", name), f"'return' in flow '{pf.flow.name}', which answers calls directly: there is nothing to return to", on_key=True)

    # ------------------------------------------------------------ languages

    def flow_prompts(self, flow: m.Flow) -> set[tuple[str, str]]:
        """(flow name, prompt id) for every prompt a flow and its sub-flows may play."""
        out = set()
        for name in sub_flows(self.lib, flow.name):
            for node in self.lib.flows[name].nodes.values():
                for attr in ("prompts", "invalid_prompt", "timeout_prompt", "announce", "thanks"):
                    v = getattr(node, attr, None)
                    for pid in (v if isinstance(v, tuple) else (v,) if v else ()):
                        out.add((name, pid))
        return out

    def languages(self):
        for pf in self.parsed:
            flow = pf.flow
            for lang in flow.languages:
                if lang == "zh":
                    continue
                missing = []
                for fname, pid in sorted(self.flow_prompts(flow)):
                    p = self.lib.flows[fname].prompt(pid)
                    if p is not None and lang not in p.texts and not p.recorded(lang):
                        missing.append(pid)
                if missing:
                    self.warn(pf.doc, ("languages",), f"flow '{flow.name}' offers {lang} but these prompts have no {lang} text and will play in Chinese: {', '.join(missing)}")

    # ------------------------------------------------------------ sounds

    def engine_prompts(self):
        """The engine plays some shared prompts itself (queue_wait, system_fault): they must be there."""
        doc = self.pc.docs.get("prompts.yaml")
        if doc is None or not isinstance(doc.data, dict) or not isinstance(doc.data.get("prompts"), dict):
            return
        for pid, why in m.ENGINE_PROMPTS.items():
            if pid not in self.cfg.prompts and pid not in doc.data["prompts"]:
                self.err(doc, ("prompts",), f"no prompt '{pid}' in {pathlib.Path(doc.file).name}: the engine needs it, {why}", on_key=True)

    def sounds(self, sounds_dir: pathlib.Path):
        """Every sound a call may hear must be installed under ``sounds_dir`` (``--sounds-dir``)."""
        if not sounds_dir.is_dir():
            self.problems.append(Problem(str(sounds_dir), 1, 1, "sounds folder not found (--sounds-dir)"))
            return
        owners: list[tuple[Doc, dict[str, m.Prompt]]] = []
        shared = self.pc.docs.get("prompts.yaml")
        if shared is not None:
            owners.append((shared, self.cfg.prompts))
        owners += [(pf.doc, pf.flow.prompts) for pf in self.parsed]
        for doc, prompts in owners:
            for miss in missing_sounds(prompts, sounds_dir):
                p = miss.prompt
                if not miss.recorded:
                    self.err(doc, ("prompts", p.id), miss.message(), on_key=True)
                    continue
                lang = next((k for k, v in p.audio.items() if v == miss.sound and k != "*"), None)
                self.err(doc, ("prompts", p.id, "audio") + ((lang,) if lang else ()), miss.message())

    # ------------------------------------------------------------ time to a person

    def budget(self):
        for name in sorted(self.entry_flows()):
            flow = self.lib.flows[name]
            worst, worst_path = -1.0, []
            for lang in flow.languages:
                t, path = worst_to_queue(self.lib, flow, lang)
                if t > worst:
                    worst, worst_path = t, path
            if worst < 0:
                continue
            self.budgets[name] = (round(worst, 1), worst_path)
            pf = next(p for p in self.parsed if p.flow is flow)
            if len(worst_path) > m.MAX_WALK_STEPS:
                self.warn(pf.doc, ("entry",), f"flow '{name}': a call may pass {len(worst_path)} nodes before a queue; "
                                              f"the engine ends a call's walk after {m.MAX_WALK_STEPS} steps")
            if worst > flow.budget_s:
                estimated = "" if self.cfg.prompt_seconds else " (prompt lengths estimated from text; run 'ivr prompts' to measure)"
                self.warn(pf.doc, ("budget_s",) if "budget_s" in (pf.doc.data or {}) else ("entry",),
                          f"flow '{name}': worst case {worst:.1f} s from answer to a queue is over the budget of "
                          f"{flow.budget_s:g} s, via {' > '.join(worst_path)}{estimated}")
            long_main = main_path_warning(self.lib, flow)      # no key pressed: ivr/flows/budget.py
            if long_main:
                self.warn(pf.doc, ("entry",), long_main)
