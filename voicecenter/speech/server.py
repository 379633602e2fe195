"""The speech service process: one Vosk model, many streams, vosk-server's protocol.

Run as `python -m voicecenter.speech.server --model DIR` (serve starts it).
It speaks the vosk-server WebSocket protocol so an external vosk-server can
take its place by configuration: a first text message
{"config": {"sample_rate": 16000, "phrase_list": [...], "words": true}},
then binary PCM16 chunks, each answered by one {"partial": ...} or
{"text": ..., "result": [...]} message, and '{"eof" : 1}', answered by the
final result before the server closes.

The model is loaded once, before the port opens; a model that cannot be
loaded ends the process with status 2 and one line saying why, so `serve`
can report it once and let flows fall back to DTMF. Recognizers run on a
thread pool: Vosk releases the GIL, so streams use every core. GET /health
describes the loaded model and the live streams.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from .model import ModelError, describe_model, grammar_json, load_model

log = logging.getLogger("voicecenter.speech.server")

EXIT_MODEL = 2
MAX_CHUNK = 1 << 20


class Recognition:
    """One stream's recognizer; every Vosk call runs on the pool, one at a time."""

    def __init__(self, model: Any, config: dict[str, Any]) -> None:
        import vosk

        self.sample_rate = float(config.get("sample_rate") or 16000)
        phrases = config.get("phrase_list") or config.get("grammar")
        if phrases:
            grammar = grammar_json([str(p) for p in phrases], model)
            self.recognizer = vosk.KaldiRecognizer(model, self.sample_rate, grammar)
        else:
            self.recognizer = vosk.KaldiRecognizer(model, self.sample_rate)
        self.recognizer.SetWords(bool(config.get("words", False)))
        if config.get("max_alternatives"):
            self.recognizer.SetMaxAlternatives(int(config["max_alternatives"]))

    def accept(self, pcm: bytes) -> str:
        if self.recognizer.AcceptWaveform(pcm):
            return str(self.recognizer.Result())
        return str(self.recognizer.PartialResult())

    def final(self) -> str:
        return str(self.recognizer.FinalResult())


class SpeechServer:
    def __init__(self, model: Any, model_info: dict[str, Any], threads: int) -> None:
        self.model = model
        self.model_info = model_info
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="vosk")
        self.threads = threads
        self.streams = 0
        self.served = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.handle)
        app.router.add_get("/health", self.health)
        return app

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"model": self.model_info, "streams": self.streams,
                                  "served": self.served, "threads": self.threads})

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_CHUNK)
        if not ws.can_prepare(request).ok:
            return await self.health(request)
        await ws.prepare(request)
        self.streams += 1
        try:
            await self._serve(ws)
        finally:
            self.streams -= 1
            self.served += 1
        return ws

    async def _run(self, func: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, func, *args)

    async def _serve(self, ws: web.WebSocketResponse) -> None:
        config: dict[str, Any] = {"sample_rate": 16000}
        recognition: Recognition | None = None
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                try:
                    data = json.loads(message.data)
                except json.JSONDecodeError:
                    await ws.send_str(json.dumps({"error": "not JSON"}))
                    continue
                if isinstance(data, dict) and isinstance(data.get("config"), dict):
                    config.update(data["config"])
                    recognition = None  # a new config starts a new recognizer
                    continue
                if isinstance(data, dict) and data.get("eof"):
                    if recognition is None:
                        recognition = await self._run(Recognition, self.model, config)
                    await ws.send_str(await self._run(recognition.final))
                    break
            elif message.type == WSMsgType.BINARY:
                if recognition is None:
                    try:
                        recognition = await self._run(Recognition, self.model, config)
                    except Exception as exc:
                        await ws.send_str(json.dumps({"error": f"bad config: {exc}"}))
                        break
                await ws.send_str(await self._run(recognition.accept, message.data))
            elif message.type == WSMsgType.ERROR:
                break
        await ws.close()


async def run(args: argparse.Namespace) -> int:
    path = Path(args.model)
    began = time.monotonic()
    try:
        model = load_model(path)
    except ModelError as exc:
        print(f"speech model not usable: {exc}", file=sys.stderr, flush=True)
        return EXIT_MODEL
    info = describe_model(path)
    info["load_seconds"] = round(time.monotonic() - began, 2)
    server = SpeechServer(model, info, args.threads)
    runner = web.AppRunner(server.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port)
    try:
        await site.start()
    except OSError as exc:
        print(f"speech service cannot listen on {args.host}:{args.port}: {exc.strerror}",
              file=sys.stderr, flush=True)
        await runner.cleanup()
        return 1
    # One line on stdout says "ready" to whoever started us (SpeechService).
    print(json.dumps({"ready": True, "model": info}, ensure_ascii=False), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    server.pool.shutdown(wait=False, cancel_futures=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="voicecenter speech service (Vosk)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2700)
    parser.add_argument("--model", required=True, help="Vosk model directory")
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
