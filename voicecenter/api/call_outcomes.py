"""One mapping from what call control raises to the API's stable error ids.

Hold, transfers, conference, supervision and recording pause all end in the
same few ways (the call is not with an agent, the agent is unknown or busy,
nobody answered, the worker failed); each handler runs its action through
``carry_out`` instead of repeating the except clauses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..distribution.connect import AgentNotAvailable, NotConnected, OfferFailed
from ..distribution.control import ControlConflict
from ..flows.context import CallEnded
from ..media.worker_link import CommandFailed, WorkerUnavailable
from ..routing.errors import UnknownAgent
from .errors import ApiError, not_found

T = TypeVar("T")


async def carry_out(action: Callable[[], Awaitable[T]], call_id: str, agent: str = "",
                    not_answered: str = "not-answered") -> T:
    """``action()``'s result, or the ApiError its failure means (``not_answered``
    is the error id when the agent dialed did not take the call)."""
    try:
        return await action()
    except (NotConnected, CallEnded) as exc:
        raise ApiError(409, "not-connected", f"call {call_id} is not with an agent") from exc
    except ControlConflict as exc:
        raise ApiError(409, exc.error, str(exc)) from exc
    except UnknownAgent as exc:
        raise not_found("no-such-agent", f"no agent {agent!r}") from exc
    except AgentNotAvailable as exc:
        raise ApiError(409, "agent-not-available", f"agent {agent!r} is not available") from exc
    except OfferFailed as exc:
        raise ApiError(409, not_answered, str(exc)) from exc
    except (CommandFailed, WorkerUnavailable) as exc:
        raise worker_failed(exc) from exc


def worker_failed(exc: Exception) -> ApiError:
    return ApiError(503, "worker-unavailable", f"the call's media worker failed: {exc}")


