"""The generated Kamailio configuration, checked without running SIP traffic.

Kamailio itself validates the result (``kamailio -c``), because a template
that renders but does not parse would only fail when the server starts.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from voicecenter.edge.kamailio_config import (
    EdgeConfigError,
    database_url,
    render_dispatcher_list,
    render_kamailio,
    rpc_socket_path,
)
from voicecenter.edge.targets import WorkerTarget
from voicecenter.settings import Settings

KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"
WORKERS = [WorkerTarget(0, "127.0.0.1", 5100, 4), WorkerTarget(1, "127.0.0.1", 5101, 6)]


def settings_for(tmp_path: Path, **sip: object) -> Settings:
    return Settings.model_validate(
        {"sip": sip, "store": {"url": f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"}}
    )


def test_one_dispatcher_entry_per_worker_with_its_own_capacity() -> None:
    lines = [line for line in render_dispatcher_list(WORKERS).splitlines() if line[:1] != "#"]
    assert lines == [
        "1 sip:127.0.0.1:5100 8 0 duid=worker0;maxload=4",
        "1 sip:127.0.0.1:5101 8 0 duid=worker1;maxload=6",
    ]


def test_disabled_workers_stay_disabled_in_the_list() -> None:
    text = render_dispatcher_list(WORKERS, frozenset({1}))
    assert "1 sip:127.0.0.1:5101 4 0 duid=worker1;maxload=6" in text


def test_duplicate_worker_ids_are_refused() -> None:
    with pytest.raises(EdgeConfigError):
        render_dispatcher_list([WORKERS[0], WORKERS[0]])


def test_every_placeholder_is_filled(tmp_path: Path) -> None:
    files = render_kamailio(settings_for(tmp_path), WORKERS, tmp_path)
    config = files["kamailio.cfg"]
    assert "{{" not in config
    assert f'"sqlite://{tmp_path / "store.db"}"' in config
    assert "Retry-After: 5" in config
    assert re.search(r"^listen=udp:127\.0\.0\.1:5060$", config, re.M)
    assert re.search(r"^listen=tcp:127\.0\.0\.1:8088$", config, re.M)
    # no user/group switch: the edge runs as whoever starts it
    assert not re.search(r"^\s*(user|group)\s*=", config, re.M)


def test_postgres_store_becomes_a_kamailio_db_url(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"store": {"url": "postgresql+asyncpg://vc:pw@db.example:5432/voicecenter"}}
    )
    assert database_url(settings) == ("postgres://vc:pw@db.example:5432/voicecenter", True)
    config = render_kamailio(settings, WORKERS, tmp_path)["kamailio.cfg"]
    assert "#!define WITH_POSTGRES" in config


def test_rpc_socket_path_fits_a_unix_socket(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["a-rather-long-directory-name"] * 6)
    assert len(str(rpc_socket_path(deep))) < 100
    assert rpc_socket_path(tmp_path).parent == tmp_path.resolve()


def test_same_port_for_sip_and_websocket_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EdgeConfigError):
        render_kamailio(settings_for(tmp_path, port=5070, websocket_port=5070), WORKERS, tmp_path)


@pytest.mark.parametrize(
    "store_url",
    ["sqlite+aiosqlite:///{tmp}/store.db", "postgresql+asyncpg://vc:pw@127.0.0.1:5432/vc"],
)
def test_kamailio_accepts_the_generated_config(tmp_path: Path, store_url: str) -> None:
    settings = Settings.model_validate(
        {"sip": {"domain": "contact.example"}, "store": {"url": store_url.format(tmp=tmp_path)}}
    )
    for name, content in render_kamailio(settings, WORKERS, tmp_path).items():
        (tmp_path / name).write_text(content)
    result = subprocess.run(
        [KAMAILIO, "-c", "-f", str(tmp_path / "kamailio.cfg")],
        capture_output=True, text=True, timeout=30, check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "config file ok" in output
