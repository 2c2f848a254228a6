"""`engine: duckdb`: every capability."""

from tests.acceleration import AccelerationEngine

ENGINE = AccelerationEngine("duckdb", file_suffix=".duckdb")
