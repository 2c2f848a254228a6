"""`engine: sqlite`: a SQLite database per dataset, in memory or in a WAL file."""

from accelerators.sqlite import BATCH_ROWS
from tests.acceleration import NAN, NESTED, WHOLE_QUERIES, AccelerationEngine

ENGINE = AccelerationEngine(
    "sqlite",
    file_suffix=".sqlite",
    batch_rows=BATCH_ROWS,
    cannot={
        WHOLE_QUERIES: "SQLite's functions, casts and arithmetic are not PostgreSQL's: only "
        "scans (columns, filters, order, limit) run in SQLite",
        NESTED: "SQLite holds no lists or structs (refused at load, with the reason)",
        NAN: "SQLite stores NaN as NULL (a NaN refuses the load)",
    },
)
