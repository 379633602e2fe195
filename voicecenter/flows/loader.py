"""Reading flows from YAML files into checked Flow objects.

Every problem is reported with file:line so a flow designer can fix it
before a caller hears it; a flow with any problem is not loaded at all.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from ..yaml_lines import YamlSyntaxError, line_of, load_with_lines
from .model import Flow, FlowError, NodeSpec
from .nodes import NODE_TYPES

_FLOW_KEYS = {"flow", "description", "start", "nodes", "variables"}
_NODE_KEYS = {"type"}


def load_flow(path: Path) -> Flow:
    """Load one flow file; raise FlowError listing every problem as file:line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlowError(f"{path}: cannot read flow: {exc.strerror}") from exc
    try:
        data, lines = load_with_lines(text)
    except YamlSyntaxError as exc:
        raise FlowError(f"{path}:{exc.line}: invalid YAML: {exc}") from exc
    problems: list[str] = []

    def problem(where: tuple[Any, ...], message: str) -> None:
        problems.append(f"{path}:{line_of(data, lines, where) or 1}: {message}")

    if not isinstance(data, dict):
        raise FlowError(f"{path}:1: a flow must be a mapping with start and nodes")
    for key in data:
        if key not in _FLOW_KEYS:
            problem((key,), f"unknown key {key!r}")
    nodes_raw = data.get("nodes")
    if not isinstance(nodes_raw, dict) or not nodes_raw:
        problem(("nodes",), "nodes must be a non-empty mapping of node id -> node")
        raise FlowError("\n".join(problems))
    nodes: dict[str, NodeSpec] = {}
    for node_id, raw in nodes_raw.items():
        def node_problem(message: str, key: str | None = None, n: Any = node_id) -> None:
            problem(("nodes", n) + ((key,) if key else ()), message)

        spec = _node_spec(str(node_id), raw, node_problem,
                          line_of(data, lines, ("nodes", node_id)))
        if spec is not None:
            nodes[spec.id] = spec
    start = data.get("start", next(iter(nodes_raw)))
    if start not in nodes_raw:
        problem(("start",), f"start node {start!r} does not exist")
    for spec in nodes.values():
        for transition, target in spec.transitions.items():
            if target not in nodes_raw:
                problem(("nodes", spec.id, transition),
                        f"node {spec.id!r}: {transition} goes to unknown node {target!r}")
    if problems:
        raise FlowError("\n".join(problems))
    name = str(data.get("flow") or path.stem)
    version = hashlib.sha256(text.encode()).hexdigest()[:12]
    return Flow(name=name, start=str(start), nodes=nodes, source=path, version=version,
                variables=dict(data.get("variables") or {}))


def _node_spec(node_id: str, raw: Any, problem: Any, line: int) -> NodeSpec | None:
    if not isinstance(raw, dict):
        problem(f"node {node_id!r} must be a mapping with a type")
        return None
    kind = raw.get("type")
    cls = NODE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        known = ", ".join(sorted(NODE_TYPES))
        problem(f"node {node_id!r}: unknown type {kind!r} (known: {known})", "type")
        return None
    params = {k: v for k, v in raw.items() if k not in _NODE_KEYS and k not in cls.transitions}
    transitions = {k: str(v) for k, v in raw.items() if k in cls.transitions and v is not None}
    values, issues = cls.check_params(params)
    for key, issue in issues:
        problem(f"node {node_id!r} ({kind}): {issue}", key)
    if "next" in cls.transitions and "next" not in transitions:
        problem(f"node {node_id!r} ({kind}): missing 'next'")
    return NodeSpec(id=node_id, type=kind, params=values, transitions=transitions, line=line)


def load_flows(directory: Path) -> tuple[dict[str, Flow], list[str]]:
    """Every *.yaml flow in a directory, and the errors of those that failed."""
    flows: dict[str, Flow] = {}
    errors: list[str] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            flow = load_flow(path)
        except FlowError as exc:
            errors.append(str(exc))
            continue
        flows[flow.name] = flow
    return flows, errors
