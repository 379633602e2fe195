"""The shape every flow node shares.

Each node type is one class with its parameter schema, the transitions it may
take and `execute`, which returns the name of the transition taken. Every
node ends with an outcome and has a time limit, so a flow can never stall.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..context import FlowContext


@dataclass(frozen=True)
class Param:
    kind: type | tuple[type, ...]
    required: bool = False
    default: Any = None


class Node:
    type_name: ClassVar[str]
    params: ClassVar[dict[str, Param]] = {}
    transitions: ClassVar[tuple[str, ...]] = ("next",)
    # Seconds a node may run before the engine gives up on it.
    time_limit: ClassVar[float] = 120.0

    def __init__(self, node_id: str, values: dict[str, Any]) -> None:
        self.id = node_id
        self.values = values

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    async def execute(self, ctx: FlowContext) -> str:
        raise NotImplementedError

    @classmethod
    def check_params(
        cls, raw: dict[str, Any]
    ) -> tuple[dict[str, Any], list[tuple[str | None, str]]]:
        """Parameters with defaults filled in, and (key, problem) for each problem found."""
        problems: list[tuple[str | None, str]] = [
            (name, f"unknown parameter {name!r}") for name in raw if name not in cls.params
        ]
        values: dict[str, Any] = {}
        for name, param in cls.params.items():
            if name not in raw:
                if param.required:
                    problems.append((None, f"missing parameter {name!r}"))
                values[name] = param.default
                continue
            value = raw[name]
            kinds = param.kind if isinstance(param.kind, tuple) else (param.kind,)
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                expected = " or ".join(k.__name__ for k in kinds)
                problems.append((name, f"parameter {name!r} must be {expected}"))
            values[name] = value
        return values, problems
