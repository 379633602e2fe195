"""Render the SIP edge's Kamailio configuration from voicecenter settings.

The configuration is generated, not shipped, because it depends on values the
operator sets once in voicecenter's own YAML (addresses, ports, the store) and
on the worker pool, which the control plane owns. The template keeps Kamailio's
own default-config layout (a pipeline of named routes, features switched by
``#!define WITH_...``) so a Kamailio administrator can read it as usual.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
from importlib import resources
from pathlib import Path

from voicecenter.edge.targets import WorkerTarget
from voicecenter.settings import Settings

CONFIG_FILE = "kamailio.cfg"
DISPATCHER_FILE = "dispatcher.list"
PID_FILE = "kamailio.pid"
AUTH_TABLE = "sip_accounts"
DISPATCHER_SET = 1
# A worker that does not send a provisional reply within this long is treated
# as gone; OPTIONS probes use the same timer, so it bounds detection time too.
FR_TIMER_MS = 2000
# Attempts per call when workers refuse (486/503) or time out (408); enough to
# get past a race on the last free slot without looping on a saturated pool.
MAX_DISPATCH_TRIES = 4
# sun_path in struct sockaddr_un is 108 bytes on Linux, terminator included.
_UNIX_PATH_MAX = 107

_LOG_LEVELS = {"DEBUG": 3, "INFO": 2, "WARNING": 0, "ERROR": -1}
_PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")


class EdgeConfigError(ValueError):
    """The settings cannot be turned into a working Kamailio configuration."""


def rpc_socket_path(runtime_dir: Path) -> Path:
    """Where Kamailio's JSON-RPC datagram socket lives for this runtime dir.

    Unix socket paths are limited to 107 bytes, and pytest's tmp_path (or a
    deep install dir) can exceed that; then the socket goes to the system temp
    dir under a name derived from the runtime dir, so it is still stable.
    """
    path = Path(runtime_dir).resolve() / "kamailio_rpc.sock"
    if len(str(path).encode()) <= _UNIX_PATH_MAX - 16:  # room for client sockets
        return path
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"vc-edge-{digest}.sock"


def database_url(settings: Settings) -> tuple[str, bool] | None:
    """The store as a Kamailio db_url, and whether it is PostgreSQL.

    Kamailio reads agents' credentials straight from the store's sip_accounts
    table, so the registrar needs no copy of them.
    """
    sqlite_path = settings.sqlite_path
    if sqlite_path is not None:
        return f"sqlite://{Path(sqlite_path).resolve()}", False
    url = settings.store.url
    prefix = "postgresql+asyncpg://"
    if url.startswith(prefix):
        return "postgres://" + url[len(prefix) :], True
    return None


def render_dispatcher_list(
    workers: list[WorkerTarget], disabled: frozenset[int] = frozenset()
) -> str:
    """One line per worker: set, URI, flags, priority, attributes.

    Flags are 8 (probed with OPTIONS) or, for workers the control plane took
    out, 4 (disabled), so a restart or reload of Kamailio keeps them out.
    maxload is the worker's own capacity, so algorithm 10 never sends a call
    to a worker Kamailio believes is full; duid keys the call-load table.
    """
    lines = ["# voicecenter media workers (generated; rewritten at every start)"]
    seen: set[int] = set()
    for worker in workers:
        if worker.worker_id in seen:
            raise EdgeConfigError(f"worker id {worker.worker_id} appears twice")
        if worker.capacity < 1:
            raise EdgeConfigError(f"worker {worker.worker_id} has capacity {worker.capacity}")
        seen.add(worker.worker_id)
        attrs = f"duid={worker.duid};maxload={worker.capacity}"
        flags = 4 if worker.worker_id in disabled else 8
        lines.append(f"{DISPATCHER_SET} {worker.uri} {flags} 0 {attrs}")
    return "\n".join(lines) + "\n"


def _features(settings: Settings, db: tuple[str, bool] | None) -> list[str]:
    features = []
    if settings.sip.browsers:
        features += ["WITH_WEBSOCKET", "WITH_RTPENGINE"]
        if settings.sip.websocket_tls:
            features.append("WITH_TLS")
    if settings.sms.sip_port:
        features.append("WITH_SMS_SIP")
    if db is not None:
        features += ["WITH_AUTH", "WITH_AGENT_AUTH"]
        if db[1]:
            features.append("WITH_POSTGRES")
    return features


def _aliases(settings: Settings) -> str:
    """Let `myself` match the SIP domain too, not only the listen address."""
    sip = settings.sip
    if sip.domain == sip.address:
        return ""
    return f'alias="{sip.domain}:{sip.port}"\nalias="{sip.domain}"'


def _fill(template: str, values: dict[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise EdgeConfigError(f"kamailio template uses unknown value {{{{{name}}}}}")
        return values[name]

    return _PLACEHOLDER.sub(replace, template)


def _quoted(value: str, what: str) -> str:
    if any(ch in value for ch in '"\n\r'):
        raise EdgeConfigError(f"{what} must not contain quotes or line breaks: {value!r}")
    return value


def render_kamailio(
    settings: Settings, workers: list[WorkerTarget], runtime_dir: Path
) -> dict[str, str]:
    """File name -> content for everything Kamailio reads from runtime_dir."""
    runtime_dir = Path(runtime_dir).resolve()
    sip = settings.sip
    if sip.websocket_port == sip.port:
        raise EdgeConfigError("sip.websocket_port must differ from sip.port")
    db = database_url(settings)
    features = _features(settings, db)
    template = (
        resources.files("voicecenter.edge").joinpath("templates", CONFIG_FILE).read_text("utf-8")
    )
    values = {
        "FEATURES": "\n".join(f"#!define {name}" for name in features),
        "DEBUG_LEVEL": str(_LOG_LEVELS.get(settings.log_level, 2)),
        "CHILDREN": str(sip.children),
        "SIP_ADDRESS": _quoted(sip.address, "sip.address"),
        "SIP_PORT": str(sip.port),
        "WS_PORT": str(sip.websocket_port),
        "DOMAIN": _quoted(sip.domain, "sip.domain"),
        "REALM": _quoted(sip.domain, "sip.domain"),
        "ALIASES": _aliases(settings),
        "RUNTIME_DIR": _quoted(str(runtime_dir), "runtime dir"),
        "RPC_SOCKET": _quoted(str(rpc_socket_path(runtime_dir)), "RPC socket path"),
        "DB_URL": _quoted(db[0], "store url") if db else "",
        "AUTH_TABLE": AUTH_TABLE,
        "DS_LIST": str(runtime_dir / DISPATCHER_FILE),
        "DS_SET": str(DISPATCHER_SET),
        "DS_MAX_TRIES": str(MAX_DISPATCH_TRIES),
        "RETRY_AFTER": str(sip.retry_after_seconds),
        "FR_TIMER_MS": str(FR_TIMER_MS),
        "RTPENGINE_NG_PORT": str(sip.rtpengine_ng_port),
        "SMS_SIP_HOST": _quoted(sip.address, "sip.address"),
        "SMS_SIP_PORT": str(settings.sms.sip_port),
        "TLS_CERTIFICATE": _quoted(str(sip.tls_certificate or ""), "sip.tls_certificate"),
        "TLS_PRIVATE_KEY": _quoted(str(sip.tls_private_key or ""), "sip.tls_private_key"),
    }
    return {
        CONFIG_FILE: _fill(template, values),
        DISPATCHER_FILE: render_dispatcher_list(workers),
    }
