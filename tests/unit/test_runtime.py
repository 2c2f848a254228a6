"""The runtime's one lifecycle for its servers: started in order, closed in reverse, also when
one of them cannot start, so nothing is left listening (real servers on local ports)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sidecar import runtime
from sidecar.config import SidecarConfig, parse_config
from sidecar.runtime import Sidecar, StartupError
from tests.process import free_port

INTERFACES = ("pg", "flight", "http")  # the order they start in


def config(ports: dict[str, int]) -> SidecarConfig:
    runtime = {name: {"port": port} for name, port in ports.items()}
    return parse_config({"runtime": runtime})


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def ports() -> Iterator[dict[str, int]]:
    yield {name: free_port() for name in INTERFACES}


@pytest.mark.parametrize("taken", ["flight", "http"])
def test_a_server_that_cannot_start_closes_those_started_before_it(
    ports: dict[str, int], taken: str
) -> None:
    started_before = INTERFACES[: INTERFACES.index(taken)]

    async def serve() -> str:
        sidecar = Sidecar(config(ports))
        with pytest.raises(StartupError) as raised:
            await sidecar.serve(asyncio.Event())
        still = [name for name in started_before if listening(ports[name])]
        assert not still, f"{still} still listening after {taken} failed to start"
        return str(raised.value)

    with socket.create_server(("127.0.0.1", ports[taken])):
        message = asyncio.run(serve())
    assert message == (
        f"cannot listen on 127.0.0.1:{ports[taken]} for {taken}: Address already in use; "
        f"free the port or change runtime.{taken}.port"
    )


def test_stop_closes_every_server_after_serving(ports: dict[str, int]) -> None:
    async def serve() -> None:
        stop = asyncio.Event()
        ready = asyncio.Event()
        sidecar = Sidecar(config(ports))
        serving = asyncio.create_task(sidecar.serve(stop, on_ready=lambda _: ready.set()))
        await asyncio.wait_for(ready.wait(), 60)
        assert all(listening(port) for port in ports.values())
        async with httpx.AsyncClient() as client:
            health = await client.get(f"http://127.0.0.1:{ports['http']}/health")
        assert health.status_code == 200
        stop.set()
        await asyncio.wait_for(serving, 30)
        assert not [name for name, port in ports.items() if listening(port)]

    asyncio.run(serve())


def test_a_stop_ends_the_process_even_when_a_thread_cannot_be_interrupted() -> None:
    """A thread stuck in native work holds the interpreter's exit (it joins it): the timer
    armed at the stop ends the process with the stop's exit code all the same."""
    script = (
        "import threading, time\n"
        "from sidecar.runtime import exit_within\n"
        "threading.Thread(target=time.sleep, args=(120,)).start()\n"
        "exit_within(0.5, 0)\n"
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], timeout=60, check=False)
    assert done.returncode == 0
    assert time.monotonic() - started < 60


def test_the_servers_run_on_uvloop_where_it_is_installed() -> None:
    """runtime._run: the pg lane answers in the socket's callback, which costs less on
    uvloop's loop (benchmarks/README.md, Concurrency); without uvloop, asyncio's own runs."""
    pytest.importorskip("uvloop")

    async def loop_module() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert runtime._run(loop_module()).startswith("uvloop")


def test_a_data_dir_that_cannot_be_made_is_a_startup_error(tmp_path: Path) -> None:
    """An injected pod's sidecar.yaml is a read-only ConfigMap, so `.sidecar` beside it cannot
    be made: a file-mode copy crashed the start with a traceback. Here the folder would sit
    under a file, which no user can make either."""
    (tmp_path / "blocked").write_text("")
    (tmp_path / "t.csv").write_text("x\n1\n")
    settings = {
        "runtime": {"data_dir": "blocked/copies"},
        "datasets": [{"from": "file:t.csv", "name": "t", "acceleration": {"mode": "file"}}],
    }
    with pytest.raises(StartupError) as raised:
        Sidecar(parse_config(settings, tmp_path))
    assert str(raised.value).startswith("runtime.data_dir: cannot keep the local copies' files:")
    assert "blocked/copies" in str(raised.value) and "writable folder" in str(raised.value)
