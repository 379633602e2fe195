"""Run a real `voicecenter serve` for tests and benchmarks.

The server runs as its own process with a generated configuration on ports
apart from the demo's, exactly as an operator would start it, so a test sees
the same Kamailio, workers, broker and API that production does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class ServerPorts:
    sip: int = 5090
    websocket: int = 8089
    http: int = 8081
    mqtt: int = 1884
    control: int = 8092
    worker_sip_base: int = 5600
    rtp_base: int = 30000
    speech: int = 2790


@dataclass
class ServerProcess:
    workdir: Path
    workers: int = 4
    ports: ServerPorts = field(default_factory=ServerPorts)
    overrides: dict[str, Any] = field(default_factory=dict)
    # The speech service costs a model load per start: only tests that listen want it.
    speech: bool = False
    process: subprocess.Popen[bytes] | None = None
    token: str | None = None

    ADMIN_PASSWORD = "admin-secret-1"

    @property
    def config_path(self) -> Path:
        return self.workdir / "config" / "voicecenter.yaml"

    @property
    def log_path(self) -> Path:
        return self.workdir / "serve.log"

    @property
    def sip_target(self) -> str:
        return f"127.0.0.1:{self.ports.sip}"

    @property
    def db_path(self) -> Path:
        return self.workdir / "var" / "voicecenter.db"

    def config(self) -> dict[str, Any]:
        p = self.ports
        config: dict[str, Any] = {
            # Browsers (rtpengine) only where a test asks: each rtpengine needs ports of its own.
            "sip": {"address": "127.0.0.1", "port": p.sip, "websocket_port": p.websocket,
                    "browsers": False},
            "media": {"workers": self.workers, "sip_port_base": p.worker_sip_base,
                      "rtp_port_base": p.rtp_base, "control_port": p.control},
            "http": {"host": "127.0.0.1", "port": p.http},
            "mqtt": {"host": "127.0.0.1", "port": p.mqtt},
            "paths": {"data_dir": str(self.workdir / "var"), "sounds": str(ROOT / "sounds"),
                      "flows": str(ROOT / "ivr_flows"),
                      "recordings": str(self.workdir / "var" / "recordings")},
            "speech": {"enabled": self.speech, "port": p.speech},
            "auth": {"admin_password": self.ADMIN_PASSWORD},
            "log_level": "INFO",
        }
        for section, values in self.overrides.items():
            if isinstance(values, dict):
                config.setdefault(section, {}).update(values)
            else:
                config[section] = values
        return config

    def start(self, timeout_s: float = 40.0) -> ServerProcess:
        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config()))
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "voicecenter", "serve", "--config", str(self.config_path)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited with {self.process.returncode}:\n{self.tail()}")
            try:
                health = self.get("/health")
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)
                continue
            if health.get("pid") != self.process.pid:
                # Another server (a parallel test run) holds our HTTP port.
                self.stop()
                raise RuntimeError(f"port {self.ports.http} answers for another server "
                                   f"(pid {health.get('pid')})")
            if health.get("sip_edge") and all(w["ready"] for w in health["workers"]):
                self.token = self.login("admin", self.ADMIN_PASSWORD)
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"serve not ready in {timeout_s} s:\n{self.tail()}")

    def stop(self, timeout_s: float = 20.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.http}"

    def get(self, path: str, token: str | None = None) -> Any:
        """GET as admin (or as ``token``'s user); raises HTTPError on 4xx/5xx."""
        headers = {}
        if token or self.token:
            headers["Authorization"] = f"Bearer {token or self.token}"
        req = urllib.request.Request(f"{self.http_url}{path}", headers=headers)
        with urllib.request.urlopen(req, timeout=5) as response:
            return json.loads(response.read())

    def login(self, name: str, password: str) -> str:
        status, body = self.request("POST", "/auth/login", {"name": name, "password": password},
                                    token="")
        if status != 200:
            raise RuntimeError(f"login as {name} failed: {status} {body}")
        return str(body["token"])

    def add_user(self, name: str, role: str, password: str) -> str:
        """Create a supervisor/qa/admin user and return a token for them."""
        status, body = self.request("POST", "/users",
                                    {"name": name, "role": role, "password": password})
        if status != 201:
            raise RuntimeError(f"adding user {name} failed: {status} {body}")
        return self.login(name, password)

    def request(self, method: str, path: str, body: Any = None,
                token: str | None = None) -> tuple[int, Any]:
        """As admin by default; ``token`` acts as another user, "" as nobody."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        bearer = self.token if token is None else token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        req = urllib.request.Request(f"{self.http_url}{path}", data=data,
                                     method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=5) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def calls(self, limit: int = 100) -> list[dict[str, Any]]:
        return self.get(f"/calls?limit={limit}")["items"]

    def call(self, call_id: str) -> dict[str, Any]:
        return self.get(f"/calls/{call_id}")

    def wait_for(self, predicate: Any, timeout_s: float = 10.0, interval: float = 0.1) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met in {timeout_s} s")
            time.sleep(interval)

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def child_pids(self) -> list[int]:
        """Every process below the server (workers, Kamailio, Mosquitto...)."""
        if self.process is None:
            return []
        found, queue = [], [self.process.pid]
        while queue:
            pid = queue.pop()
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                found.append(child)
                queue.append(child)
        return found
