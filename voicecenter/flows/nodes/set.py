from __future__ import annotations

from typing import Any

from .. import expressions
from ..context import FlowContext
from .base import Node, Param, placeholders


class SetNode(Node):
    """Set variables: strings are templates ({name}), {expr: ...} is a condition language
    expression (see voicecenter/flows/expressions.py), anything else is taken as is."""

    type_name = "set"
    params = {
        "values": Param(dict, required=True, doc="name -> value, template or {expr: ...}"),
    }

    @classmethod
    def validate(cls, values: dict[str, Any]) -> list[tuple[str | None, str]]:
        problems: list[tuple[str | None, str]] = []
        for name, value in values["values"].items():
            if isinstance(value, dict) and "expr" in value:
                try:
                    expressions.parse(str(value["expr"]))
                except expressions.ExpressionError as exc:
                    problems.append(("values", f"{name}: {exc}"))
        return problems

    @classmethod
    def reads(cls, values: dict[str, Any]) -> set[str]:
        found = placeholders(values["values"])
        for value in values["values"].values():
            if isinstance(value, dict) and "expr" in value:
                found |= expressions.names(str(value["expr"]))
        return found

    @classmethod
    def writes(cls, values: dict[str, Any]) -> set[str]:
        return {str(name) for name in values["values"]}

    async def execute(self, ctx: FlowContext) -> str:
        for name, value in self["values"].items():
            if isinstance(value, dict) and "expr" in value:
                result = expressions.evaluate(str(value["expr"]), ctx.variables)
            else:
                result = ctx.render_value(value)
            await ctx.set(self.id, str(name), result)
        return "next"
