"""What `voicecenter flows check` finds beyond what the loader refuses.

The loader already rejects unknown node types, bad parameters and targets
that do not exist. Here the flows are looked at as graphs, each finding
with file:line:
- subflows that are not loaded,
- nodes no path from the start reaches,
- sound files that are not in sounds/,
- variables read where no path from the start has set them yet (a
  "may be set" analysis: a variable set on some branch only is accepted),
- loops in which nothing waits for the caller (they would spin until the
  step limit ends the call).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from .model import Flow, NodeSpec
from .nodes import NODE_TYPES

# Variables every call starts with (see runtime.call_variables).
BUILTINS = frozenset({"caller_id", "called_number", "call_id", "language", "flow"})


def check_all(flows: Mapping[str, Flow], sounds: Path | None,
              text_flows: Iterable[str] = ()) -> list[str]:
    """Every finding in every flow, sorted by file and line.

    text_flows: flows that chat or SMS run (their entry points); voice-only
    nodes reachable from them are findings.
    """
    entry_sets = _subflow_inputs(flows)
    found: list[tuple[str, int, str]] = []
    for flow in flows.values():
        found += check_flow(flow, flows, sounds, entry_sets.get(flow.name, set()))
    found += _voice_only(flows, text_flows)
    found.sort()
    return [f"{path}:{line}: {message}" for path, line, message in found]


def check_flow(flow: Flow, flows: Mapping[str, Flow], sounds: Path | None,
               inherited: Iterable[str] = ()) -> list[tuple[str, int, str]]:
    source = str(flow.source or flow.name)
    found: list[tuple[str, int, str]] = []

    def report(node: NodeSpec, message: str, key: str | None = None) -> None:
        found.append((source, node.line_of(key) if key else node.line, message))

    for node in flow.nodes.values():
        if node.type == "subflow" and node.params["flow"] not in flows:
            report(node, f"node {node.id!r}: subflow {node.params['flow']!r} is not loaded",
                   "flow")
    reachable = _reachable(flow)
    for node in flow.nodes.values():
        if node.id not in reachable:
            report(node, f"node {node.id!r} is unreachable from start {flow.start!r}")
    if sounds is not None:
        for node in flow.nodes.values():
            for name in NODE_TYPES[node.type].sound_files(node.params):
                if not (sounds / name).is_file():
                    report(node, f"node {node.id!r}: prompt {name!r} does not exist in "
                                 f"{sounds}", _prompt_key(node, name))
    set_before = _may_be_set(flow, flows, set(BUILTINS) | set(flow.variables) | set(inherited))
    for node in flow.nodes.values():
        if node.id not in reachable:
            continue
        cls = NODE_TYPES[node.type]
        known = set_before[node.id] | (cls.writes(node.params) if cls.takes_input else set())
        for name in sorted(cls.reads(node.params) - known):
            report(node, f"node {node.id!r} reads variable {name!r} before any path sets it",
                   _key_mentioning(node, name))
    for cycle in _busy_loops(flow, flows):
        first = min(cycle, key=lambda n: flow.nodes[n].line)
        path = " -> ".join([*cycle, cycle[0]])
        report(flow.nodes[first], f"loop {path} never waits for input")
    return found


def _voice_only(flows: Mapping[str, Flow],
                text_flows: Iterable[str]) -> list[tuple[str, int, str]]:
    """Voice-only nodes that a chat or SMS conversation can reach, subflows included."""
    found: list[tuple[str, int, str]] = []
    pending, seen = [name for name in text_flows if name in flows], set()
    while pending:
        flow = flows[pending.pop()]
        if flow.name in seen:
            continue
        seen.add(flow.name)
        for node_id in sorted(_reachable(flow)):
            node = flow.nodes[node_id]
            if node.type == "subflow" and node.params["flow"] in flows:
                pending.append(node.params["flow"])
            if NODE_TYPES[node.type].voice_only:
                found.append((str(flow.source or flow.name), node.line,
                              f"node {node.id!r} ({node.type}) works on calls only, and "
                              f"chat or SMS runs flow {flow.name!r}"))
    return found


def _prompt_key(node: NodeSpec, name: str) -> str | None:
    for key, value in node.params.items():
        if value == name or (isinstance(value, list | dict) and name in str(value)):
            return key
    return None


def _key_mentioning(node: NodeSpec, name: str) -> str | None:
    """The parameter whose text mentions a variable, for the error's line."""
    pattern = re.compile(rf"\b{re.escape(name)}\b")
    return next((key for key, value in node.params.items()
                 if value is not None and pattern.search(str(value))), None)


