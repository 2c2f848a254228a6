"""HTTP connections must deliver each request, headers and body, within a time limit.

uvicorn times out only idle keep-alive connections: a client that opens a connection and sends
half a header (or a body at a byte a minute) is held forever, and a few hundred of them, no API
key needed, hold every connection the server will take. This wraps uvicorn's protocol class
(h11 or httptools, whichever it chose): from the first byte of a request, or from the moment a
connection opens, the whole request must arrive within `runtime.http.request_timeout`, or the
connection is closed. Answering takes as long as the query does; only the client's part is timed.
"""

from __future__ import annotations

import asyncio
from typing import Any


def with_request_timeout(protocol: type[Any], seconds: float) -> type[Any]:
    """A subclass of uvicorn's `protocol` that closes connections too slow to send a request."""

    class RequestTimeout(protocol):  # type: ignore[misc, valid-type]
        _request_timer: asyncio.TimerHandle | None = None
        _answered: Any = None  # the request cycle before the one being timed

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self._start_timer()

        def data_received(self, data: bytes) -> None:
            if self._request_timer is None and self._between_requests():
                self._start_timer()  # a keep-alive connection starts its next request
            super().data_received(data)
            if self._request_timer is not None and self._request_received():
                self._stop_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_timer()
            super().connection_lost(exc)

        def _between_requests(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def _request_received(self) -> bool:
            cycle = self.cycle
            return cycle is not None and cycle is not self._answered and not cycle.more_body

        def _start_timer(self) -> None:
            self._answered = self.cycle
            self._request_timer = self.loop.call_later(seconds, self._too_slow)

        def _stop_timer(self) -> None:
            if self._request_timer is not None:
                self._request_timer.cancel()
                self._request_timer = None

        def _too_slow(self) -> None:
            self._request_timer = None
            if not self._request_received():
                self.transport.close()

    RequestTimeout.__name__ = f"RequestTimeout{protocol.__name__}"
    return RequestTimeout
