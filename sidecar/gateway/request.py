"""What an interface hands the query path: one statement, who asks it, and from where."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from policies.identity import ANONYMOUS_IDENTITY, Identity


@dataclass(slots=True)
class QueryRequest:
    """One statement as an interface received it, not changed once made (not frozen: a frozen
    dataclass sets each field through object.__setattr__, a microsecond of every lookup).

    `interface` names the protocol in audit lines and metrics (http, pg, flight, llm, ...);
    `client` is the caller's address; `timeout` is a bound the client asked for itself (pg's
    statement_timeout), never longer than the identity's or the runtime's.
    """

    sql: str
    identity: Identity = ANONYMOUS_IDENTITY
    interface: str = "internal"
    parameters: Sequence[Any] = ()
    client: str = ""
    timeout: float | None = None
    received: float = field(default_factory=time.monotonic)
