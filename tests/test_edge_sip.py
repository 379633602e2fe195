"""The SIP edge with real peers on 127.0.0.1: Kamailio, SIPp, baresip.

SIPp UAS processes (tests/sipp/edge_uas.xml) stand in for media workers: they
answer the edge's OPTIONS probes and INVITEs. A SIPp UAC is the caller. A real
baresip is the agent's softphone. Every test gets its own edge on free ports,
so a demo running on 5060 is never touched.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import sqlite3
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from voicecenter.edge.kamailio_process import EdgeStartError, KamailioEdge
from voicecenter.edge.probe import sip_ping
from voicecenter.edge.targets import WorkerTarget
from voicecenter.settings import Settings

sys.path.insert(0, str(Path(__file__).parent))
from support.softphone import Softphone, SoftphoneError, free_tcp_port, port_free

pytestmark = [pytest.mark.sip, pytest.mark.timeout(60)]

SIPP_DIR = Path(__file__).parent / "sipp"
DOMAIN = "127.0.0.1"
ACCOUNTS = {"alice": "secret", "bob": "hunter2"}


def free_udp_port(span: int = 1) -> int:
    """A UDP port with the next span-1 ports free for UDP and TCP too."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port + span < 65535 and all(port_free(p) for p in range(port, port + span)):
            return port
    raise RuntimeError("no free UDP port")


def create_store(path: Path) -> None:
    """The store's sip_accounts table, as the store module will create it."""
    md5 = lambda text: hashlib.md5(text.encode()).hexdigest()  # noqa: E731
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE sip_accounts (id INTEGER PRIMARY KEY, username TEXT UNIQUE,"
            " domain TEXT, ha1 TEXT, ha1b TEXT, agent_id INTEGER NULL)"
        )
        for agent_id, (user, password) in enumerate(ACCOUNTS.items(), 1):
            db.execute(
                "INSERT INTO sip_accounts (username, domain, ha1, ha1b, agent_id)"
                " VALUES (?, ?, ?, ?, ?)",
                (user, DOMAIN, md5(f"{user}:{DOMAIN}:{password}"),
                 md5(f"{user}@{DOMAIN}:{DOMAIN}:{password}"), agent_id),
            )


@dataclass
class Lab:
    tmp: Path
    settings: Settings
    workers: list[WorkerTarget]
    edge: KamailioEdge
    processes: list[asyncio.subprocess.Process] = field(default_factory=list)
    uas: dict[int, asyncio.subprocess.Process] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return self.settings.sip.port

    async def start_worker(self, worker: WorkerTarget, scenario: str = "edge_uas.xml") -> None:
        process = await spawn(
            "sipp", "-sf", str(SIPP_DIR / scenario), "-i", "127.0.0.1", "-p", str(worker.port),
            "-mi", "127.0.0.1", "-mp", str(free_udp_port(4)), "-nostdin", "-nd",
        )
        self.processes.append(process)
        self.uas[worker.worker_id] = process

    async def targets(self) -> dict[int, tuple[str, int]]:
        """worker id -> (dispatcher flags, call load Kamailio counts)."""
        listing = await self.edge.rpc.call("dispatcher.list")
        by_uri = {w.uri: w.worker_id for w in self.workers}
        result = {}
        for target in listing["RECORDS"][0]["SET"]["TARGETS"]:
            dest = target["DEST"]
            result[by_uri[dest["URI"]]] = (dest["FLAGS"], dest["RUNTIME"]["DLGLOAD"])
        return result

    async def wait_flags(self, expected: dict[int, str], timeout: float = 5.0) -> None:
        """Until each worker's flags start with the expected letter (A, I, D)."""
        deadline = time.monotonic() + timeout
        while True:
            targets = await self.targets()
            if all(targets[w][0].startswith(flag) for w, flag in expected.items()):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"dispatcher states {targets}, wanted {expected}")
            await asyncio.sleep(0.1)

    async def caller(
        self, calls: int, hold_ms: int, number: str = "100", local_port: int | None = None
    ) -> tuple[int, str]:
        """SIPp UAC through the edge; returns (exit status, error log)."""
        errors = self.tmp / f"uac-{uuid.uuid4().hex[:6]}.err"
        process = await spawn(
            "sipp", "-sf", str(SIPP_DIR / "edge_uac.xml"), "-s", number,
            "-i", "127.0.0.1", "-p", str(local_port or free_udp_port()),
            "-mi", "127.0.0.1", "-mp", str(free_udp_port(4)),
            "-m", str(calls), "-l", str(calls), "-r", "50", "-d", str(hold_ms),
            "-timeout", "20s", "-timeout_error", "-nostdin", "-nd",
            "-trace_err", "-error_file", str(errors), f"127.0.0.1:{self.port}",
        )
        self.processes.append(process)
        code = await asyncio.wait_for(process.wait(), 30)
        return code, errors.read_text(errors="replace") if errors.exists() else ""


