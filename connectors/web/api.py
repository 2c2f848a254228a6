"""One JSON API as a source: the GETs, retries, errors and page walks every web connector shares.

A connector configures a `JsonApi` with where the API is, the credentials it takes and where
they may go, its retry policy and the hints its errors give (a subclass words the refusals and
rate limits its own way); what stays the connector's is which URLs to ask and how an answer
becomes rows. Every error is built by `error`, so none can carry a configured secret to the
agent.
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any

import httpx

from connectors.base import SourceError
from connectors.web.client import Origin, OriginClient
from connectors.web.jsonpath import JsonPath
from connectors.web.pages import Pager
from connectors.web.redact import excerpt, redact_url, scrub
from connectors.web.retry import RetryLater, RetryPolicy, asked_wait, transient

# Connection failures and dropped keep-alive connections happen before the API did any work, so
# repeating the GET is always safe. Read timeouts are not retried: a slow API stays slow, and
# repeating would multiply the wait past the query's deadline.
RETRYABLE_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError)
STATUS_HINTS = {
    401: "the API refused the credentials; check the headers in params.headers",
    403: "the API refused the credentials; check the headers in params.headers",
    404: "check the URL in the dataset's from:",
    429: "the API is rate limiting this client; try again later",
}
JSON = {"Accept": "application/json"}


class JsonApi:
    """GETs of one API's JSON: credentials kept at its origin, transient failures retried by its
    policy, failures turned into errors that say what to check."""

    def __init__(
        self,
        home: httpx.URL,
        *,
        timeout: float,
        policy: RetryPolicy,
        credentials: Mapping[str, str],
        secrets: Sequence[str],
        headers: Mapping[str, str] = JSON,
        allowed: Collection[Origin] = (),
        secret_query: Callable[[str, str], bool] = lambda name, value: False,
        status_hints: Mapping[int, str] = STATUS_HINTS,
        unreachable: str = "check that the API is reachable from the sidecar",
        message: JsonPath | None = None,
    ) -> None:
        self.timeout = timeout
        self.policy = policy
        self.secrets = tuple(secrets)
        self.status_hints = status_hints
        self.unreachable = unreachable
        self.message = message
        self.client = OriginClient(
            home,
            credentials=credentials,
            headers=headers,
            timeout=timeout,
            refuse=self.refused,
            allowed=allowed,
            secret_query=secret_query,
        )

    def get(self, url: httpx.URL) -> httpx.Response:
        """The answer at `url`, retried while transient; a failure or refusal raises."""
        try:
            response = self.policy.call(lambda: self._send(url), errors=RETRYABLE_ERRORS)
        except httpx.HTTPError as error:
            raise self._transport_error(error, url) from None
        if response.status_code < 400:
            return response
        wait = asked_wait(response) if transient(response) else None
        if wait is not None:
            raise self.rate_limited(response, url, wait)
        message, hint = self.failure(response, url)
        raise self.error(message, hint)

    def json(self, response: httpx.Response, url: httpx.URL) -> Any:
        try:
            return response.json()
        except ValueError:
            kind = response.headers.get("content-type", "no content type")
            raise self.error(
                f"GET {redact_url(url)} did not return valid JSON ({kind}): "
                f"{excerpt(response.text) or '(empty body)'}"
            ) from None

    def pages(
        self,
        first: httpx.URL,
        pager: Pager,
        max_pages: int,
        records: Callable[[Any, httpx.URL], list[Any]],
    ) -> Iterator[list[Any]]:
        """Each page's `records(body, url)`, fetched only as they are consumed, refusing to
        follow a loop or to run past `max_pages` (a partial table would look whole).

        An empty page always ends the walk, whatever the pagination, because many APIs keep
        returning a next link or cursor one page past the end.
        """
        url = first
        seen = {str(url)}
        while True:
            response = self.get(url)
            body = self.json(response, url)
            found = records(body, url)
            yield found
            following = pager.next(url, response, body, len(found)) if found else None
            if following is None:
                return
            if str(following) in seen:
                raise self.error(
                    f"the API sent the same next page twice ({redact_url(following)}); "
                    "stopped to avoid an endless loop",
                    hint="check params.pagination against the API's documentation",
                )
            if len(seen) >= max_pages:
                raise self.error(
                    f"stopped after params.max_pages={max_pages} pages of {redact_url(first)} "
                    "with more pages left; the result would be partial",
                    hint="raise params.max_pages, or narrow the query with filters or a LIMIT",
                )
            seen.add(str(following))
            url = following

    def failure(self, response: httpx.Response, url: httpx.URL) -> tuple[str, str | None]:
        """What failed (the status and the API's own words) and what to check."""
        status = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
        said = self._said(response)
        code = response.status_code
        failed = "the API failed; try again later" if code >= 500 else None
        hint = self.status_hints.get(code, failed)
        return f"GET {redact_url(url)} failed with {status}" + (f": {said}" if said else ""), hint

    def rate_limited(self, response: httpx.Response, url: httpx.URL, wait: float) -> SourceError:
        """The API still says "not now" after the policy's attempts, or asks for a longer wait
        than the policy allows: the failure, with the wait a later attempt should honour."""
        message, _ = self.failure(response, url)
        busy = "is rate limiting this client" if response.status_code < 500 else "is unavailable"
        hint = f"the API {busy}; it asks to wait {math.ceil(wait)}s before the next try"
        return self.error(message, hint, retry_after=wait)

    def refused(self, url: httpx.URL) -> SourceError:
        """An answer led to another origin than the API's own and not one allowed."""
        home = self.client.home
        return self.error(
            f"the API sent the sidecar to {redact_url(url)}; refused because credentials for "
            f"{home} must not go to another origin ({Origin.of(url)})",
            hint="if that is the right API, use its URL in the dataset's from:; to follow it "
            "without credentials, list its origin in params.allowed_origins",
        )

    def error(
        self, message: str, hint: str | None = None, retry_after: float | None = None
    ) -> SourceError:
        """Build every error here, so none can carry a configured secret to the agent."""
        message = scrub(message, self.secrets)
        hint = None if hint is None else scrub(hint, self.secrets)
        if retry_after is None:
            return SourceError(message, hint=hint)
        return RetryLater(message, hint=hint, retry_after=retry_after)

    def close(self) -> None:
        self.client.close()

    def _said(self, response: httpx.Response) -> str:
        """The API's message for a failure: at `message` in its JSON when configured, else an
        excerpt of the body."""
        if self.message is not None:
            try:
                found = self.message.find(response.json())
            except ValueError:
                found = []
            if found and isinstance(found[0], str):
                return excerpt(found[0])
        return excerpt(response.text)

    def _send(self, url: httpx.URL) -> httpx.Response:
        """One GET; a certificate the client does not trust fails at once (no retry can fix
        it), where other connection failures are the policy's to retry."""
        try:
            return self.client.get(url)
        except httpx.ConnectError as error:
            untrusted = _untrusted(error)
            if untrusted is None:
                raise
            raise self.error(
                f"GET {redact_url(url)} failed: the certificate of {url.host} is not trusted "
                f"({untrusted.verify_message})",
                hint="if the API uses a private CA, point SSL_CERT_FILE at its CA bundle "
                "(PEM) in the sidecar's environment",
            ) from None

    def _transport_error(self, error: httpx.HTTPError, url: httpx.URL) -> SourceError:
        shown = redact_url(url)
        if isinstance(error, httpx.ConnectError | httpx.ConnectTimeout):
            return self.error(
                f"GET {shown} failed: cannot connect to {url.host} ({error})", hint=self.unreachable
            )
        if isinstance(error, httpx.TimeoutException):
            return self.error(
                f"GET {shown} timed out after {self.timeout:g}s",
                hint="the API is slow; raise params.timeout",
            )
        return self.error(f"GET {shown} failed: {type(error).__name__}: {error}")


def _untrusted(error: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure `error` was raised from, if it was."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
