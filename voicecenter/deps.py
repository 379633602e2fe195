"""Programs from Debian packages the server needs, checked before anything starts.

Each missing one gives one line naming the program and the package, so an
operator on a fresh machine knows exactly what to install.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from .settings import Settings


@dataclass(frozen=True)
class Dependency:
    program: str
    package: str
    why: str


def required(settings: Settings) -> list[Dependency]:
    needs = [
        Dependency(settings.sip.kamailio_binary, "kamailio", "SIP edge"),
        Dependency("/usr/lib/x86_64-linux-gnu/kamailio/modules/db_sqlite.so",
                   "kamailio-sqlite-modules", "agent credentials for the SIP edge"),
    ]
    if not settings.mqtt.url:
        needs.append(Dependency(settings.mqtt.mosquitto_binary, "mosquitto", "event broker"))
    return needs


def _present(program: str) -> bool:
    if "/" in program:
        path = Path(program)
        if path.exists():
            return True
        # Module paths differ per architecture; look for the same file name.
        if path.suffix == ".so":
            return any(Path("/usr/lib").glob(f"*/kamailio/modules/{path.name}"))
        return False
    return shutil.which(program) is not None


def missing(settings: Settings) -> list[str]:
    """One line per missing dependency (empty when all are there)."""
    return [
        f"missing dependency: {dep.program} ({dep.why}): install the Debian package "
        f"'{dep.package}' (make setup does it)"
        for dep in required(settings)
        if not _present(dep.program)
    ]
