"""`voicecenter serve`: the control plane process and the children it supervises.

Start order follows dependencies: store (migrated) -> broker and outbox
publisher -> media workers (their hello tells each one's capacity) -> SIP
edge (its dispatcher list needs those capacities) -> HTTP API. Stop order is
the reverse, and SIGTERM first refuses new calls and hangs up live ones, so
nothing is left running and no call is left without an end in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .api.app import create_app
from .calls.service import VoiceService
from .calls.store_journal import StoreJournal
from .edge.kamailio_process import KamailioEdge
from .events.broker import MosquittoBroker
from .events.publisher import OutboxPublisher
from .flows.loader import load_flows
from .media.pool import WorkerPool
from .media.worker_link import WorkerLink
from .settings import Settings
from .store import Store, open_store

log = logging.getLogger("voicecenter.server")


@dataclass
class Services:
    """Everything the running server holds; the HTTP app reads it."""

    settings: Settings
    store: Store
    voice: VoiceService
    pool: WorkerPool | None = None
    edge: KamailioEdge | None = None
    broker: MosquittoBroker | None = None
    publisher: OutboxPublisher | None = None
    extras: dict[str, Any] = field(default_factory=dict)


class Server:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services: Services | None = None
        self.runner: web.AppRunner | None = None
        self._stack = contextlib.AsyncExitStack()
        self.stopped = asyncio.Event()

    async def start(self) -> Services:
        settings = self.settings
        paths = settings.paths
        for directory in (paths.data_dir, paths.recordings):
            directory.mkdir(parents=True, exist_ok=True)
        store = await open_store(settings)
        self._stack.push_async_callback(store.close)
        journal = StoreJournal(store)
        closed = await journal.close_stale("server restarted while the call was live")
        if closed:
            log.warning("closed %d calls left open by a previous run", closed)

        flows, errors = load_flows(paths.flows)
        for error in errors:
            log.error("flow not loaded: %s", error)
        missing = [n for n, f in settings.entry_points.items() if f not in flows]
        for number in missing:
            log.error("entry point %s names flow %r, which is not loaded", number,
                      settings.entry_points[number])
        voice = VoiceService(journal, flows, settings.entry_points, paths.sounds,
                             settings.sip.retry_after_seconds)
        services = Services(settings=settings, store=store, voice=voice)
        self.services = services

        if not settings.mqtt.url:
            services.broker = MosquittoBroker(settings, paths.data_dir / "mosquitto")
            await services.broker.start()
            self._stack.push_async_callback(services.broker.stop)
        services.publisher = OutboxPublisher(store, settings.mqtt)
        await services.publisher.start()
        self._stack.push_async_callback(services.publisher.stop)

        async def on_ready(link: WorkerLink) -> None:
            if services.edge is not None and services.edge.running:
                target = services.pool.targets()[link.worker_id] if services.pool else None
                if target is not None:
                    await services.edge.set_worker_state(target, True)

        async def on_lost(worker_id: int, reason: str) -> None:
            if services.edge is not None and services.pool is not None:
                with contextlib.suppress(Exception):
                    await services.edge.set_worker_state(services.pool.targets()[worker_id],
                                                         False)
            await voice.on_worker_lost(worker_id, reason)

        services.pool = WorkerPool(settings.media, voice.on_worker_event, on_lost, on_ready)
        self._stack.push_async_callback(services.pool.stop)
        await services.pool.start()

        services.edge = KamailioEdge(settings, services.pool.targets(),
                                     paths.data_dir / "kamailio")
        await services.edge.start()
        self._stack.push_async_callback(services.edge.stop)

        app = create_app(services)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, settings.http.host, settings.http.port)
        await site.start()
        self._stack.push_async_callback(self.runner.cleanup)
        log.info(
            "voicecenter ready: SIP %s:%d, HTTP http://%s:%d/, %d media workers (%d calls)",
            settings.sip.address, settings.sip.port, settings.http.host, settings.http.port,
            len(services.pool.slots), services.pool.capacity,
        )
        return services

    async def stop(self) -> None:
        """Refuse new calls, hang up live ones, then stop children in reverse order."""
        if self.services is not None:
            await self.services.voice.drain()
        await self._stack.aclose()
        self.stopped.set()
        log.info("voicecenter stopped")


async def serve(settings: Settings) -> int:
    server = Server(settings)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
    except Exception as exc:
        log.error("could not start: %s", exc)
        await server.stop()
        return 1
    await stop.wait()
    log.info("stopping (signal received)")
    await server.stop()
    return 0
