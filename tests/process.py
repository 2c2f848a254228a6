"""Starts a real `sidecar run` in a subprocess on free ports, for end-to-end tests."""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx


def settle(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Wait until `check()` holds: what /v1/ready does not cover (models)
    finishes loading in the background."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} still loading after {timeout}s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SidecarProcess:
    def __init__(self, config: Path, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.env = {**os.environ, **(env or {})}
        self.log = config.parent / "sidecar.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.flight_url = ""
        self.pg_port = 0

    def start(
        self,
        port: int,
        probe: str = "/v1/ready",
        timeout: float = 60.0,
        *,
        https_ca: Path | None = None,
    ) -> str:
        """Run it and wait for `probe` to answer 200; `https_ca` (the certificate it trusts)
        means the HTTP API serves HTTPS."""
        scheme = "https" if https_ca else "http"
        url = self.url = f"{scheme}://127.0.0.1:{port}"
        verify = ssl.create_default_context(cafile=https_ca) if https_ca else True
        flight_port = free_port()
        self.flight_url = f"grpc://127.0.0.1:{flight_port}"
        command = [sys.executable, "-m", "sidecar", "run", "-c", str(self.config)]
        command += ["--flight-port", str(flight_port)]
        self.pg_port = free_port()
        command += ["--pg-port", str(self.pg_port)]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.config.parent
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sidecar exited early:\n{self.log.read_text()}")
            try:
                answer = httpx.get(f"{url}{probe}", timeout=1, verify=verify)
                if answer.status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"sidecar not ready after {timeout}s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    @property
    def output(self) -> str:
        return self.log.read_text()
