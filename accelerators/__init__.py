"""Local acceleration: materialised copies of datasets in DuckDB, kept fresh by refresh policies."""
