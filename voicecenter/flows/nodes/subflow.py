from __future__ import annotations

from typing import Any

from ..context import FlowContext
from .base import Node, Param


class SubflowNode(Node):
    """Run another flow, then carry on at `next` (or at the node its
    `return` value names in `returns`). Variables are shared both ways, the
    way a designer expects of 'authenticate, then come back'."""

    type_name = "subflow"
    params = {
        "flow": Param(str, required=True, doc="name of the flow to run"),
        "returns": Param(dict, default={}, doc="value given to return -> node"),
    }
    time_limit = 3600.0

    @classmethod
    def targets(cls, values: dict[str, Any]) -> dict[str, tuple[str, str]]:
        return {f"return:{k}": (str(v), "returns") for k, v in values["returns"].items()}

    async def execute(self, ctx: FlowContext) -> str:
        run = ctx.subflow
        if run is None:
            raise RuntimeError("subflows need the flow runner")
        value = await run(self["flow"])
        if value is None:  # the subflow hung up or the call ended: the flow is over
            return ""
        return f"return:{value}" if value in {str(k) for k in self["returns"]} else "next"


class ReturnNode(Node):
    """End a subflow and go back to the flow that called it (with a value)."""

    type_name = "return"
    params = {"value": Param(str, default="", doc="picks the caller's `returns` target")}
    transitions = ()

    async def execute(self, ctx: FlowContext) -> str:
        ctx.returned = ctx.render(self["value"])
        return ""
