"""The sidecar's HTTP API as the CLI uses it: SQL with Arrow IPC results, and JSON endpoints."""

from __future__ import annotations

from typing import Any

import httpx
import pyarrow as pa
import pyarrow.ipc

from sidecar.client.errors import CONNECT_TIMEOUT, READ_TIMEOUT, ClientError, ServerError

ARROW_STREAM = "application/vnd.apache.arrow.stream"


class HttpClient:
    """The sidecar's HTTP API. Results travel as Arrow IPC so values keep their SQL types."""

    def __init__(self, url: str, api_key: str | None = None) -> None:
        self.url = normalize_url(url)
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=httpx.Timeout(CONNECT_TIMEOUT, read=READ_TIMEOUT),
        )

    def query(self, sql: str) -> pa.Table:
        response = self._send(
            "POST",
            "/v1/sql",
            content=sql.encode(),
            headers={"Content-Type": "text/plain; charset=utf-8", "Accept": ARROW_STREAM},
        )
        try:
            return pyarrow.ipc.open_stream(response.content).read_all()
        except pa.ArrowInvalid as error:
            raise ClientError(
                f"the sidecar at {self.url} sent an unreadable result: {error}"
            ) from None

    def get_json(self, path: str, method: str = "GET") -> Any:
        response = self._send(method, path, headers={"Accept": "application/json"})
        try:
            return response.json()
        except ValueError:
            raise ClientError(
                f"{self.url}{path} did not answer with JSON; is it a sidecar?"
            ) from None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.ConnectError:
            raise ClientError(
                f"cannot reach the sidecar at {self.url}: is `sidecar run` running?"
            ) from None
        except httpx.TransportError as error:
            raise ClientError(
                f"{method} {self.url}{path} failed: {error or type(error).__name__}"
            ) from None
        if response.is_error:
            raise server_error(response)
        return response


def normalize_url(url: str) -> str:
    """Accept `localhost:8090` too: people type addresses the way the banner shows ports."""
    url = url.strip().rstrip("/")
    return url if "://" in url else f"http://{url}"


def server_error(response: httpx.Response) -> ServerError:
    """The sidecar's JSON error body; anything else (a proxy's page) is shown as it came."""
    try:
        body = response.json()["error"]
        return ServerError(
            str(body["message"]),
            hint=body.get("hint"),
            position=body.get("position"),
        )
    except (ValueError, KeyError, TypeError):
        excerpt = response.text.strip()[:200] or response.reason_phrase
        return ServerError(f"HTTP {response.status_code}: {excerpt}")
