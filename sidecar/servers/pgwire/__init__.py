"""The PostgreSQL wire protocol (v3): psql, drivers and BI tools connect as if to PostgreSQL."""

from sidecar.servers.pgwire.server import PgServer

__all__ = ["PgServer"]
