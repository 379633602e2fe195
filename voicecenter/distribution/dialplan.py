"""The dial plan: which destinations agents may call through the API.

Click-to-call lets anyone holding API access make the server place calls, so
an open destination is toll fraud waiting to happen. Only destinations that
fully match one of the configured patterns are dialed; everything else is
refused before any SIP is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class DestinationNotAllowed(Exception):
    """The dial plan refuses this destination (maps to 403 destination-not-allowed)."""


@dataclass(frozen=True)
class DialPlan:
    """Patterns (regular expressions, matched against the whole destination)."""

    allow: tuple[re.Pattern[str], ...]
    edge: str  # host:port numbers are sent to (the SIP edge, or a trunk)

    @classmethod
    def from_patterns(cls, patterns: list[str], edge: str) -> DialPlan:
        return cls(tuple(re.compile(p) for p in patterns), edge)

    def uri_for(self, destination: str) -> str:
        """The SIP URI to dial, or DestinationNotAllowed.

        A number (extension or E.164) is dialed at the edge, which routes it
        like any other call; a SIP URI is dialed as written.
        """
        destination = destination.strip()
        if not any(p.fullmatch(destination) for p in self.allow):
            raise DestinationNotAllowed(destination)
        if destination.startswith(("sip:", "sips:")):
            return destination
        return f"sip:{destination}@{self.edge}"
