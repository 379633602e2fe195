"""Run SIPp (3.6) from tests and benchmarks and read back what happened.

One place knows the SIPp command line, so tests and bench scripts cannot
drift apart on the details that bite:

* SIPp binds SIP port 5060 when it is free and no ``-p`` is given: started
  before the server (or beside it), it would steal the server's port.  We
  always pass ``-p`` with a port the OS just gave us.
* ``-mp`` is the one media socket all calls of a run share: [media_port] in
  the scenario's SDP is this port for every call, the server sends its RTP
  there, and ``play_pcap_audio`` sends from it through a raw socket (needs
  root or CAP_NET_RAW).  Two SIPp runs side by side need different ``-mp``
  (with ``-mp`` SIPp tries that one port only), so we pick a free even port
  whose RTP/RTCP/video neighbours (+1, +2) are free too.
* Verdicts: the exit code is 0 only when every call succeeded, 1 when one
  failed, 97 when a ``-timeout`` run ended with no successful call, 99 or
  255/254 (-1/-2) for usage, fatal or bind errors; the counts come from the
  last line of the ``-trace_stat`` CSV, which SIPp also writes at exit.
"""

from __future__ import annotations

import asyncio
import csv
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SIPP = "sipp"
SCENARIO_DIR = Path(__file__).resolve().parents[1] / "sipp"

EXIT_MEANINGS = {
    0: "all calls successful",
    1: "at least one call failed",
    97: "internal stop or -timeout with no successful call",
    98: "result unknown (killed by a signal)",
    99: "normal exit without calls processed, or bad usage",
    255: "fatal error",
    254: "could not bind a socket",
}


@dataclass(frozen=True)
class SippResult:
    """What one SIPp run achieved; ``ok`` is the verdict tests assert on."""

    successful: int
    failed: int
    returncode: int
    stats_path: Path | None
    error_log: Path | None
    command: list[str] = field(default_factory=list)
    output: str = ""
    elapsed_s: float = 0.0
    stats: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.failed == 0 and self.successful > 0

    @property
    def errors(self) -> str:
        """The error log's text (unexpected messages, timeouts), '' if none."""
        if self.error_log and self.error_log.exists():
            return self.error_log.read_text(errors="replace")
        return ""

    def describe(self) -> str:
        """A few lines for an assertion message: the command, verdict and errors."""
        meaning = EXIT_MEANINGS.get(self.returncode, "unknown exit code")
        tail = "\n".join(self.output.strip().splitlines()[-15:])
        return (
            f"sipp exit {self.returncode} ({meaning}): {self.successful} ok, {self.failed} failed "
            f"in {self.elapsed_s:.1f}s\n$ {' '.join(self.command)}\n"
            f"--- errors ---\n{self.errors[-3000:]}\n--- output tail ---\n{tail}"
        )


def sipp_available() -> bool:
    return shutil.which(SIPP) is not None


def can_play_pcap() -> bool:
    """True when this process may open the raw socket ``play_pcap_audio`` needs."""
    try:
        socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP).close()
    except PermissionError:
        return False
    return True


