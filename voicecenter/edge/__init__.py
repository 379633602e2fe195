"""The SIP edge: Kamailio in front of the media workers.

Callers and agents' softphones talk SIP to the edge only; it dispatches calls
to media workers by call load, registers agents against the store, and relays
workers' calls to agents. See docs/sip-edge.md.
"""

from voicecenter.edge.kamailio_config import render_kamailio
from voicecenter.edge.kamailio_process import EdgeStartError, KamailioEdge
from voicecenter.edge.rpc import KamailioRpcError
from voicecenter.edge.targets import WorkerTarget

__all__ = ["EdgeStartError", "KamailioEdge", "KamailioRpcError", "WorkerTarget", "render_kamailio"]
