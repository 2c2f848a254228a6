"""`engine: arrow`: one in-memory Arrow table, replaced whole by each full refresh."""

from accelerators.arrow import BATCH_ROWS
from tests.acceleration import APPEND, FILE, INDEXES, RETENTION, WHOLE_QUERIES, AccelerationEngine

WHOLE = "a table swapped whole on each full refresh"
ENGINE = AccelerationEngine(
    "arrow",
    batch_rows=BATCH_ROWS,
    cannot={
        APPEND: f"nothing to append to: {WHOLE}",
        FILE: "the table lives in the process's memory",
        RETENTION: f"nothing to delete from: {WHOLE}",
        INDEXES: "Arrow tables have no indexes",
        WHOLE_QUERIES: "the engine (DataFusion) runs every query over the table's batches",
    },
)