def scenario_path(name: str) -> Path:
    """tests/sipp/<name>.xml; the ``name`` may be given with or without .xml."""
    path = SCENARIO_DIR / (name if name.endswith(".xml") else f"{name}.xml")
    if not path.exists():
        raise FileNotFoundError(path)
    return path


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def free_media_port(host: str = "127.0.0.1", attempts: int = 50) -> int:
    """An even port with the next two also free: SIPp binds port and port+2, RTCP is +1."""
    for _ in range(attempts):
        base = free_udp_port(host) & ~1
        if base + 2 > 65535:
            continue
        socks: list[socket.socket] = []
        try:
            for port in (base, base + 1, base + 2):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(sock)
                sock.bind((host, port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no free media port triple found")


@dataclass
class SippRun:
    """Everything that makes one SIPp command line; ``command()`` builds it.

    ``command()`` fills in ``workdir``, ``sip_port`` and ``media_port`` when
    they are None, so after a run they say what was used.

    ``target`` is host:port of the server; ``pcap`` fills ``-key pcap`` (the
    file uac_digits.xml plays); ``recv_timeout_ms`` is how long a call waits
    for any message, e.g. for the server's BYE before hanging up itself;
    ``timeout_s`` ends the whole run (and makes it fail) when calls hang.
    """

    scenario: str | Path
    target: str
    service: str = "100"
    calls: int = 1  # -m: calls to place in total
    limit: int | None = None  # -l: most calls at once (SIPp's default is 3 * rate * call length)
    rate: float | None = None  # -r: new calls per rate_period_ms (SIPp's default is 10 / s)
    rate_period_ms: int | None = None  # -rp
    pcap: str | Path | None = None
    recv_timeout_ms: int | None = 15000
    timeout_s: float | None = 60
    local_ip: str = "127.0.0.1"
    media_ip: str | None = None
    sip_port: int | None = None  # None: a free port (never SIPp's default 5060)
    media_port: int | None = None  # None: a free even port
    transport: str = "u1"  # one UDP socket for all calls
    rtp_echo: bool = False
    auto_answer: bool = True  # -aa: 200 to in-dialog INFO/NOTIFY/OPTIONS/UPDATE, not a failed call
    keys: Mapping[str, str] = field(default_factory=dict)
    extra_args: Sequence[str] = ()
    workdir: Path | None = None  # where stats/error files go (a new temp dir if None)
    stats_every_s: int = 1  # -fd: how often the stats CSV gets a row

    def command(self) -> list[str]:
        workdir = self.workdir or Path(tempfile.mkdtemp(prefix="sipp-"))
        self.workdir = workdir
        self.sip_port = self.sip_port or free_udp_port(self.local_ip)
        self.media_port = self.media_port or free_media_port(self.media_ip or self.local_ip)
        scenario = Path(self.scenario)
        if not scenario.exists():
            scenario = scenario_path(str(self.scenario))
        cmd = [
            SIPP, self.target,
            "-sf", str(scenario),
            "-s", self.service,
            "-i", self.local_ip,
            "-p", str(self.sip_port),
            "-mi", self.media_ip or self.local_ip,
            "-mp", str(self.media_port),
            "-t", self.transport,
            "-m", str(self.calls),
            "-nostdin",
            "-trace_stat", "-stf", str(workdir / "stats.csv"), "-fd", str(self.stats_every_s),
            "-trace_err", "-error_file", str(workdir / "errors.log"),
        ]
        if self.limit is not None:
            cmd += ["-l", str(self.limit)]
        if self.rate is not None:
            cmd += ["-r", f"{self.rate:g}"]
        if self.rate_period_ms is not None:
            cmd += ["-rp", str(self.rate_period_ms)]
        if self.recv_timeout_ms is not None:
            cmd += ["-recv_timeout", str(self.recv_timeout_ms)]
        if self.timeout_s is not None:
            cmd += ["-timeout", f"{self.timeout_s:g}s", "-timeout_error"]
        if self.rtp_echo:
            cmd.append("-rtp_echo")
        if self.auto_answer:
            cmd.append("-aa")
        keys = dict(self.keys)
        if self.pcap is not None:
            keys["pcap"] = str(Path(self.pcap).resolve())  # SIPp resolves from its cwd
        for key, value in keys.items():
            cmd += ["-key", key, value]
        cmd += list(self.extra_args)
        return cmd

    def _result(self, cmd: list[str], returncode: int, output: str, elapsed: float) -> SippResult:
        assert self.workdir is not None
        stats_path = self.workdir / "stats.csv"
        stats = read_last_stats(stats_path)
        error_log = self.workdir / "errors.log"
        return SippResult(
            successful=int(stats.get("SuccessfulCall(C)", 0) or 0),
            failed=int(stats.get("FailedCall(C)", 0) or 0),
            returncode=returncode,
            stats_path=stats_path if stats_path.exists() else None,
            error_log=error_log if error_log.exists() else None,
            command=cmd,
            output=output,
            elapsed_s=elapsed,
            stats=stats,
        )

    def _timeout_s(self) -> float | None:
        # SIPp's own -timeout should end it first; this is the backstop.
        return None if self.timeout_s is None else self.timeout_s + 15

    def run(self) -> SippResult:
        """Run SIPp to the end (blocking) and collect the result."""
        cmd = self.command()
        started = time.monotonic()
        try:
            proc = subprocess.run(
                cmd, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, timeout=self._timeout_s(), check=False,
            )
            returncode, output = proc.returncode, proc.stdout.decode(errors="replace")
        except subprocess.TimeoutExpired as exc:
            returncode = 98
            output = (exc.output or b"").decode(errors="replace") + "\n[killed: backstop timeout]"
        return self._result(cmd, returncode, output, time.monotonic() - started)

    async def run_async(self) -> SippResult:
        """Same as ``run`` without blocking the event loop (servers under test share it)."""
        cmd = self.command()
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *cmd, cwd=self.workdir, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), self._timeout_s())
            returncode = proc.returncode if proc.returncode is not None else 98
            output = out.decode(errors="replace")
        except TimeoutError:
            proc.kill()
            await proc.wait()
            returncode, output = 98, "[killed: backstop timeout]"
        return self._result(cmd, returncode, output, time.monotonic() - started)


def read_last_stats(path: Path) -> dict[str, str]:
    """The last row of a SIPp ``-trace_stat`` CSV (';'-separated), by column name."""
    if not path.exists():
        return {}
    with path.open(newline="", errors="replace") as fh:
        rows = [row for row in csv.reader(fh, delimiter=";") if row]
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False))


def run_sipp(scenario: str | Path, target: str, **options: object) -> SippResult:
    """``SippRun(scenario, target, **options).run()``: one call for the common case."""
    return SippRun(scenario, target, **options).run()  # type: ignore[arg-type]


async def run_sipp_async(scenario: str | Path, target: str, **options: object) -> SippResult:
    return await SippRun(scenario, target, **options).run_async()  # type: ignore[arg-type]
