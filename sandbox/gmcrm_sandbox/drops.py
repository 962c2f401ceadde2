"""Dropped connections: a call that gets no answer at all, the connection closed under the client.

A route decides that its call is dropped (a ``drop`` fault, ``faults.py``) and marks the request's
ASGI scope; :class:`DropConnections`, the outermost ASGI layer, then discards whatever response the
route produced and aborts the TCP connection (no TLS close, no HTTP bytes), as a load balancer or a
network cut does. The client sees a reset or a connection closed without a response.

Aborting needs the connection's transport, which ASGI does not expose: uvicorn's ``send`` is a bound
method of its request cycle, which holds it. The sandbox always runs under uvicorn (``server.py``);
under another server the layer refuses to start rather than silently answering.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The scope key a route sets to have its answer dropped.
DROP_KEY: Final = "gmcrm_sandbox.drop"


def mark_dropped(scope: Scope) -> None:
    """Have the answer to this request dropped (the route still runs, or not, as it decides)."""
    scope[DROP_KEY] = True


class DropConnections:
    """ASGI middleware: abort the connection of requests a route marked with :func:`mark_dropped`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Any scope passes through here as it is unless marked, and only an HTTP route marks its own
        # (the sandbox runs without lifespan and has no websockets).
        async def guarded_send(message: Message) -> None:
            if scope.get(DROP_KEY):
                return  # swallowed: the client gets nothing
            await send(message)

        await self.app(scope, receive, guarded_send)
        if scope.get(DROP_KEY):
            await _abort(send)


async def _abort(send: Send) -> None:
    transport: Any = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:  # pragma: no cover - only under a server other than uvicorn
        raise RuntimeError("dropping a connection needs uvicorn (its request cycle's transport)")
    transport.abort()
    # Let connection_lost run, so that uvicorn sees a client gone rather than an app that never answered
    # (it would otherwise try to write a 500 on the aborted connection).
    for _ in range(3):
        await asyncio.sleep(0)
