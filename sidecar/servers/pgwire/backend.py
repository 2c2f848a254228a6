"""What a pgwire session needs from the sidecar behind it, and nothing more.

As buenavista's Session and the pgwire crate's `do_query` seam: a session reaches the shared
query path (limits, audit, metrics), the engine's bounds and catalog, the pg_catalog shadows and
the analyses kept across sessions through this protocol. PgServer provides it; how connections
are accepted, authenticated, counted or cancelled stays the server's own business.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pyarrow as pa

    from policies.identity import Identity
    from sidecar.engine import Engine
    from sidecar.engine.plans import Kept
    from sidecar.gateway import Gateway
    from sidecar.servers.pgwire.catalog import ShadowCatalog
    from sidecar.servers.pgwire.messages import Sends
    from sidecar.servers.pgwire.statements import Analysis


class Backend(Protocol):
    gateway: Gateway
    engine: Engine
    catalog: ShadowCatalog
    analyses: Kept[Any, Analysis]
    sends: Sends

    def shadow(self, identity: Identity) -> ShadowCatalog:
        """The catalog `identity` sees (per policy entry under policies)."""
        ...

    def schemas(self, identity: Identity) -> dict[str, pa.Schema]:
        """The relations `identity` may see, for typing parameters."""
        ...
