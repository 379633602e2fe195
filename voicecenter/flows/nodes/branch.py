from __future__ import annotations

from typing import Any

from .. import expressions
from ..context import FlowContext
from .base import Node, Param


class BranchNode(Node):
    """Go to the first case whose condition holds, else to `default`.

    Conditions use the small expression language of expressions.py (names,
    literals, comparisons, and/or/not, in): no code from a YAML file runs.
    """

    type_name = "branch"
    params = {
        "cases": Param(list, required=True, doc="[{when: condition, goto: node}, ...]"),
    }
    transitions = ("default",)

    @classmethod
    def validate(cls, values: dict[str, Any]) -> list[tuple[str | None, str]]:
        problems: list[tuple[str | None, str]] = []
        for i, case in enumerate(values["cases"]):
            if not isinstance(case, dict) or set(case) != {"when", "goto"}:
                problems.append(("cases", f"case {i + 1} must be {{when: ..., goto: ...}}"))
                continue
            try:
                expressions.parse(str(case["when"]))
            except expressions.ExpressionError as exc:
                problems.append(("cases", f"case {i + 1}: {exc}"))
        return problems

    @classmethod
    def targets(cls, values: dict[str, Any]) -> dict[str, tuple[str, str]]:
        return {f"case:{i + 1}": (str(c["goto"]), "cases")
                for i, c in enumerate(values["cases"]) if isinstance(c, dict) and "goto" in c}

    @classmethod
    def reads(cls, values: dict[str, Any]) -> set[str]:
        found: set[str] = set()
        for case in values["cases"]:
            found |= expressions.names(str(case["when"]))
        return found

    async def execute(self, ctx: FlowContext) -> str:
        for i, case in enumerate(self["cases"]):
            if expressions.evaluate(str(case["when"]), ctx.variables):
                return f"case:{i + 1}"
        return "default"
