"""Second legs inside a worker: dialing out (to agents through the edge) and
bridging two calls on this worker's conference bridge.

A caller and the agent who takes the call must share one conference bridge
to be connected, recorded, held and transferred without the caller's UA
doing anything, so the agent leg is always dialed from the caller's worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pjsua2 as pj

from .worker_call import WorkerCall

if TYPE_CHECKING:
    from .worker import MediaWorker


class LegError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def dial(worker: MediaWorker, command: dict[str, Any]) -> dict[str, Any]:
    """Place an outbound call; its events then flow like any other call's."""
    uri = command["to"]
    if not isinstance(uri, str) or not uri.startswith(("sip:", "sips:")):
        raise LegError("invalid-uri", f"cannot dial {uri!r}: not a SIP URI")
    if len(worker.calls) >= worker.capacity:
        raise LegError("worker-full", "no call slot left on this worker")
    call = WorkerCall(worker.account, pj.PJSUA_INVALID_ID, worker.sink)
    prm = pj.CallOpParam(True)
    for name, value in (command.get("headers") or {}).items():
        header = pj.SipHeader()
        header.hName = str(name)
        header.hValue = str(value)
        prm.txOption.headers.append(header)
    call.makeCall(uri, prm)
    call.number = call.getId()
    call.answered = True  # outbound: nothing for the control plane to answer
    stale = worker.calls.get(call.number)
    if stale is not None:
        # Its id is this call's now: destroying it would clear the id's user
        # data and orphan the new call, so it is kept (rare: see retire_slot).
        worker.forget(call.number, stale.serial)
        worker.orphans.append(stale)
    worker.calls[call.number] = call
    return {"call": call.number}


def bridge(worker: MediaWorker, call: WorkerCall, command: dict[str, Any]) -> None:
    """Connect two calls' audio both ways (or one way, for listen-only)."""
    other = worker.calls.get(command["other"])
    if other is None:
        raise LegError("no-such-call", f"call {command['other']} is not on this worker")
    mine, theirs = call.audio(), other.audio()
    if mine is None or theirs is None:
        raise LegError("no-media", "both calls need active audio to be bridged")
    mode = command.get("mode", "both")
    if mode not in ("both", "listen", "whisper"):
        raise LegError("invalid-mode", f"bridge mode {mode!r}: both, listen or whisper")
    # listen: `call` hears `other`; whisper: `other` hears `call` as well.
    theirs.startTransmit(mine)
    if mode in ("both", "whisper"):
        mine.startTransmit(theirs)
    call.media.bridged.add(other.number)
    other.media.bridged.add(call.number)


def unbridge(worker: MediaWorker, call: WorkerCall, command: dict[str, Any]) -> None:
    other = worker.calls.get(command["other"])
    if other is None:
        raise LegError("no-such-call", f"call {command['other']} is not on this worker")
    disconnect(call, other)


def disconnect(call: WorkerCall, other: WorkerCall) -> None:
    mine, theirs = call.audio(), other.audio()
    for source, sink in ((mine, theirs), (theirs, mine)):
        if source is not None and sink is not None:
            try:
                source.stopTransmit(sink)
            except pj.Error:
                pass
    call.media.bridged.discard(other.number)
    other.media.bridged.discard(call.number)


def release_bridges(worker: MediaWorker, call: WorkerCall) -> None:
    for number in list(call.media.bridged):
        other = worker.calls.get(number)
        if other is not None:
            disconnect(call, other)
    call.media.bridged.clear()
