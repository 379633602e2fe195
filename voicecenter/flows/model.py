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
    # Line of each parameter and transition key, for errors about one of them.
    lines: dict[str, int] = field(default_factory=dict)
    # Transitions named inside a parameter (menu options...) -> that parameter.
    keys: dict[str, str] = field(default_factory=dict)

    def line_of(self, key: str) -> int:
        return self.lines.get(key, self.line)


@dataclass(frozen=True)
class Flow:
    name: str
    start: str
    nodes: dict[str, NodeSpec]
    source: Path | None = None
    version: str = ""
    variables: dict[str, Any] = field(default_factory=dict)
    # Variables never shown in the timeline (PINs...): masked as ***.
    secrets: frozenset[str] = frozenset()
    description: str = ""
    text: str = ""  # the YAML as loaded, kept with each stored version

    def where(self, node: NodeSpec | None = None, key: str | None = None) -> str:
        number = (node.line_of(key) if key else node.line) if node else 0
        line = f":{number}" if number else ""
        return f"{self.source or self.name}{line}"
