"""Hands a connector's stream to DataFusion without collecting it.

DataFusion's Python bindings accept a `pyarrow.dataset.Dataset` and pull its batches lazily at
execution time, passing the columns and the (exact) pyarrow filter they need. Subclassing it
is the one route in datafusion 55 to a streaming, Python-defined table: `from_arrow` and
record-batch tables would materialise the whole source first.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from connectors.base import Cancellation, Connector, ScanRequest, SourceError
from sidecar.errors import ErrorCode, SidecarError
from sidecar.secrets import REDACTOR

log = logging.getLogger("sidecar.engine")
ASK_LATER = "retry later; if it persists, ask the operator (the sidecar's log has the cause)"

if TYPE_CHECKING:
    from sidecar.engine.restriction import Restriction


class Cancelled(Exception):
    """Raised inside a scan when its query was cancelled, to stop pulling from the source."""


class ScanStats:
    """Rows and batches a scan delivered: shown by EXPLAIN ANALYZE-like status and metrics."""

    def __init__(self) -> None:
        self.rows = 0
        self.batches = 0
        self.opened = False


class StreamDataset(ds.Dataset):
    """A stream DataFusion reads as one table of one query: opened only when executed,
    counted as it flows, stopped when the query is cancelled."""

    def __init__(self, name: str, schema: pa.Schema, cancelled: Cancellation) -> None:
        self.name = name
        self._schema = schema
        self.cancelled = cancelled
        self.stats = ScanStats()
        self.error: SidecarError | None = None

    @property
    def schema(self) -> pa.Schema:
        return self._schema

    def scanner(
        self, columns: list[str] | None = None, filter: pc.Expression | None = None, **_: object
    ) -> ds.Scanner:
        """Called while DataFusion plans: an empty scanner, so planning never touches the source."""
        empty = pa.RecordBatchReader.from_batches(self._schema, iter(()))
        return ds.Scanner.from_batches(empty, columns=columns, filter=expression(filter))

    def get_fragments(self, filter: pc.Expression | None = None) -> list[ConnectorFragment]:
        return [ConnectorFragment(self)]

    def open(self, columns: list[str] | None) -> pa.RecordBatchReader:
        self.stats.opened = True
        try:
            reader = self._start(columns)
        except SourceError as error:
            if self.cancelled.is_set():
                raise Cancelled("query cancelled") from None
            raise self._fail(error) from None
        except SidecarError as error:  # kept whole: DataFusion flattens what passes through it
            self.error = error
            raise
        return pa.RecordBatchReader.from_batches(reader.schema, self._count(reader))

    def _start(self, columns: list[str] | None) -> pa.RecordBatchReader:
        """The source's stream, holding at least `columns`."""
        raise NotImplementedError

    def _fail(self, error: SourceError) -> SidecarError:
        """Keep the agent-facing error: DataFusion flattens exceptions raised inside scans."""
        self.error = source_failed(self.name, error)
        return self.error

    def _count(self, reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
        try:
            for batch in reader:
                if self.cancelled.is_set():
                    raise Cancelled("query cancelled")
                self.stats.rows += batch.num_rows
                self.stats.batches += 1
                yield batch
        except SourceError as error:
            if self.cancelled.is_set():  # the source stopped because the query was cancelled
                raise Cancelled("query cancelled") from None
            raise self._fail(error) from None
        except SidecarError as error:
            self.error = error
            raise
        finally:
            reader.close()


class ConnectorDataset(StreamDataset):
    """One table reference of one query, bound to the scan the planner chose for it."""

    def __init__(
        self,
        name: str,
        connector: Connector,
        schema: pa.Schema,
        request: ScanRequest,
        cancelled: Cancellation,
        restriction: Restriction | None = None,
        beneath: str | None = None,
        unseen: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(name, schema, cancelled)
        self.connector = connector
        self.request = request
        self.restriction = restriction
        self.beneath = beneath
        self.unseen = unseen

    def _fail(self, error: SourceError) -> SidecarError:
        """Under an access policy the source's words are told scrubbed (`Restriction.scrub`):
        they can quote the statement it was sent (the row filter, denied columns); beneath a
        view over datasets the caller may not see they are not told at (`source_failed`).
        The log keeps them whole."""
        if self.restriction is None or self.beneath is not None:
            self.error = source_failed(self.name, error, self.beneath, self.unseen)
            return self.error
        log.warning("%s: %s", self.name, REDACTOR.redact(str(error)))
        said = self.restriction.scrub(REDACTOR.redact(str(error)))
        self.error = SidecarError(
            ErrorCode.SOURCE,
            f"{self.name}: {unnamed(said, self.unseen) or 'the source failed to answer'}",
            hint=unnamed(error.hint, self.unseen) or ASK_LATER,
            retry_after=error.retry_after,
        )
        return self.error

    def _start(self, columns: list[str] | None) -> pa.RecordBatchReader:
        """Start the source scan with the planned pushdown, widened to what DataFusion needs."""
        restriction = self.restriction
        if restriction is not None:
            return self._restricted(restriction, columns)
        projection = None
        if self.request.projection is not None:
            wanted = set(columns or ()) | set(self.request.projection)
            # A count(*) needs rows but no columns; the narrowest real column carries them.
            projection = [f.name for f in self._schema if f.name in wanted] or self._schema.names[
                :1
            ]
        return self.connector.scan(
            replace(self.request, projection=projection, cancellation=self.cancelled)
        )

    def _restricted(
        self, restriction: Restriction, columns: list[str] | None
    ) -> pa.RecordBatchReader:
        """The caller's view of the source: the row filter goes with the scan where the source
        takes it, and the stream is filtered and masked before DataFusion sees a batch."""
        asked = set(columns or ()) | set(
            self.request.projection if self.request.projection is not None else self._schema.names
        )
        wanted = [f.name for f in self._schema if f.name in asked] or self._schema.names[:1]
        request = replace(
            self.request,
            projection=restriction.source_columns(wanted, self.connector.schema()),
            filters=[*self.request.filters, *restriction.pushed],
            cancellation=self.cancelled,
        )
        return restriction.apply(self.connector.scan(request), wanted)


class ReaderDataset(StreamDataset):
    """Any stream with a known schema, opened by `start` (a grouped answer, say)."""

    def __init__(
        self,
        name: str,
        schema: pa.Schema,
        start: Callable[[], pa.RecordBatchReader],
        cancelled: Cancellation,
    ) -> None:
        super().__init__(name, schema, cancelled)
        self._reader = start

    def _start(self, columns: list[str] | None) -> pa.RecordBatchReader:
        return self._reader()


class ConnectorFragment:
    """The single fragment DataFusion scans; it opens the source only when executed."""

    def __init__(self, dataset: StreamDataset) -> None:
        self.dataset = dataset

    def scanner(
        self,
        schema: pa.Schema | None = None,
        columns: list[str] | None = None,
        filter: pc.Expression | None = None,
        batch_size: int | None = None,
        **_: object,
    ) -> ds.Scanner:
        reader = self.dataset.open(columns)
        return ds.Scanner.from_batches(reader, columns=columns, filter=expression(filter))


def source_failed(
    name: str,
    error: SourceError | SidecarError,
    beneath: str | None = None,
    unseen: frozenset[str] = frozenset(),
) -> SidecarError:
    """A source's failure as the caller reads it (a dataset's that could not be opened, too).
    Beneath a view over datasets the caller may not see (`beneath` names the view), the
    source's words would name them, their tables and the view's own SQL: the caller learns
    only that the view's source failed, and the wait it asked for, if any; the log keeps the
    cause. Elsewhere the source's words are told without the names of datasets hidden from
    the caller (`unseen`): a hint listing the source's tables lists theirs too."""
    code = error.code if isinstance(error, SidecarError) else ErrorCode.SOURCE
    if beneath is None:
        message = unnamed(REDACTOR.redact(f"{name}: {error}"), unseen)
        hint = unnamed(error.hint, unseen)
    else:
        log.warning("%s (beneath view %s): %s", name, beneath, REDACTOR.redact(str(error)))
        message, hint = f"{beneath}: a source beneath this view failed", ASK_LATER
        if error.retry_after is not None:
            hint = f"the source asks to wait {math.ceil(error.retry_after)}s before the next try"
    return SidecarError(code, message, hint=hint, retry_after=error.retry_after)


def unnamed(text: str | None, names: frozenset[str]) -> str | None:
    """`text` with each of `names` masked where it stands as a word (or a dotted part)."""
    if not text or not names:
        return text
    words = "|".join(re.escape(name) for name in sorted(names, key=len, reverse=True))
    return re.sub(rf"(?<![\w-])(?:{words})(?![\w-])", "***", text)


def expression(filter: pc.Expression | pa.Scalar | None) -> pc.Expression | None:
    """DataFusion's filter as an expression: a predicate it folded to a constant (`x = 3 AND
    x = 4` on a masked column) arrives as a bare scalar, which pyarrow's scanner refuses."""
    return pc.scalar(filter.as_py()) if isinstance(filter, pa.Scalar) else filter
