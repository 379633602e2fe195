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
from .nodes import NODE_TYPES, Node

_FLOW_KEYS = {"flow", "description", "start", "nodes", "variables", "secrets"}
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
    variables = data.get("variables") or {}
    if not isinstance(variables, dict):
        problem(("variables",), "variables must be a mapping of name -> default value")
        variables = {}
    secrets = data.get("secrets") or []
    if not isinstance(secrets, list) or not all(isinstance(s, str) for s in secrets):
        problem(("secrets",), "secrets must be a list of variable names")
        secrets = []
    nodes_raw = data.get("nodes")
    if not isinstance(nodes_raw, dict) or not nodes_raw:
        problem(("nodes",), "nodes must be a non-empty mapping of node id -> node")
        raise FlowError("\n".join(problems))
    nodes: dict[str, NodeSpec] = {}
    for node_id, raw in nodes_raw.items():
        def node_problem(message: str, key: str | None = None, n: Any = node_id) -> None:
            problem(("nodes", n) + ((key,) if key else ()), message)

        node_lines = {str(k): line_of(data, lines, ("nodes", node_id, k))
                      for k in (raw if isinstance(raw, dict) else {})}
        spec = _node_spec(str(node_id), raw, node_problem,
                          line_of(data, lines, ("nodes", node_id)), node_lines)
        if spec is not None:
            nodes[spec.id] = spec
    start = data.get("start", next(iter(nodes_raw)))
    if start not in nodes_raw:
        problem(("start",), f"start node {start!r} does not exist")
    for spec in nodes.values():
        for transition, target in spec.transitions.items():
            if target not in nodes_raw:
                key = spec.keys.get(transition, transition)
                problem(("nodes", spec.id, key),
                        f"node {spec.id!r}: {transition} goes to unknown node {target!r}")
    if problems:
        raise FlowError("\n".join(problems))
    name = str(data.get("flow") or path.stem)
    version = hashlib.sha256(text.encode()).hexdigest()[:12]
    secret_names = set(secrets)
    for spec in nodes.values():
        secret_names |= NODE_TYPES[spec.type].secrets(spec.params)
    return Flow(name=name, start=str(start), nodes=nodes, source=path, version=version,
                variables=dict(variables), secrets=frozenset(secret_names),
                description=str(data.get("description") or ""), text=text)


def transition_names(cls: type[Node]) -> tuple[str, ...]:
    """The transitions a node of this type may name; every node may name `error`."""
    return (*cls.transitions, "error")


def _node_spec(node_id: str, raw: Any, problem: Any, line: int,
               lines: dict[str, int]) -> NodeSpec | None:
    if not isinstance(raw, dict):
        problem(f"node {node_id!r} must be a mapping with a type")
        return None
    kind = raw.get("type")
    cls = NODE_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        known = ", ".join(sorted(NODE_TYPES))
        problem(f"node {node_id!r}: unknown type {kind!r} (known: {known})", "type")
        return None
    names = transition_names(cls)
    params = {k: v for k, v in raw.items() if k not in _NODE_KEYS and k not in names}
    transitions = {k: str(v) for k, v in raw.items() if k in names and v is not None}
    for key, value in raw.items():
        if key in names and not isinstance(value, str):
            # YAML reads no, yes, off, on as booleans: `failed: no` is not node 'no'.
            problem(f"node {node_id!r}: {key}: {value!r} is not a node name "
                    "(put it in quotes)", key)
    values, issues = cls.check_params(params)
    for key, issue in issues:
        problem(f"node {node_id!r} ({kind}): {issue}", key)
    if "next" in cls.transitions and "next" not in transitions:
        problem(f"node {node_id!r} ({kind}): missing 'next'")
    keys: dict[str, str] = {}
    if not issues:
        for name, (target, key) in cls.targets(values).items():
            transitions[name] = target
            keys[name] = key
    return NodeSpec(id=node_id, type=kind, params=values, transitions=transitions, line=line,
                    lines=lines, keys=keys)


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