async def spawn(*argv: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL, start_new_session=True,
    )


@pytest.fixture
async def make_lab(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Lab]]]:
    labs: list[Lab] = []

    async def make(capacities: tuple[int, ...] = (2, 2), start_workers: bool = True) -> Lab:
        create_store(tmp_path / "store.db")
        sip_port = free_udp_port(1)
        settings = Settings.model_validate({
            "sip": {"port": sip_port, "websocket_port": free_tcp_port(), "domain": DOMAIN,
                    "children": 2, "retry_after_seconds": 7},
            "store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"},
        })
        workers = [
            WorkerTarget(i, "127.0.0.1", free_udp_port(), capacity)
            for i, capacity in enumerate(capacities)
        ]
        edge = KamailioEdge(settings, workers, tmp_path / "edge")
        lab = Lab(tmp_path, settings, workers, edge)
        labs.append(lab)
        if start_workers:
            for worker in workers:
                await lab.start_worker(worker)
        await edge.start()
        if start_workers:
            await lab.wait_flags({w.worker_id: "A" for w in workers})
        return lab

    yield make
    for lab in labs:
        await lab.edge.stop()
        for process in lab.processes:
            if process.returncode is None:
                os.killpg(process.pid, signal.SIGKILL)
                await process.wait()


def raw_request(port: int, user: str, from_port: int | None = None) -> list[str]:
    """Send one INVITE to the edge from a plain UDP socket; return the status lines."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", from_port or 0))
        sock.settimeout(3)
        local = sock.getsockname()[1]
        call_id = uuid.uuid4().hex
        message = (
            f"INVITE sip:{user}@{DOMAIN}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{call_id[:12]};rport\r\n"
            f"From: <sip:test@127.0.0.1:{local}>;tag={call_id[:6]}\r\n"
            f"To: <sip:{user}@{DOMAIN}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:test@127.0.0.1:{local}>\r\nMax-Forwards: 70\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        sock.sendto(message.encode(), ("127.0.0.1", port))
        replies = []
        while not replies or replies[-1].startswith("SIP/2.0 1"):
            data = sock.recv(65535).decode()
            replies.append(data)
        return replies


async def test_calls_fill_workers_then_503_with_retry_after(make_lab) -> None:
    lab = await make_lab(capacities=(2, 2))
    calls = asyncio.create_task(lab.caller(calls=4, hold_ms=2500))
    deadline = time.monotonic() + 5
    while sum(load for _, load in (await lab.targets()).values()) < 4:
        assert time.monotonic() < deadline, await lab.targets()
        await asyncio.sleep(0.05)
    assert {load for _, load in (await lab.targets()).values()} == {2}

    started = time.monotonic()
    replies = await asyncio.to_thread(raw_request, lab.port, "100")
    assert time.monotonic() - started < 0.5
    final = replies[-1]
    assert final.startswith("SIP/2.0 503"), final
    assert "\r\nRetry-After: 7\r\n" in final

    code, errors = await calls
    assert code == 0, errors
    await asyncio.sleep(0.2)
    assert {load for _, load in (await lab.targets()).values()} == {0}


async def test_full_worker_is_skipped_and_stays_active(make_lab) -> None:
    lab = await make_lab(capacities=(4, 4), start_workers=False)
    busy, free = lab.workers
    await lab.start_worker(busy, "edge_uas_busy.xml")
    await lab.start_worker(free)
    await lab.wait_flags({busy.worker_id: "A", free.worker_id: "A"})
    code, errors = await lab.caller(calls=3, hold_ms=300)
    assert code == 0, errors
    await asyncio.sleep(0.3)
    targets = await lab.targets()
    assert targets[busy.worker_id][0].startswith("A"), targets
    assert all(load == 0 for _, load in targets.values()), targets


async def test_control_plane_takes_a_worker_out_and_puts_it_back(make_lab) -> None:
    lab = await make_lab(capacities=(1, 1))
    first, second = lab.workers
    await lab.edge.set_worker_state(first, active=False)
    await lab.wait_flags({first.worker_id: "D"})
    listing = (lab.edge.runtime_dir / "dispatcher.list").read_text()
    assert f"1 sip:127.0.0.1:{first.port} 4 " in listing  # a restart keeps it out
    calls = asyncio.create_task(lab.caller(calls=1, hold_ms=1500))
    await asyncio.sleep(0.6)
    assert (await lab.targets())[second.worker_id][1] == 1
    # the only active worker is full: refused at once
    assert (await asyncio.to_thread(raw_request, lab.port, "100"))[-1].startswith("SIP/2.0 503")
    await lab.edge.set_worker_state(first, active=True)
    await lab.wait_flags({first.worker_id: "A"})
    assert (await lab.caller(calls=1, hold_ms=100))[0] == 0
    assert (await calls)[0] == 0


async def test_dead_worker_is_noticed_by_probes(make_lab) -> None:
    lab = await make_lab(capacities=(2, 2))
    dead = lab.workers[0]
    os.killpg(lab.uas[dead.worker_id].pid, signal.SIGKILL)
    await lab.wait_flags({dead.worker_id: "I"}, timeout=6)
    code, errors = await lab.caller(calls=2, hold_ms=200)
    assert code == 0, errors


async def test_malformed_requests_get_4xx_or_nothing_and_calls_go_on(make_lab) -> None:
    lab = await make_lab(capacities=(2,))
    process = await spawn(
        "sipp", "-sf", str(SIPP_DIR / "edge_malformed.xml"), "-s", "100",
        "-i", "127.0.0.1", "-p", str(free_udp_port()), "-mi", "127.0.0.1",
        "-mp", str(free_udp_port(4)), "-m", "1", "-timeout", "15s", "-timeout_error",
        "-nostdin", "-nd", "-trace_err", "-error_file", str(lab.tmp / "malformed.err"),
        f"127.0.0.1:{lab.port}",
    )
    lab.processes.append(process)
    assert await asyncio.wait_for(process.wait(), 20) == 0, (lab.tmp / "malformed.err").read_text()
    # a CSeq that is not a number: SIPp cannot match the answer, so send it here
    bad_cseq = await asyncio.to_thread(_send_raw, lab.port, "CSeq: 1 INVITE", "CSeq: x INVITE")
    assert bad_cseq.startswith("SIP/2.0 400"), bad_cseq
    assert lab.edge.running and lab.edge.restarts == 0
    code, errors = await lab.caller(calls=1, hold_ms=100)
    assert code == 0, errors


def _send_raw(port: int, old: str, new: str) -> str:
    """An INVITE with one header line replaced; the first answer's text."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(2)
        local = sock.getsockname()[1]
        message = (
            f"INVITE sip:100@{DOMAIN}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK-raw1\r\n"
            f"From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:100@{DOMAIN}>\r\nCall-ID: raw-1\r\n"
            "CSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        ).replace(old, new)
        sock.sendto(message.encode(), ("127.0.0.1", port))
        return sock.recv(65535).decode()


async def test_agent_registers_only_with_the_right_password(make_lab) -> None:
    lab = await make_lab(capacities=(1,), start_workers=False)
    good = Softphone(lab.tmp / "alice", "alice", "secret", DOMAIN, lab.port)
    bad = Softphone(lab.tmp / "bob", "bob", "not-his-password", DOMAIN, lab.port)
    try:
        await good.start()
        await bad.start()
        assert (await good.wait_registered())["param"].startswith("200")
        with pytest.raises(SoftphoneError, match=r"40[13]"):
            await bad.wait_registered()
        alice = await lab.edge.rpc.call("ul.lookup", "location", "alice")
        assert f":{good.sip_port}" in alice["Contacts"][0]["Contact"]["Address"]
        with pytest.raises(Exception, match="not found"):
            await lab.edge.rpc.call("ul.lookup", "location", "bob")
    finally:
        await bad.stop()
        await good.stop()


async def test_worker_call_reaches_the_registered_agent(make_lab) -> None:
    lab = await make_lab(capacities=(1,), start_workers=False)
    worker = lab.workers[0]  # no UAS: its address is where the "worker" calls from
    phone = Softphone(lab.tmp / "alice", "alice", "secret", DOMAIN, lab.port)
    try:
        await phone.start()
        await phone.wait_registered()
        code, errors = await lab.caller(calls=1, hold_ms=500, number="alice",
                                        local_port=worker.port)
        assert code == 0, errors
        established = await phone.wait_event("CALL_ESTABLISHED")
        assert established["direction"] == "incoming"
        await phone.wait_event("CALL_CLOSED")
    finally:
        await phone.stop()
    # bob has an account but no phone; carol has neither
    unregistered = await asyncio.to_thread(raw_request, lab.port, "bob", worker.port)
    assert unregistered[-1].startswith("SIP/2.0 480"), unregistered[-1]
    unknown = await asyncio.to_thread(raw_request, lab.port, "carol", worker.port)
    assert unknown[-1].startswith("SIP/2.0 404"), unknown[-1]


async def test_agent_call_is_authenticated_and_dispatched(make_lab) -> None:
    lab = await make_lab(capacities=(1,))
    phone = Softphone(lab.tmp / "bob", "bob", "hunter2", DOMAIN, lab.port)
    try:
        await phone.start()
        await phone.wait_registered()
        await phone.dial(f"sip:100@{DOMAIN}:{lab.port}")
        await phone.wait_event("CALL_ESTABLISHED")
        assert (await lab.targets())[0][1] == 1
        await phone.hangup()
        await phone.wait_event("CALL_CLOSED")
    finally:
        await phone.stop()
    await asyncio.sleep(0.2)
    assert (await lab.targets())[0][1] == 0


async def test_websocket_transport_answers_sip(make_lab) -> None:
    lab = await make_lab(capacities=(1,), start_workers=False)
    url = f"ws://127.0.0.1:{lab.settings.sip.websocket_port}/ws"
    options = (
        f"OPTIONS sip:{DOMAIN}:{lab.port} SIP/2.0\r\n"
        "Via: SIP/2.0/WS abc.invalid;branch=z9hG4bK-ws1\r\n"
        "From: <sip:ws@abc.invalid>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: ws-1\r\n"
        "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, protocols=("sip",)) as ws:
            await ws.send_str(options)
            reply = await asyncio.wait_for(ws.receive_str(), 3)
    assert reply.startswith("SIP/2.0 200"), reply


async def test_supervisor_restarts_a_dead_kamailio_and_stop_leaves_nothing(make_lab) -> None:
    lab = await make_lab(capacities=(1,), start_workers=False)
    first_pid = lab.edge.pid
    assert first_pid is not None
    os.kill(first_pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not (lab.edge.running and lab.edge.pid != first_pid and lab.edge.restarts == 1):
        assert time.monotonic() < deadline, "kamailio was not restarted"
        await asyncio.sleep(0.1)
    assert await sip_ping("127.0.0.1", lab.port)
    pid = lab.edge.pid
    await lab.edge.stop()
    assert not lab.edge.running
    assert not lab.edge.pid_path.exists()
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # the whole process group is gone
    assert not await sip_ping("127.0.0.1", lab.port, timeout=0.3)


async def test_reload_picks_up_a_grown_pool(make_lab) -> None:
    lab = await make_lab(capacities=(1,))
    extra = WorkerTarget(7, "127.0.0.1", free_udp_port(), 1)
    lab.workers.append(extra)
    await lab.start_worker(extra)
    lab.edge.workers = list(lab.workers)
    await lab.edge.reload_dispatcher()
    await lab.wait_flags({0: "A", 7: "A"})
    code, errors = await lab.caller(calls=2, hold_ms=800)
    assert code == 0, errors


async def test_a_taken_sip_port_is_reported_not_fought_over(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        port = squatter.getsockname()[1]
        settings = Settings.model_validate({
            "sip": {"port": port, "websocket_port": free_tcp_port()},
            "store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"},
        })
        edge = KamailioEdge(settings, [], tmp_path / "edge")
        with pytest.raises(EdgeStartError, match=f"udp:{port}"):
            await edge.start()
        await edge.stop()
        assert not edge.running
