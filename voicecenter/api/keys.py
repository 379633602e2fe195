"""Typed keys for what the HTTP app shares."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from ..server import Services

SERVICES: web.AppKey[Services] = web.AppKey("services")
