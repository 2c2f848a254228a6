"""Opaque handles for server-side state: DoGet tickets and prepared statements.

A handle is 32 random bytes, so it cannot be guessed or derived from another; it is bound to
the identity it was issued to, so a handle that leaks to another agent redeems nothing; and it
expires, so abandoned state (a planned query nobody fetched) does not pile up. An unknown,
expired and someone else's handle all get the same answer, which reveals nothing. One owner
holds at most a tenth of the capacity: beyond it, its own oldest handle goes, so one agent
issuing handles in a loop cannot push every other agent's tickets and sessions out.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sidecar.errors import ErrorCode, SidecarError

T = TypeVar("T")
HANDLE_BYTES = 32


class UnknownHandle(SidecarError):
    """A handle that redeems nothing (NOT_FOUND): never issued, used up, expired, or not yours."""


@dataclass
class _Entry(Generic[T]):
    owner: str
    item: T
    expires: float


class Handles(Generic[T]):
    """Items behind random handles; `kind` names them in errors and `renew` says how to get
    a fresh one."""

    def __init__(
        self,
        kind: str,
        renew: str,
        ttl: float,
        *,
        capacity: int = 10_000,
        per_owner: int | None = None,
        on_expire: Callable[[T], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kind = kind
        self.renew = renew
        self.ttl = ttl
        self.capacity = capacity
        self._on_expire = on_expire
        self._clock = clock
        self.per_owner = per_owner or max(capacity // 10, 1)
        self._entries: OrderedDict[bytes, _Entry[T]] = OrderedDict()
        self._held: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def issue(self, owner: str, item: T) -> bytes:
        handle = secrets.token_bytes(HANDLE_BYTES)
        with self._lock:
            self._purge()
            if self._held[owner] >= self.per_owner:
                self._drop(next(h for h, e in self._entries.items() if e.owner == owner))
            while len(self._entries) >= self.capacity:
                self._drop(next(iter(self._entries)))
            self._entries[handle] = _Entry(owner, item, self._clock() + self.ttl)
            self._held[owner] += 1
        return handle

    def get(self, handle: bytes, owner: str) -> T:
        """The item, kept for another use and for another `ttl` from now."""
        with self._lock:
            entry = self._find(handle, owner)
            entry.expires = self._clock() + self.ttl
            self._entries.move_to_end(handle)
            return entry.item

    def take(self, handle: bytes, owner: str) -> T:
        """The item, which the handle no longer redeems."""
        with self._lock:
            entry = self._find(handle, owner)
            del self._entries[handle]
            self._release(owner)
            return entry.item

    def _find(self, handle: bytes, owner: str) -> _Entry[T]:
        self._purge()
        entry = self._entries.get(handle)
        if entry is None or entry.owner != owner:
            raise UnknownHandle(
                ErrorCode.INVALID_REQUEST,
                f"this {self.kind} is unknown, already used or expired "
                f"({self.kind}s last {self.ttl:g}s)",
                hint=self.renew,
            )
        return entry

    def _purge(self) -> None:
        now = self._clock()
        while self._entries:
            handle, entry = next(iter(self._entries.items()))
            if entry.expires > now:
                return
            self._drop(handle)

    def _release(self, owner: str) -> None:
        self._held[owner] -= 1
        if self._held[owner] <= 0:
            del self._held[owner]

    def _drop(self, handle: bytes) -> None:
        entry = self._entries.pop(handle)
        self._release(entry.owner)
        if self._on_expire is not None:
            self._on_expire(entry.item)
