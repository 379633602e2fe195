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
from .api.events_ws import PAGE_FEED
from .api.login import SESSIONS
from .api.sessions import SessionService
from .calls.service import VoiceService
from .calls.store_journal import StoreJournal
from .channels.wiring import open_sms_sip, start_channels
from .distribution.callbacks import start_queue_services
from .distribution.dialplan import DialPlan
from .distribution.figures_history import start_figures_history
from .distribution.service import DistributionService
from .edge.kamailio_process import KamailioEdge
from .edge.rtpengine import RtpEngine
from .events.broker import MosquittoBroker
from .events.page_feed import PageFeed
from .events.publisher import OutboxPublisher
from .flows.runtime import FlowRuntime
from .media.pool import WorkerPool
from .media.worker_link import WorkerLink
from .routing.config import RouterConfig
from .settings import Settings
from .speech.jobs import TranscriptionQueue
from .speech.service import SpeechService
from .store import Store, open_store
from .store.transcripts import TranscriptRepository

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
    distribution: DistributionService | None = None
    speech: SpeechService | None = None
    transcription: TranscriptionQueue | None = None
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
        await journal.start()
        self._stack.push_async_callback(journal.stop)
        closed = await journal.close_stale("server restarted while the call was live")
        if closed:
            log.warning("closed %d calls left open by a previous run", closed)

        runtime = FlowRuntime(paths.flows, paths.sounds, paths.data_dir, paths.recordings,
                              settings.entry_points, store)
        await runtime.start()
        self._stack.push_async_callback(runtime.stop)
        voice = VoiceService(journal, dict(runtime.registry.snapshot()), settings.entry_points,
                             paths.sounds, settings.sip.retry_after_seconds, runtime=runtime)
        services = Services(settings=settings, store=store, voice=voice)
        self.services = services

        if not settings.mqtt.url:
            services.broker = MosquittoBroker(settings, paths.data_dir / "mosquitto")
            await services.broker.start()
            self._stack.push_async_callback(services.broker.stop)
        services.publisher = OutboxPublisher(store, settings.mqtt)
        await services.publisher.start()
        self._stack.push_async_callback(services.publisher.stop)

        services.speech = SpeechService(settings, paths.data_dir / "speech")
        await services.speech.start()
        self._stack.push_async_callback(services.speech.stop)
        voice.speech = services.speech
        services.transcription = TranscriptionQueue(TranscriptRepository(store),
                                                    services.speech)
        await services.transcription.start()
        self._stack.push_async_callback(services.transcription.stop)

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

        if settings.sip.browsers:  # before Kamailio, which connects to it at start
            rtpengine = RtpEngine(settings)
            await rtpengine.start()
            self._stack.push_async_callback(rtpengine.stop)
            services.extras["rtpengine"] = rtpengine
        await open_sms_sip(services, self._stack)  # the edge's config names its port
        services.edge = KamailioEdge(settings, services.pool.targets(),
                                     paths.data_dir / "kamailio")
        await services.edge.start()
        self._stack.push_async_callback(services.edge.stop)

        edge_address = f"{settings.sip.address}:{settings.sip.port}"
        routing = settings.routing
        services.distribution = DistributionService(
            store, voice, edge_address, paths.recordings,
            RouterConfig.from_dict(routing.router_config()), routing.ring_timeout_s,
            routing.wrap_up, routing.wrap_up_s, routing.dispositions)
        services.distribution.agent_capacity = routing.agent_capacity()
        await services.distribution.start()
        dialplan = DialPlan.from_patterns(settings.dialplan.allow,
                                          settings.dialplan.trunk or edge_address)
        services.distribution.enable_phone_transfers(paths.sounds / "moh.wav", dialplan)
        runtime.set_router(services.distribution)
        services.distribution.transcription = services.transcription
        services.distribution.compress_codec = settings.recording.codec
        self._stack.push_async_callback(services.distribution.stop)
        await start_channels(services, runtime, self._stack)
        services.extras["callbacks"] = await start_queue_services(
            services.distribution, services.pool, settings.queues, self._stack)
        services.extras["figures_history"] = await start_figures_history(
            services.distribution, settings.queues, self._stack)

        sessions = SessionService(store, settings)
        await sessions.ensure_admin()
        services.extras[SESSIONS] = sessions
        page_feed = PageFeed(store)
        await page_feed.start()
        self._stack.push_async_callback(page_feed.stop)
        services.extras[PAGE_FEED] = page_feed
        app = create_app(services)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, settings.http.host, settings.http.port)
        await site.start()
        self._stack.push_async_callback(self.runner.cleanup)
        # Runs before the cleanup: pages' sockets closed, the HTTP server stops at once.
        self._stack.push_async_callback(page_feed.stop)
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
