"""Running a flow on a call: one node after another, each reported and timed."""

from __future__ import annotations

import asyncio
import logging
import time

from .context import CallEnded, FlowContext
from .model import Flow
from .nodes import NODE_TYPES

log = logging.getLogger("voicecenter.flows")

# A flow that visits this many nodes is looping without end; stop it.
MAX_STEPS = 500


async def run_flow(flow: Flow, ctx: FlowContext) -> str:
    """Run until a node has no transition; return how the flow ended."""
    call_id = ctx.call.call_id
    ctx.variables = {**flow.variables, **ctx.variables}
    await ctx.call.record_event("flow.started", {"flow": flow.name, "version": flow.version})
    node_id: str | None = flow.start
    steps = 0
    outcome = "completed"
    while node_id:
        steps += 1
        if steps > MAX_STEPS:
            outcome = "step-limit"
            log.error("call=%s flow=%s stopped after %d steps", call_id, flow.name, MAX_STEPS)
            break
        spec = flow.nodes[node_id]
        node = NODE_TYPES[spec.type](spec.id, spec.params)
        began = time.monotonic()
        try:
            transition = await asyncio.wait_for(node.execute(ctx), node.time_limit)
        except CallEnded:
            outcome = "caller-hung-up"
            transition = None
        except TimeoutError:
            transition = "error"
            log.warning("call=%s node=%s timed out", call_id, spec.id)
        except Exception as exc:  # a node's failure must not kill the call silently
            log.exception("call=%s node=%s failed", call_id, spec.id)
            transition = "error"
            await ctx.call.record_event("flow.error", {"node": spec.id, "error": str(exc)})
        elapsed_ms = round((time.monotonic() - began) * 1000)
        if transition is None:
            await ctx.call.record_event(
                "flow.step", {"node": spec.id, "type": spec.type, "outcome": "hangup",
                              "ms": elapsed_ms})
            break
        await ctx.call.record_event(
            "flow.step",
            {"node": spec.id, "type": spec.type, "outcome": transition or "end", "ms": elapsed_ms},
        )
        if transition == "error" and "error" not in spec.transitions:
            outcome = "error"
            break
        node_id = spec.transitions.get(transition) if transition else None
    await ctx.call.record_event("flow.ended", {"flow": flow.name, "outcome": outcome})
    return outcome
