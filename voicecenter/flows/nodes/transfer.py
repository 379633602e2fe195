from __future__ import annotations

import fnmatch
from typing import Any

from ..context import FlowContext
from .base import Node, Param


class TransferNode(Node):
    """Transfer the call to an agent, a queue or an allowed external URI.

    External URIs must match one of `allow` (shell patterns such as
    'sip:*@partner.example.com'), so a variable filled from caller input can
    never send a call to an arbitrary (toll) destination. For now the intent
    is recorded (call.transfer_requested); the SIP transfer itself comes
    with the router.
    """

    type_name = "transfer"
    params = {
        "to": Param(str, required=True, choices=("agent", "queue", "uri")),
        "target": Param(str, required=True, doc="agent name, queue or URI; a template"),
        "allow": Param(list, default=[], doc="patterns an external URI must match"),
    }
    transitions = ("next", "denied")

    @classmethod
    def validate(cls, values: dict[str, Any]) -> list[tuple[str | None, str]]:
        if values["to"] == "uri" and not values["allow"]:
            return [("allow", "a transfer to a URI needs allow: [patterns]")]
        return []

    async def execute(self, ctx: FlowContext) -> str:
        target = ctx.render(self["target"])
        data = {"node": self.id, "to": self["to"], "target": target}
        if self["to"] == "uri" and not any(
                fnmatch.fnmatchcase(target, str(p)) for p in self["allow"]):
            await ctx.call.record_event("flow.error", {
                "node": self.id, "error": f"transfer to {target!r} is not allowed"})
            return "denied"
        await ctx.call.record_event("call.transfer_requested", data)
        return "next"
