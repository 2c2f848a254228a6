"""A refresh retries with the web sources' policy: an API's asked wait is honoured between
whole loads, within the refresh's bounds, against a real local API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from sidecar.config import parse_config
from sidecar.engine import Engine
from sidecar.errors import SidecarError
from tests.http_api_server import ApiServer, Reply, in_order

LIMITED = {"message": "slow down"}


@pytest.fixture
def api() -> Iterator[ApiServer]:
    with ApiServer() as server:
        server.route("/items", Reply([{"id": 1}]))
        yield server


def accelerated(api: ApiServer, root: Path, **acceleration: Any) -> Engine:
    """An accelerated copy of the API whose connector itself does not retry, so every retry
    seen is the refresh's."""
    dataset = {
        "from": api.url("/items"),
        "name": "items",
        "params": {"retries": 0},
        "columns": [{"name": "id", "type": "bigint"}],
        "acceleration": {"refresh_retry_backoff": "1ms", **acceleration},
    }
    engine = Engine(parse_config({"datasets": [dataset]}, root))
    engine.load()
    return engine


def ids(engine: Engine) -> list[int]:
    result = engine.query("SELECT id FROM items ORDER BY id")
    return pa.Table.from_batches(list(result), schema=result.schema).column("id").to_pylist()


def test_a_refresh_waits_as_long_as_the_api_asks(api: ApiServer, tmp_path: Path) -> None:
    engine = accelerated(api, tmp_path, refresh_retry_max_attempts=2)
    limited = Reply(LIMITED, status=429, headers={"Retry-After": "0.4"})
    api.route("/items", in_order(limited, Reply([{"id": 1}, {"id": 2}])))
    api.requests.clear()

    started = time.monotonic()
    engine.refresh("items")

    assert time.monotonic() - started >= 0.4, "the 1ms backoff alone would not wait"
    assert len(api.requests) == 2 and ids(engine) == [1, 2]
    assert engine.catalog.datasets["items"].copy.status.last_error is None


def test_a_wait_past_the_refresh_bound_fails_at_once(api: ApiServer, tmp_path: Path) -> None:
    engine = accelerated(api, tmp_path, refresh_retry_max_attempts=3)
    api.route("/items", Reply(LIMITED, status=429, headers={"Retry-After": "3600"}))
    api.requests.clear()

    started = time.monotonic()
    with pytest.raises(SidecarError, match="HTTP 429"):
        engine.refresh("items")

    assert time.monotonic() - started < 5 and len(api.requests) == 1
    assert ids(engine) == [1], "the copy keeps its rows"


def test_the_retry_of_a_failed_refresh_waits_as_long_as_the_api_asked(
    api: ApiServer, tmp_path: Path
) -> None:
    """A copy with no refresh interval is retried in the background once a refresh failed; it
    went back after its 1 ms backoff to an API that had asked for an hour."""
    engine = accelerated(api, tmp_path)
    api.route("/items", Reply(LIMITED, status=429, headers={"Retry-After": "3600"}))
    api.requests.clear()
    with pytest.raises(SidecarError, match="HTTP 429"):
        engine.refresh("items")

    status = engine.catalog.datasets["items"].copy.status
    deadline = time.monotonic() + 5
    while status.next_refresh_at is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert status.next_refresh_at is not None and status.next_refresh_at > time.time() + 3500
    time.sleep(0.3)
    assert len(api.requests) == 1


def test_a_failing_api_is_retried_with_backoff_between_loads(
    api: ApiServer, tmp_path: Path
) -> None:
    engine = accelerated(api, tmp_path, refresh_retry_max_attempts=2)
    api.route("/items", in_order(Reply("", status=502), Reply("", status=502), Reply([{"id": 3}])))
    api.requests.clear()

    engine.refresh("items")

    assert len(api.requests) == 3 and ids(engine) == [3]
