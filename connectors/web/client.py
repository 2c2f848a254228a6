"""The one HTTP client of the web sources, and where their credentials may go: their API's
own origin, and nowhere else.

An API's answers steer the connector (redirects, `Link` next pages), and an API is someone
else's: a 302 to the same host on another port is another server. Credentials (configured
headers, the URL's user info, cookies, secret query values) therefore travel only to the
origin of the dataset's URL, RFC 6454's (scheme, host, port). Another origin is followed only
if the dataset lists it, and then the request carries none of them.

httpx follows redirects itself and drops only `Authorization` when the host changes, so this
client follows them by hand and decides at every hop.

Every request goes through `http_client`: the timeout, no automatic redirects, and one TLS
context (the default trust store, or `SSL_CERT_FILE`/`SSL_CERT_DIR`) built once per process
rather than once per client.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from connectors.base import SourceError

REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 10
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: httpx.URL) -> Origin:
        scheme = url.scheme.lower()
        return cls(scheme, url.host.lower(), url.port or DEFAULT_PORTS.get(scheme, 0))

    def __str__(self) -> str:
        default = DEFAULT_PORTS.get(self.scheme) == self.port
        return f"{self.scheme}://{self.host}" + ("" if default else f":{self.port}")


def parse_origins(value: Any, where: str) -> frozenset[Origin]:
    """`params.allowed_origins`: a list of `scheme://host[:port]`."""
    if value is None:
        return frozenset()
    if not isinstance(value, list | tuple):
        raise SourceError(f"{where} must be a list of origins like https://cdn.example.com")
    origins = set()
    for item in value:
        try:
            url = httpx.URL(str(item))
        except httpx.InvalidURL:
            url = None
        if (
            url is None
            or url.scheme not in DEFAULT_PORTS
            or not url.host
            or url.path not in ("", "/")
            or url.query
        ):
            raise SourceError(
                f"{where}: {item!r} is not an origin; write scheme://host[:port], "
                "e.g. https://cdn.example.com"
            )
        origins.add(Origin.of(url))
    return frozenset(origins)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The trust store every client verifies servers with (loading it costs milliseconds)."""
    return httpx.create_ssl_context()


def http_client(headers: Mapping[str, str], timeout: float) -> httpx.Client:
    """A client that sends `headers`, gives up after `timeout` seconds per request phase and
    leaves redirects to its caller."""
    return httpx.Client(
        headers=dict(headers), timeout=timeout, verify=tls_context(), follow_redirects=False
    )


def web_url(location: str, query: Mapping[str, Any]) -> httpx.URL:
    """The dataset's `from:` as an http(s) URL, with the configured query parameters."""
    try:
        url = httpx.URL(location)
    except httpx.InvalidURL as error:
        raise SourceError(f"the dataset's from: is not a valid URL ({error})") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise SourceError("the dataset's from: must be an http:// or https:// URL with a host")
    return url.copy_merge_params(dict(query)) if query else url


class OriginClient:
    """GETs that follow redirects within the home origin with credentials, to allowed origins
    without them, and refuse the rest (`refuse(url)` builds the connector's error)."""

    def __init__(
        self,
        home: httpx.URL,
        *,
        credentials: Mapping[str, str],
        headers: Mapping[str, str],
        timeout: float,
        refuse: Callable[[httpx.URL], Exception],
        allowed: Collection[Origin] = (),
        secret_query: Callable[[str, str], bool] = lambda name, value: False,
    ) -> None:
        self.home = Origin.of(home)
        self.allowed = allowed
        self._refuse = refuse
        self._secret_query = secret_query
        self._home = http_client({**headers, **credentials}, timeout)
        self._away = http_client(headers, timeout)

    def get(self, url: httpx.URL) -> httpx.Response:
        """The response at the end of the redirects (httpx errors pass through)."""
        for _ in range(MAX_REDIRECTS + 1):
            response = self._send(url)
            location = response.headers.get("location")
            if response.status_code not in REDIRECTS or not location:
                return response
            response.close()
            url = url.join(location)
        raise httpx.TooManyRedirects(
            f"more than {MAX_REDIRECTS} redirects", request=response.request
        )

    def _send(self, url: httpx.URL) -> httpx.Response:
        origin = Origin.of(url)
        if origin == self.home:
            return self._home.get(url)
        if origin not in self.allowed:
            raise self._refuse(url)
        return self._away.get(self._without_secrets(url))

    def _without_secrets(self, url: httpx.URL) -> httpx.URL:
        """No user info, and none of the secret query values a next link may have copied."""
        kept: Sequence[tuple[str, str]] = [
            (name, value)
            for name, value in url.params.multi_items()
            if not self._secret_query(name, value)
        ]
        return url.copy_with(userinfo=b"", params=httpx.QueryParams(kept))

    def close(self) -> None:
        self._home.close()
        self._away.close()
