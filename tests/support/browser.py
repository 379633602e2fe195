"""Headless Chromium (Debian's) driven by Playwright, for tests of the web pages.

Playwright cannot download its own browser on these machines, so it drives
/usr/bin/chromium. The flags keep Chromium off the network (it otherwise
keeps trying to reach Google's hosts) and give it fake media devices, so a
page's getUserMedia gets a test tone instead of a prompt.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

CHROMIUM = "/usr/bin/chromium"
QUIET = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def chromium(fake_audio: Path | None = None) -> Iterator[Browser]:
    """A headless Chromium; with fake_audio, its microphone plays that WAV file."""
    args = list(QUIET)
    if fake_audio is not None:
        args += ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 f"--use-file-for-fake-audio-capture={fake_audio}",
                 # Without it a loopback-only machine offers no ICE candidates.
                 "--allow-loopback-in-peer-connection",
                 "--autoplay-policy=no-user-gesture-required"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield browser
        finally:
            browser.close()
