"""A media worker process: one pjsua2 endpoint driven by the control plane.

Run as `python -m voicecenter.media.worker --worker N --control HOST:PORT ...`
by the worker pool, never by hand. One thread does everything: it polls
pjsua2, reads commands from the control socket, and writes events back. The
worker owns media and nothing else; if the control plane goes away, it hangs
up its calls and exits rather than hold calls nobody drives.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import select
import signal
import socket
import sys
import time
from collections import deque
from typing import Any

import pjsua2 as pj

from . import protocol
from .endpoint import EndpointOptions, account_config, create_endpoint
from .worker_call import Sink, WorkerCall
from .worker_commands import CommandError, CommandHandler

log = logging.getLogger("voicecenter.media.worker")

HEARTBEAT_S = 1.0
# A call the control plane never answers or rejects is refused, not left ringing.
UNHANDLED_CALL_S = 8.0


class Account(pj.Account):
    """Owns incoming calls and hands them to the worker."""

    def __init__(self, worker: MediaWorker) -> None:
        super().__init__()
        self.worker = worker

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        self.worker.incoming(prm)


class MediaWorker:
    def __init__(self, worker_id: int, control: tuple[str, int], options: EndpointOptions,
                 poll_ms: int) -> None:
        self.worker_id = worker_id
        self.options = options
        self.poll_ms = poll_ms
        self.sink: Sink = deque()
        self.calls: dict[int, WorkerCall] = {}
        self.orphans: list[WorkerCall] = []
        self.running = True
        self.inbuf = b""
        self.sock = socket.create_connection(control, timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(None)
        self.ep, self.capacity = create_endpoint(options)
        self.account = Account(self)
        self.account.create(account_config(options))
        self.commands = CommandHandler(self)

    # -- events out -------------------------------------------------------
    def send(self, kind: str, **fields: Any) -> None:
        try:
            self.sock.sendall(protocol.encode({"type": kind, **fields}))
        except OSError:
            self.running = False

    def incoming(self, prm: pj.OnIncomingCallParam) -> None:
        self.retire_slot(prm.callId)
        call = WorkerCall(self.account, prm.callId, self.sink)
        self.calls[call.number] = call
        info = call.getInfo()
        self.send(
            "call.incoming",
            call=call.number,
            sip_call_id=info.callIdString,
            **{"from": info.remoteUri, "to": info.localUri},
            contact=info.remoteContact,
            request=prm.rdata.info,
            source=prm.rdata.srcAddress,
        )

    # -- main loop --------------------------------------------------------
    def run(self) -> None:
        self.send("hello", v=protocol.PROTOCOL_VERSION, worker=self.worker_id, pid=os.getpid(),
                  capacity=self.capacity, sip_port=self.options.sip_port,
                  rtp_port=self.options.rtp_port)
        log.info("worker=%s ready capacity=%s sip_port=%s", self.worker_id, self.capacity,
                 self.options.sip_port)
        next_beat = 0.0
        while self.running:
            self.ep.libHandleEvents(self.poll_ms)
            self.drain_sink()
            self.read_commands()
            self.drain_sink()
            now = time.monotonic()
            self.commands.tick(now)
            self.refuse_unhandled(now)
            if now >= next_beat:
                self.send("heartbeat", calls=len(self.calls))
                next_beat = now + HEARTBEAT_S
        self.close()

    def read_commands(self) -> None:
        while True:
            ready, _, _ = select.select([self.sock], [], [], 0)
            if not ready:
                return
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                log.warning("worker=%s control connection lost; hanging up", self.worker_id)
                self.running = False
                return
            self.inbuf += chunk
            while b"\n" in self.inbuf:
                line, self.inbuf = self.inbuf.split(b"\n", 1)
                self.execute(line)
                # A hangup can end a call at once and free its pjsua id; what
                # that ended must be settled before the next command (a dial)
                # may be given the same id.
                self.drain_sink()
            if len(self.inbuf) > protocol.MAX_LINE:
                self.send("log", level="error", message="command line too long; dropped")
                self.inbuf = b""

    def execute(self, line: bytes) -> None:
        try:
            command = protocol.decode(line, protocol.COMMANDS)
        except protocol.ProtocolError as exc:
            self.send("log", level="error", message=f"bad command: {exc}")
            return
        try:
            extra = self.commands.run(command) or {}
        except CommandError as exc:
            self.send("result", id=command["id"], ok=False, error=exc.code, message=str(exc))
        except pj.Error as exc:
            self.send("result", id=command["id"], ok=False, error="pjsua",
                      message=exc.info())
        else:
            self.send("result", id=command["id"], ok=True, **extra)

    def drain_sink(self) -> None:
        while self.sink:
            kind, fields = self.sink.popleft()
            if kind == "_dtmf":
                self.commands.on_dtmf(fields)
            elif kind == "_eof":
                self.commands.on_eof(fields["call"], fields["play"])
            else:
                serial = fields.pop("_serial", None)
                if kind == "call.state" and fields["state"] == "disconnected":
                    # Stats and releases first: the control plane closes the
                    # call's record when it reads the disconnect.
                    self.forget(fields["call"], serial)
                self.send(kind, **fields)

    def retire_slot(self, number: int) -> None:
        """Drop a finished call still filed under a pjsua id that is being reused.

        pjsua2's Call destructor clears the user data of its id: a stale object
        destroyed after a new call took the id would cut the new call off from
        its callbacks. So the old one goes first, while the id is in between.
        """
        stale = self.calls.get(number)
        if stale is not None:
            log.warning("worker=%s call id %s reused before its end was read", self.worker_id,
                        number)
            self.forget(number, stale.serial)

    def forget(self, number: int, serial: int | None = None) -> None:
        call = self.calls.get(number)
        if call is None or (serial is not None and call.serial != serial):
            return  # an earlier call that held this id; already settled
        del self.calls[number]
        self.commands.release(call)
        if call.media.stats:
            self.send("media.stats", call=number, **call.media.stats)

    def refuse_unhandled(self, now: float) -> None:
        for call in list(self.calls.values()):
            if not call.answered and now - call.created > UNHANDLED_CALL_S:
                call.answered = True  # refuse once
                log.warning("worker=%s call=%s not handled in time; 503", self.worker_id,
                            call.number)
                prm = pj.CallOpParam()
                prm.statusCode = 503
                try:
                    call.hangup(prm)
                except pj.Error:
                    pass

    def hangup_all(self, timeout_s: float = 2.0) -> None:
        """Hang up politely (BYE/CANCEL/603) and let the transactions go out."""
        self.ep.hangupAllCalls()
        deadline = time.monotonic() + timeout_s
        while self.calls and time.monotonic() < deadline:
            self.ep.libHandleEvents(20)
            self.drain_sink()

    def close(self) -> None:
        self.hangup_all()
        for call in list(self.calls.values()):
            self.commands.release(call)
        self.calls.clear()
        self.orphans.clear()  # every pjsua2.Call goes before libDestroy
        self.commands.clear()
        self.account.shutdown()
        del self.account
        gc.collect()  # a pjsua2 Call still alive at libDestroy aborts the process
        self.ep.libDestroy()
        self.sock.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="voicecenter media worker (started by serve)")
    parser.add_argument("--worker", type=int, required=True)
    parser.add_argument("--control", required=True, help="HOST:PORT of the control plane")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--sip-port", type=int, required=True)
    parser.add_argument("--rtp-port", type=int, required=True)
    parser.add_argument("--rtp-range", type=int, default=40)
    parser.add_argument("--poll-ms", type=int, default=20)
    parser.add_argument("--pj-log-level", type=int, default=1)
    parser.add_argument("--clock-rate", type=int, choices=(8000, 16000), default=8000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    host, _, port = args.control.rpartition(":")
    options = EndpointOptions(args.address, args.sip_port, args.rtp_port, args.rtp_range,
                              args.pj_log_level, args.clock_rate)
    worker = MediaWorker(args.worker, (host, int(port)), options, args.poll_ms)

    def stop(_signum: int, _frame: object) -> None:
        worker.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    worker.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
