"""When a source is asked again and how long it waits first: one policy for every web source
and for the refreshes of accelerated copies.

A server says how long to wait with `Retry-After` (seconds or an HTTP date, RFC 9110 10.2.3)
or, as GitHub and many other APIs do, with its quota headers: `X-RateLimit-Remaining: 0` and
`X-RateLimit-Reset` (epoch seconds). An asked wait is honoured when it fits the policy's bounds
(one wait, and all waits together); beyond them nothing is waited for, the caller gets the last
answer and tells when to come back, instead of holding a query past any sensible deadline.
Without an asked wait, attempts back off exponentially with jitter, so that many sidecars behind
one API do not retry in step.

A refresh retries whole loads; its failures are exceptions, and a source that gave up on a rate
limit says so with `RetryLater`, whose wait the refresh honours in turn.

Nothing here imports an HTTP client: an answer is read through its status and headers only, so
the accelerators use this module without loading one.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from tenacity import RetryCallState, Retrying, retry_any, retry_if_exception_type, retry_if_result

from connectors.base import SourceError

T = TypeVar("T")
# Statuses a server uses to say "not now": quotas (GitHub answers 403 for its primary and
# secondary limits, but only with the headers below; a bare 403 is a refusal) and overload.
RATE_LIMITED = frozenset({403, 429})


class Answer(Protocol):
    """What the policy reads of a response (an httpx.Response is one)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...


class RetryLater(SourceError):
    """The source is rate limited for longer than its own policy waits: a later attempt (say,
    the refresh's next one) should wait `retry_after` seconds first."""

    retry_after: float

    def __init__(self, message: str, *, hint: str | None = None, retry_after: float) -> None:
        super().__init__(message, hint=hint, retry_after=retry_after)


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def asked_wait(answer: Answer) -> float | None:
    """How long the server asked to wait before the next request, or None if it did not."""
    headers = answer.headers
    asked = retry_after(headers.get("retry-after"))
    if asked is not None or answer.status_code not in RATE_LIMITED:
        return asked
    if headers.get("x-ratelimit-remaining") != "0":
        return None
    try:
        reset = float(headers.get("x-ratelimit-reset") or "")
    except ValueError:
        return None
    return max(0.0, reset - time.time())


def transient(answer: Answer) -> bool:
    """Whether asking again may get another answer: overload, server errors and rate limits."""
    status = answer.status_code
    if status == 429 or status >= 500:
        return True
    return status in RATE_LIMITED and asked_wait(answer) is not None


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded attempts and waits: `attempts` tries in all, the first included; the first
    retry after about `backoff` seconds, doubling; no one wait over `max_wait` and no more than
    `max_total` of waiting in all."""

    attempts: int = 4
    backoff: float = 0.5
    max_wait: float = 30.0
    max_total: float = 60.0

    def call(
        self,
        attempt: Callable[[], T],
        *,
        errors: tuple[type[BaseException], ...] = (),
        before_sleep: Callable[[RetryCallState], None] | None = None,
    ) -> T:
        """`attempt()` until it returns an answer that is not `transient`, raises an error that
        is not one of `errors`, or the bounds are reached; then its last answer or error."""
        retrying = Retrying(
            retry=retry_any(retry_if_exception_type(errors), retry_if_result(_transient)),
            wait=self.wait,
            stop=self.stop,
            before_sleep=before_sleep,
            retry_error_callback=_last_outcome,
        )
        return retrying(attempt)

    def wait(self, state: RetryCallState) -> float:
        """The server's asked wait if it gave one, else exponential backoff with jitter."""
        asked = _asked(state)
        if asked is not None:
            return asked
        return self.delay(state.attempt_number)

    def delay(self, attempt: int) -> float:
        """The backoff before retry number `attempt` (1 for the first), with jitter."""
        base = self.backoff * 2 ** (attempt - 1)
        return min(self.max_wait, base + random.uniform(0, base / 2))

    def stop(self, state: RetryCallState) -> bool:
        """Out of attempts, or the wait ahead (asked or not) would break a bound."""
        upcoming = state.upcoming_sleep
        return (
            state.attempt_number >= self.attempts
            or upcoming > self.max_wait
            or state.idle_for + upcoming > self.max_total
        )


def _transient(result: Any) -> bool:
    return isinstance(getattr(result, "status_code", None), int) and transient(result)


def _asked(state: RetryCallState) -> float | None:
    outcome = state.outcome
    if outcome is None:
        return None
    if outcome.failed:
        error = outcome.exception()
        return error.retry_after if isinstance(error, RetryLater) else None
    result = outcome.result()
    return asked_wait(result) if _transient(result) else None


def _last_outcome(state: RetryCallState) -> Any:
    """Give the caller the last answer (or raise the last error) rather than tenacity's own."""
    assert state.outcome is not None
    return state.outcome.result()