def _reachable(flow: Flow) -> set[str]:
    seen, todo = set(), [flow.start]
    while todo:
        node_id = todo.pop()
        if node_id in seen or node_id not in flow.nodes:
            continue
        seen.add(node_id)
        todo += flow.nodes[node_id].transitions.values()
    return seen


def all_writes(flow: Flow, flows: Mapping[str, Flow],
               seen: frozenset[str] = frozenset()) -> set[str]:
    """Every variable a flow (and the subflows it calls) may set."""
    found: set[str] = set(flow.variables)
    for node in flow.nodes.values():
        found |= _writes(node, flows, seen | {flow.name})
    return found


def _writes(node: NodeSpec, flows: Mapping[str, Flow], seen: frozenset[str]) -> set[str]:
    written = NODE_TYPES[node.type].writes(node.params)
    if node.type == "subflow":
        sub = flows.get(node.params["flow"])
        if sub is not None and sub.name not in seen:
            written |= all_writes(sub, flows, seen)
    return written


def _may_be_set(flow: Flow, flows: Mapping[str, Flow], initial: set[str]) -> dict[str, set[str]]:
    """For each node, the variables some path from the start has set on arrival."""
    before: dict[str, set[str]] = {node_id: set() for node_id in flow.nodes}
    before[flow.start] = set(initial)
    changed = True
    while changed:
        changed = False
        for node in flow.nodes.values():
            after = before[node.id] | _writes(node, flows, frozenset({flow.name}))
            for target in node.transitions.values():
                if target in before and not after <= before[target]:
                    before[target] |= after
                    changed = True
    return before


def _subflow_inputs(flows: Mapping[str, Flow]) -> dict[str, set[str]]:
    """What callers may have set when a subflow starts (two passes settle most chains)."""
    inputs: dict[str, set[str]] = {}
    for _ in range(2):
        for flow in flows.values():
            initial = set(BUILTINS) | set(flow.variables) | inputs.get(flow.name, set())
            before = _may_be_set(flow, flows, initial)
            for node in flow.nodes.values():
                if node.type == "subflow":
                    inputs.setdefault(node.params["flow"], set()).update(before[node.id])
    return inputs


def _waits(node: NodeSpec, flows: Mapping[str, Flow]) -> bool:
    if NODE_TYPES[node.type].takes_input:
        return True
    if node.type == "subflow":
        sub = flows.get(node.params["flow"])
        return sub is None or any(_waits(n, {}) for n in sub.nodes.values())
    return False


def _busy_loops(flow: Flow, flows: Mapping[str, Flow]) -> list[list[str]]:
    """Cycles (strongly connected components) in which no node waits for anything."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    loops: list[list[str]] = []

    def visit(node_id: str) -> None:  # Tarjan; flows are small, recursion is fine
        index[node_id] = low[node_id] = len(index)
        stack.append(node_id)
        on_stack.add(node_id)
        for target in flow.nodes[node_id].transitions.values():
            if target not in flow.nodes:
                continue
            if target not in index:
                visit(target)
                low[node_id] = min(low[node_id], low[target])
            elif target in on_stack:
                low[node_id] = min(low[node_id], index[target])
        if low[node_id] == index[node_id]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node_id:
                    break
            spec = flow.nodes[node_id]
            cyclic = len(component) > 1 or node_id in spec.transitions.values()
            if cyclic and not any(_waits(flow.nodes[n], flows) for n in component):
                loops.append(sorted(component, key=lambda n: flow.nodes[n].line))

    for node_id in flow.nodes:
        if node_id not in index:
            visit(node_id)
    return loops
