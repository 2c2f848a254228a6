"""The three arms: the replica straight, a sidecar without acceleration, the sidecar as configured.

`direct` sends the workload to the replica with its own driver: what happens without a
sidecar. The sidecar arms run a real `sidecar run` subprocess on free ports, from a copy of
sidecar.yaml written next to the original (so relative paths and `${file:}` secrets resolve as
they do for it) and removed afterwards. `federated` removes every dataset's `acceleration:`
block and turns the results cache off, so it measures federation and pushdown alone;
`accelerated` keeps the config as it is. Both are served on 127.0.0.1 without TLS. With `--url`
one sidecar arm is a sidecar that is already running instead.

The sidecar's CPU seconds and resident memory are read from its process and its children
(psutil), so the figures include everything it spawned.
"""

from __future__ import annotations

import contextlib
import copy
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psutil
import yaml

from sidecar.bench import clients
from sidecar.bench.clients import ClientFactory
from sidecar.bench.replica import Address
from sidecar.bench.workload import SIDECAR_DIALECT

ARMS = ("direct", "federated", "accelerated")
INTERFACES = ("pg", "flight", "http")
LOCAL = "127.0.0.1"
STOP_TIMEOUT = 15.0


class ArmError(Exception):
    """An arm could not be set up: the sidecar did not start, or --url does not fit."""


@dataclass
class Target:
    """One arm, ready for agents: how to connect, in which dialect, and whose process to watch."""

    name: str
    dialect: str
    factory: ClientFactory
    process: ProcessWatch | None = None
    info: dict[str, Any] = field(default_factory=dict)


class ProcessWatch:
    """CPU seconds and resident memory of a process and all its children."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)

    def _tree(self) -> list[psutil.Process]:
        try:
            return [self.process, *self.process.children(recursive=True)]
        except psutil.Error:
            return [self.process]

    def cpu_seconds(self) -> float:
        total = 0.0
        for process in self._tree():
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def rss(self) -> int:
        total = 0
        for process in self._tree():
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        return total


@dataclass
class Access:
    """How agents identify themselves to the sidecar."""

    api_key: str | None
    identity: str
    database: str


def direct(address: Address) -> Target:
    driver = "mysql-connector-python" if address.kind == "mysql" else "psycopg"
    return Target(
        "direct",
        address.dialect,
        clients.direct(address),
        info={"replica": address.display(), "driver": driver},
    )


def factory_for(interface: str, host: str, port: int, access: Access) -> ClientFactory:
    if interface == "pg":
        conninfo = f"host={host} port={port} user={access.identity} dbname={access.database}"
        if access.api_key:
            conninfo += f" password={access.api_key}"
        return clients.postgres_wire(conninfo)
    if interface == "flight":
        return clients.flight(f"grpc://{host}:{port}", access.api_key)
    return clients.http(f"http://{host}:{port}", access.api_key)


def derived_config(
    raw: dict[str, Any], arm: str, interface: str, ports: dict[str, int]
) -> tuple[dict[str, Any], list[str]]:
    """The config a sidecar arm serves, and what was changed from the original, in words.
    Every endpoint moves to a free port on 127.0.0.1, so a running sidecar is never in the way."""
    data = copy.deepcopy(raw)
    runtime = data.get("runtime") or {}
    data["runtime"] = runtime
    changes: list[str] = []
    if arm == "federated":
        datasets = [d for d in data.get("datasets") or [] if isinstance(d, dict)]
        removed = [d.get("name") for d in datasets if d.pop("acceleration", None) is not None]
        changes.append(f"acceleration removed from {len(removed)} dataset(s)")
        runtime["results_cache"] = {**(runtime.get("results_cache") or {}), "enabled": False}
        changes.append("results cache off")
    if runtime.pop("tls", None) is not None:
        changes.append("TLS off")
    for endpoint, port in ports.items():
        runtime[endpoint] = {**(runtime.get(endpoint) or {}), "host": LOCAL, "port": port}
        if endpoint in ("http", interface):
            runtime[endpoint]["enabled"] = True
    return data, changes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCAL, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def sidecar(
    config_path: Path,
    raw: dict[str, Any],
    arm: str,
    interface: str,
    access: Access,
    log_dir: Path,
    startup_timeout: float,
    on_status: Callable[[str], None],
) -> Iterator[Target]:
    """A `sidecar run` subprocess serving the arm's config, stopped on exit."""
    ports = {"http": free_port(), "flight": free_port(), "pg": free_port()}
    data, changes = derived_config(raw, arm, interface, ports)
    path = config_path.parent / f".sidecar-bench-{arm}-{os.getpid()}.yaml"
    log = log_dir / f"sidecar-{arm}.log"
    command = [sys.executable, "-m", "sidecar", "run", "-c", str(path)]
    try:
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    except OSError as error:
        raise ArmError(f"cannot write the {arm} arm's config {path}: {error.strerror}") from None
    process: subprocess.Popen[bytes] | None = None
    try:
        with log.open("wb") as output:
            process = subprocess.Popen(
                command, stdout=output, stderr=subprocess.STDOUT, cwd=config_path.parent
            )
        started = time.monotonic()
        _wait_ready(process, ports["http"], arm, log, startup_timeout, access, on_status)
        yield Target(
            arm,
            SIDECAR_DIALECT,
            factory_for(interface, LOCAL, ports[interface], access),
            ProcessWatch(process.pid),
            info={
                "sidecar": "started by the benchmark",
                "config_changes": changes,
                "startup_seconds": round(time.monotonic() - started, 3),
                "log": str(log),
                "pid": process.pid,
            },
        )
    finally:
        if process is not None:
            _stop(process)
        path.unlink(missing_ok=True)


