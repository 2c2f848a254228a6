"""Source connectors, one module per source, all behind `connectors.base.Connector`.

The registry maps the scheme of a dataset's `from:` to the module that serves it. Modules are
imported only when a dataset uses them, so a missing optional driver breaks only its own
datasets, never the process.
"""

from __future__ import annotations

from importlib import import_module

from connectors.base import Connector, DatasetSource, SourceError

REGISTRY: dict[str, str] = {
    "file": "connectors.file:FileConnector",
    "s3": "connectors.file:FileConnector",
    "gs": "connectors.file:FileConnector",
    "az": "connectors.file:FileConnector",
    "abfs": "connectors.file:FileConnector",
    "abfss": "connectors.file:FileConnector",
    "http": "connectors.http:HttpConnector",
    "https": "connectors.http:HttpConnector",
    "mysql": "connectors.mysql:MySqlConnector",
    "postgres": "connectors.postgres:PostgresConnector",
    "snowflake": "connectors.snowflake:SnowflakeConnector",
    "adbc": "connectors.adbc:AdbcConnector",
    "iceberg": "connectors.iceberg:IcebergConnector",
    "mongodb": "connectors.mongodb:MongoConnector",
    "elasticsearch": "connectors.elasticsearch:ElasticsearchConnector",
    "github": "connectors.github:GitHubConnector",
}


def known_schemes() -> list[str]:
    return sorted(REGISTRY)


def connector_class(scheme: str) -> type[Connector]:
    module_name, _, class_name = REGISTRY[scheme].partition(":")
    return getattr(import_module(module_name), class_name)


def open_connector(source: DatasetSource) -> Connector:
    return connector_class(source.scheme)(source)


__all__ = [
    "REGISTRY",
    "Connector",
    "DatasetSource",
    "SourceError",
    "connector_class",
    "known_schemes",
    "open_connector",
]
