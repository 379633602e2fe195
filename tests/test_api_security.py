"""Every endpoint is locked: no token, a wrong token and a wrong role are refused.

The routes are read from the application itself, so an endpoint added later
is checked without anyone editing this file; a handler that declares no roles
is refused to everyone but admins. Schemathesis then throws generated
requests at every documented operation and no answer may be a 5xx.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import ServerPorts, ServerProcess
from voicecenter.api.app import create_app
from voicecenter.api.auth import Policy, policy_of

pytestmark = pytest.mark.sip

PORTS = ServerPorts(sip=6790, websocket=9789, http=9781, mqtt=3684, control=9792,
                    worker_sip_base=10100, rtp_base=63000, speech=2804)
ROOT = Path(__file__).resolve().parent.parent
LOCKOUT = {"lockout_attempts": 3, "lockout_window_s": 60, "lockout_s": 30}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("security"), workers=1, ports=PORTS,
                         overrides={"auth": LOCKOUT,
                                    # Configured, so the webhook's answers are its own
                                    # checks (401/403), not "SMS is off" (503).
                                    "sms": {"webhook_secret": "probe-secret"}})
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def _routes() -> list[tuple[str, str, Policy | None]]:
    app = create_app(None)  # type: ignore[arg-type]
    found = []
    for route in app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        path = re.sub(r"\{([^}:]+)(:[^}]*)?\}", lambda m: f"probe-{m.group(1)}",
                      route.resource.canonical)
        found.append((route.method, path, policy_of(route.handler)))
    return found


@pytest.fixture(scope="module")
def tokens(server: ServerProcess) -> dict[str, str]:
    status, body = server.request("POST", "/agents", {"name": "probe-name",
                                                      "password": "agent-pw-1"})
    assert status == 201, body
    server.request("POST", "/agents", {"name": "other-agent", "password": "agent-pw-2"})
    return {"agent": server.login("probe-name", "agent-pw-1"),
            "supervisor": server.add_user("sup", "supervisor", "super-pw-1"),
            "qa": server.add_user("reviewer", "qa", "review-pw-1"),
            "admin": server.token or ""}


def test_every_route_declares_who_may_call_it() -> None:
    undeclared = [f"{m} {p}" for m, p, policy in _routes() if policy is None]
    assert undeclared == []


def test_every_endpoint_refuses_a_missing_or_wrong_token_and_a_wrong_role(
        server: ServerProcess, tokens: dict[str, str]) -> None:
    checked = 0
    for method, path, policy in _routes():
        assert policy is not None
        if policy.public:
            continue
        for token, expected in (("", 401), ("not-a-token", 401)):
            status, body = server.request(method, path, {}, token=token)
            assert (status, body["error"][:7]) in ((expected, "unauthe"), (expected, "invalid")), \
                (method, path, status, body)
        for role, token in tokens.items():
            if role in policy.roles:
                continue
            status, body = server.request(method, path, {}, token=token)
            assert status == 403 and body["error"] == "forbidden", (role, method, path, body)
            checked += 1
    assert checked > 40


def test_agents_act_only_for_themselves(server: ServerProcess,
                                        tokens: dict[str, str]) -> None:
    own = server.request("GET", "/agents/probe-name", token=tokens["agent"])
    other = server.request("GET", "/agents/other-agent", token=tokens["agent"])
    assert own[0] == 200 and other[0] == 403
    assert server.request("PUT", "/agents/other-agent/state", {"state": "available"},
                          token=tokens["agent"])[0] == 403
    # A call the agent is not on (no such call at all) is not theirs either.
    assert server.request("POST", "/calls/someone-else/hold/start",
                          token=tokens["agent"])[0] == 403
    me = server.request("GET", "/auth/me", token=tokens["agent"])
    assert me == (200, {"name": "probe-name", "role": "agent", "agent": "probe-name"})


def test_logout_ends_the_token(server: ServerProcess) -> None:
    token = server.login("probe-name", "agent-pw-1")
    assert server.request("GET", "/auth/me", token=token)[0] == 200
    assert server.request("POST", "/auth/logout", token=token)[0] == 200
    status, body = server.request("GET", "/auth/me", token=token)
    assert status == 401 and body["error"] == "invalid-token"


def test_bad_login_and_user_bodies_get_clear_errors(server: ServerProcess) -> None:
    for body in ({}, {"name": "x"}, {"name": 3, "password": "p"}, []):
        status, answer = server.request("POST", "/auth/login", body, token="")
        assert status == 400 and answer["error"] == "invalid-request", (body, answer)
    status, answer = server.request("POST", "/users", {"name": "u1", "password": "short",
                                                       "role": "qa"})
    assert status == 400 and "8 characters" in answer["message"]
    status, answer = server.request("POST", "/users", {"name": "u1", "password": "long-enough",
                                                       "role": "agent"})
    assert status == 400 and answer["details"]["role"] == "agent"
    status, answer = server.request("POST", "/users", {"name": "probe-name",
                                                       "password": "long-enough", "role": "qa"})
    assert status == 409


def test_repeated_wrong_passwords_lock_the_login_and_are_logged(
        server: ServerProcess, tokens: dict[str, str]) -> None:
    for _ in range(LOCKOUT["lockout_attempts"]):
        status, body = server.request("POST", "/auth/login",
                                      {"name": "reviewer", "password": "guess"}, token="")
        assert status == 401 and body["error"] == "login-failed"
    status, body = server.request("POST", "/auth/login",
                                  {"name": "reviewer", "password": "review-pw-1"}, token="")
    assert status == 429 and body["error"] == "login-locked"
    assert 0 < body["details"]["retry_after_s"] <= LOCKOUT["lockout_s"]
    # Another name is not locked by it.
    assert server.login("sup", "super-pw-1")
    log = server.get("/audit?target=reviewer")["items"]
    actions = [r["action"] for r in log]
    assert actions.count("login.failed") == LOCKOUT["lockout_attempts"]
    assert "login.locked" in actions
    assert "login failed user=reviewer" in server.log_path.read_text()
    # Supervisors may read the log; QA and agents may not.
    assert server.request("GET", "/audit", token=tokens["supervisor"])[0] == 200
    assert server.request("GET", "/audit", token=tokens["agent"])[0] == 403


def test_openapi_states_each_operations_roles(server: ServerProcess) -> None:
    document = server.get("/openapi.json")
    assert set(document["components"]["securitySchemes"]) == {"bearer", "cookie"}
    state = document["paths"]["/agents/{name}/state"]["put"]
    assert state["x-roles"] == ["admin", "agent", "supervisor"] and "403" in state["responses"]
    assert document["paths"]["/auth/login"]["post"]["security"] == []


def test_generated_requests_never_get_a_server_error(server: ServerProcess,
                                                      tmp_path: Path) -> None:
    """Schemathesis against the served document, as admin (who may call everything)."""
    run = subprocess.run(
        [str(Path(sys.executable).parent / "schemathesis"), "run",
         f"http://127.0.0.1:{PORTS.http}/openapi.json",
         "--checks", "not_a_server_error", "--max-examples", "8", "--seed", "1",
         "--phases", "examples,coverage,fuzzing", "--workers", "2",
         "--header", f"Authorization: Bearer {server.token}",
         # Logging out would end the token the rest of the run needs; removing users
         # or agents would only thin out what later operations find.
         "--exclude-path", "/auth/logout", "--exclude-method", "DELETE",
         "--exclude-path-regex", "^/(ui/|chat/ws|agents/\\{name\\}/ws|events/ws)",
         "--request-timeout", "15", "--report-dir", str(tmp_path), "--no-color"],
        capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