def _wait_ready(
    process: subprocess.Popen[bytes],
    port: int,
    arm: str,
    log: Path,
    timeout: float,
    access: Access,
    on_status: Callable[[str], None],
) -> None:
    """Until /v1/ready says every dataset is loadable and /v1/status shows every accelerated
    copy loaded once: a run must not time the first refresh."""
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {access.api_key}"} if access.api_key else {}
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ArmError(
                f"the {arm} sidecar exited during start-up (code {process.returncode}): "
                f"{_last_line(log)} (log: {log})"
            )
        try:
            answer = httpx.get(f"http://{LOCAL}:{port}/v1/ready", timeout=2)
            _no_failed_dataset(answer, arm, log)
            if answer.status_code == 200 and _copies_loaded(
                httpx.get(f"http://{LOCAL}:{port}/v1/status", headers=headers, timeout=5), arm
            ):
                return
        except httpx.HTTPError:
            pass
        on_status(f"starting the {arm} sidecar ({time.monotonic() - started:.0f}s)")
        time.sleep(0.25)
    raise ArmError(
        f"the {arm} sidecar was not ready after {timeout:g}s (log: {log}); "
        "raise --startup-timeout if its accelerations take longer to load"
    )


def _no_failed_dataset(response: httpx.Response, arm: str, log: Path) -> None:
    """A dataset that failed to load fails the arm now, not after --startup-timeout."""
    if response.status_code != 503:
        return
    for dataset in response.json().get("datasets", []):
        if dataset.get("state") == "error":
            error = str(dataset.get("last_error") or "").strip().splitlines()
            raise ArmError(
                f"the {arm} sidecar could not load {dataset.get('name')}: "
                f"{error[0] if error else 'no reason given'} (log: {log})"
            )


def _copies_loaded(response: httpx.Response, arm: str) -> bool:
    if response.status_code != 200:
        raise ArmError(
            f"the {arm} sidecar answered /v1/status with {response.status_code}; check --api-key"
        )
    for dataset in response.json().get("datasets", []):
        acceleration = dataset.get("acceleration")
        if not acceleration or acceleration.get("last_refresh_at"):
            continue
        if acceleration.get("last_error") and not acceleration.get("refreshing"):
            raise ArmError(
                f"the {arm} sidecar could not load its copy of {dataset.get('name')}: "
                f"{acceleration['last_error']}"
            )
        return False
    return True


def _last_line(log: Path) -> str:
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def running(url: str, arm: str, interface: str, access: Access) -> Target:
    """A sidecar someone else started (--url, checked against the interface by the command):
    grpc://host:port, http://host:port, or postgresql://user:key@host:port/db or host:port."""
    host, port = _host_port(url)
    if interface == "pg" and "://" in url:
        factory = clients.postgres_wire(url)
    else:
        factory = factory_for(interface, host or LOCAL, port or 0, access)
    pid = _listening_pid(host, port)
    return Target(
        arm,
        SIDECAR_DIALECT,
        factory,
        ProcessWatch(pid) if pid else None,
        info={"sidecar": "already running", "url": _without_password(url), "pid": pid},
    )


def _host_port(url: str) -> tuple[str | None, int | None]:
    parts = urlsplit(url if "://" in url else f"//{url}")
    try:
        return parts.hostname, parts.port
    except ValueError:
        return parts.hostname, None


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)


def _listening_pid(host: str | None, port: int | None) -> int | None:
    """The local process listening on the port, so a running sidecar's CPU can be read too."""
    if port is None or host not in ("127.0.0.1", "localhost", "::1", "0.0.0.0"):
        return None
    try:
        for connection in psutil.net_connections(kind="tcp"):
            if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port:
                return connection.pid
    except psutil.Error:
        return None
    return None
