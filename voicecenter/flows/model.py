"""A flow as the engine runs it: named nodes, each with a type, parameters
and named transitions; where each came from in its YAML file is kept so every
error can point a flow designer at file:line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class FlowError(Exception):
    """A flow that cannot be loaded or run, phrased as file:line: message."""


@dataclass(frozen=True)
class NodeSpec:
    id: str
    type: str
    params: dict[str, Any]
    transitions: dict[str, str]
    line: int = 0


@dataclass(frozen=True)
class Flow:
    name: str
    start: str
    nodes: dict[str, NodeSpec]
    source: Path | None = None
    version: str = ""
    variables: dict[str, Any] = field(default_factory=dict)

    def where(self, node: NodeSpec | None = None) -> str:
        line = f":{node.line}" if node and node.line else ""
        return f"{self.source or self.name}{line}"
