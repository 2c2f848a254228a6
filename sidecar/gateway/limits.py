"""Per-identity load bounds: what one agent may ask of the sidecar, and so of production.

An identity's limits come from the first policy that matches it. The rate is a token bucket
(`rate` tokens a second, at most `burst` saved up); `max_concurrent` is a count of running
statements, where one more waits up to QUEUE_WAIT for a slot before it is refused. Rows and
bytes are counted by the statement as its batches flow (gateway.py). Every refusal names the
limit, the identity, and what to do about it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from policies.access import matching_policy
from policies.identity import Identity
from sidecar.config import Limits, SidecarConfig
from sidecar.errors import ErrorCode, SidecarError

QUEUE_WAIT = 1.0
KEPT_IDENTITIES = 4096  # identities whose governing limits are kept
Clock = Callable[[], float]


class LimitExceeded(SidecarError):
    """A refusal by one of an identity's limits; `limit` names it (max_rows, rate, ...)."""

    def __init__(
        self, limit: str, message: str, *, hint: str, retry_after: float | None = None
    ) -> None:
        super().__init__(ErrorCode.LIMIT_EXCEEDED, message, hint=hint, retry_after=retry_after)
        self.limit = limit

    def to_dict(self) -> dict[str, object]:
        return {**super().to_dict(), "limit": self.limit}


class TokenBucket:
    """`rate` statements a second on average, `burst` at once after a quiet spell."""

    def __init__(self, rate: float, burst: int, clock: Clock = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0 when a token was taken; else the seconds until one will be there."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self.rate


class Slots:
    """At most `size` holders at once; the next waits for one to leave, within a bound."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._held = 0
        self._free = threading.Condition()

    def acquire(self, wait: float) -> bool:
        with self._free:
            if not self._free.wait_for(lambda: self._held < self.size, timeout=max(wait, 0)):
                return False
            self._held += 1
            return True

    def release(self) -> None:
        with self._free:
            self._held -= 1
            self._free.notify()


@dataclass(frozen=True)
class Governing:
    """An identity's limits and where an operator changes them (`policies[1].limits`)."""

    limits: Limits
    where: str


UNLIMITED = Governing(Limits(), "policies")  # no policy matches: made once, not per statement


class Limiter:
    """The load bounds of every identity, with the bucket and slots each one is using."""

    def __init__(self, config: SidecarConfig) -> None:
        self.config = config
        self._buckets: dict[str, TokenBucket] = {}
        self._slots: dict[str, Slots] = {}
        self._lock = threading.Lock()
        self._governing: dict[str, Governing] = {}  # by identity name: the policies are fixed

    def governing(self, identity: Identity) -> Governing:
        """The limits of the first policy naming `identity`, asked for by every statement
        (matching is a glob per pattern; the answer is kept per name)."""
        governing = self._governing.get(identity.name)
        if governing is not None:
            return governing
        found = matching_policy(self.config.policies, identity)
        if found is None:
            governing = UNLIMITED
        else:
            index, policy = found
            governing = Governing(policy.limits, f"policies[{index}].limits")
        if len(self._governing) >= KEPT_IDENTITIES:
            self._governing.clear()
        self._governing[identity.name] = governing
        return governing

    def timeout(self, governing: Governing, asked: float | None = None) -> tuple[float, str]:
        """Seconds a statement may run under `governing`, and the setting that says so; a
        client may `ask` for less (pg's statement_timeout), never for more."""
        seconds, setting = self.config.runtime.query_timeout, "runtime.query_timeout"
        if governing.limits.query_timeout is not None:
            seconds, setting = governing.limits.query_timeout, f"{governing.where}.query_timeout"
        if asked is not None and asked < seconds:
            return asked, "the session's statement_timeout"
        return seconds, setting

    def admit(self, identity: Identity, governing: Governing) -> None:
        """Take one of the identity's rate tokens for a statement, or refuse it."""
        limits = governing.limits
        if limits.rate is None:
            return
        burst = limits.burst or max(1, math.floor(limits.rate))
        wait = self._bucket(identity.name, limits.rate, burst).take()
        if wait:
            raise LimitExceeded(
                "rate",
                f'identity "{identity.name}" is over its rate limit of {limits.rate:g} '
                f"queries a second (burst {burst})",
                hint=f"retry in {wait:.2f}s and pace the queries; an operator sets "
                f"{governing.where}.rate",
                retry_after=wait,
            )

    def occupy(
        self, identity: Identity, governing: Governing, deadline: float
    ) -> Callable[[], None]:
        """One of the identity's max_concurrent slots while a statement executes (waiting up
        to QUEUE_WAIT for one), or a refusal; returns the slot's release."""
        limits = governing.limits
        if limits.max_concurrent is None:
            return _nothing
        slots = self._slot(identity.name, limits.max_concurrent)
        if not slots.acquire(min(QUEUE_WAIT, deadline - time.monotonic())):
            raise LimitExceeded(
                "max_concurrent",
                f'identity "{identity.name}" already runs {limits.max_concurrent} queries, its '
                f"max_concurrent limit, and none finished within {QUEUE_WAIT:g}s",
                hint="wait for a running query to finish (or cancel one) and retry; an operator "
                f"sets {governing.where}.max_concurrent",
                retry_after=QUEUE_WAIT,
            )
        return slots.release

    def _bucket(self, name: str, rate: float, burst: int) -> TokenBucket:
        with self._lock:
            bucket = self._buckets.get(name)
            if bucket is None:
                bucket = self._buckets[name] = TokenBucket(rate, burst)
            return bucket

    def _slot(self, name: str, size: int) -> Slots:
        with self._lock:
            slots = self._slots.get(name)
            if slots is None:
                slots = self._slots[name] = Slots(size)
            return slots


def too_large(
    limit: Literal["max_rows", "max_bytes"], identity: Identity, governing: Governing
) -> LimitExceeded:
    """The refusal of a result that grew past the identity's max_rows or max_bytes."""
    unit = "rows" if limit == "max_rows" else "bytes"
    narrower = "" if limit == "max_rows" else ", or select fewer columns,"
    return LimitExceeded(
        limit,
        f"the result has more than {getattr(governing.limits, limit)} {unit}, the {limit} "
        f'limit of identity "{identity.name}"',
        hint=f"add LIMIT or aggregate (GROUP BY, count){narrower} so the answer fits; an "
        f"operator sets {governing.where}.{limit}",
    )


def timed_out(seconds: float, setting: str) -> SidecarError:
    return SidecarError(
        ErrorCode.TIMEOUT,
        f"query did not answer within {seconds:g}s",
        hint=f"narrow the query (filters, LIMIT) or raise {setting}",
    )


def _nothing() -> None:
    return None
