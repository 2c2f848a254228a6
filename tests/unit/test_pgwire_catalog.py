"""The names the pg_catalog shadow defines, read from pg_catalog.sql's text (statements are
routed by them without building the shadow), are exactly those its DuckDB holds."""

from __future__ import annotations

from sidecar.servers.pgwire import catalog


def test_the_names_read_from_the_catalog_sql_are_the_shadows() -> None:
    shadow = catalog._Shadow()

    def held(source: str, column: str, schema: str) -> frozenset[str]:
        query = f"SELECT DISTINCT {column} FROM {source} WHERE schema_name = ?"
        return frozenset(row[0] for row in shadow.db.execute(query, [schema]).fetchall())

    try:
        tables = held("duckdb_tables()", "table_name", catalog.SHADOW)
        assert catalog.NAMES.relations == tables - {"sidecar_type_names"}
        information = held("duckdb_tables()", "table_name", catalog.SHADOW_INFORMATION)
        assert catalog.NAMES.information == information
        functions = held("duckdb_functions()", "function_name", catalog.SHADOW)
        assert catalog.NAMES.functions == functions
        assert {"pg_class", "pg_type"} <= catalog.NAMES.relations
        assert "format_type" in catalog.NAMES.functions
    finally:
        shadow.db.close()
