"""An injected pod, run without a cluster: the sidecar container's command with its ConfigMap
mounted and its Secret as environment, its probes as the kubelet would run them, and real
clients in the agent's place using only the environment the injection gave it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from tests.process import free_port

KEY = "k-7f3a9c-agent"
SECRET = {"AGENT_KEY": KEY}
CONFIG_MAP = "sre-agent-sidecar"
CLIENT = """
import os, json, httpx, psycopg
import adbc_driver_flightsql.dbapi as flight_sql

with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
    pg = conn.execute("SELECT count(*) FROM orders WHERE status = 'failed'").fetchone()[0]
with psycopg.connect("") as conn:  # PGHOST, PGPORT, PGUSER, PGPASSWORD alone
    user = conn.execute("SELECT current_user").fetchone()[0]
header = {"adbc.flight.sql.authorization_header": "Bearer " + os.environ["SIDECAR_API_KEY"]}
with flight_sql.connect(os.environ["FLIGHT_SQL_URI"], db_kwargs=header, autocommit=True) as conn:
    with conn.cursor() as cursor:
        cursor.execute("SELECT sum(amount) FROM orders")
        total = cursor.fetchone()[0]
models = httpx.get(
    os.environ["OPENAI_BASE_URL"] + "/models",
    headers={"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]},
)
print(json.dumps({"pg": pg, "user": user, "total": total, "models": models.status_code}))
"""


def render_pod(tmp_path: Path, settings: dict[str, Any]) -> dict[str, Any]:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "sre-agent",
            "annotations": {
                "agent-sidecar.io/inject": "true",
                "agent-sidecar.io/config": CONFIG_MAP,
                "agent-sidecar.io/secrets": "sre-agent-secrets",
                "agent-sidecar.io/api-key": "AGENT_KEY",
            },
        },
        "spec": {"containers": [{"name": "agent", "image": "example.com/agent:1"}]},
    }
    (tmp_path / "pod.yaml").write_text(yaml.safe_dump(pod))
    (tmp_path / "settings.yaml").write_text(yaml.safe_dump(settings))
    render = [sys.executable, "-m", "sidecar.inject", "render", "-f", str(tmp_path / "pod.yaml")]
    rendered = subprocess.run(
        [*render, "--settings", str(tmp_path / "settings.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return yaml.safe_load(rendered.stdout)


def in_container(command: list[str], mounts: dict[str, Path]) -> list[str]:
    """The container's command on this machine: its programs from this venv, its mount paths
    where the test laid the volumes out."""
    program, *args = command
    prefix = {"python": [sys.executable], "sidecar": [sys.executable, "-m", "sidecar"]}[program]
    for mount_path, folder in mounts.items():
        args = [arg.replace(mount_path, str(folder)) for arg in args]
    return prefix + args


def run_probe(probe: dict[str, Any], mounts: dict[str, Path]) -> bool:
    command = in_container(probe["exec"]["command"], mounts)
    return subprocess.run(command, capture_output=True, timeout=30).returncode == 0


def agent_environment(container: dict[str, Any]) -> dict[str, str]:
    """What the kubelet would set: values as written, secretKeyRefs from the Secret."""
    env = {}
    for variable in container["env"]:
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        else:
            reference = variable["valueFrom"]["secretKeyRef"]
            assert reference["name"] == "sre-agent-secrets"
            env[variable["name"]] = SECRET[reference["key"]]
    return env


def test_the_agent_connects_with_only_the_injected_environment(tmp_path: Path) -> None:
    ports = {"http": free_port(), "flight": free_port(), "pg": free_port()}
    pod = render_pod(tmp_path, {"ports": ports})
    sidecar = next(c for c in pod["spec"]["initContainers"] if c["name"] == "agent-sidecar")
    # The ConfigMap's sidecar.yaml, reading the API key from the Secret through ${env:...}.
    orders = tmp_path / "orders.csv"
    orders.write_text("id,status,amount\n1,failed,10.5\n2,paid,4.5\n3,failed,1.0\n")
    config_dir = tmp_path / "etc-sidecar"
    config_dir.mkdir()
    (config_dir / "sidecar.yaml").write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "name": "sre-agent",
                "runtime": {
                    "auth": {"api_keys": [{"key": "${env:AGENT_KEY}", "identity": "agent"}]}
                },
                "datasets": [
                    {"from": f"file:{orders}", "name": "orders"},
                    {"from": f"file:{orders}", "name": "kept", "acceleration": {"mode": "file"}},
                ],
            }
        )
    )
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    mounts, scratch = {}, {}
    for mount in sidecar["volumeMounts"]:
        if "configMap" in volumes[mount["name"]]:
            assert volumes[mount["name"]]["configMap"]["name"] == CONFIG_MAP
            assert mount["readOnly"]
            mounts[mount["mountPath"]] = config_dir
        elif "emptyDir" in volumes[mount["name"]]:
            scratch[mount["mountPath"]] = tmp_path / "scratch"
    ((secret_ref,),) = [[e["secretRef"]["name"] for e in sidecar["envFrom"]]]
    assert secret_ref == "sre-agent-secrets"
    environment = {**os.environ, **SECRET, **container_environment(sidecar, scratch)}
    log = tmp_path / "sidecar.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            in_container(sidecar["command"], mounts),
            stdout=output,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=tmp_path,
        )
    try:
        startup = sidecar["startupProbe"]
        deadline = time.monotonic() + startup["periodSeconds"] * startup["failureThreshold"]
        while not run_probe(startup, mounts):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert run_probe(sidecar["livenessProbe"], mounts)
        (agent,) = pod["spec"]["containers"]
        env = agent_environment(agent)
        bare = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "SIDECAR"))}
        result = subprocess.run(
            [sys.executable, "-c", CLIENT],
            env={**bare, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr + log.read_text()
        assert yaml.safe_load(result.stdout) == {
            "pg": 2,
            "user": "agent",
            "total": 16.0,
            "models": 200,
        }
    finally:
        process.terminate()
        process.wait(timeout=30)
    # The sidecar listened on loopback only, where the probes and the agent reach it.
    assert f"http://127.0.0.1:{ports['http']}" in log.read_text()
    # A file-mode copy is kept in the scratch volume: beside sidecar.yaml, in the read-only
    # ConfigMap, the sidecar could not start ("Read-only file system").
    assert (tmp_path / "scratch" / "sidecar" / "kept.duckdb").exists()
    assert not (config_dir / ".sidecar").exists()


def container_environment(container: dict[str, Any], volumes: dict[str, Path]) -> dict[str, str]:
    """The container's own `env`, its paths inside `volumes` (mount path: folder here)
    where the test laid them out."""
    env = {}
    for variable in container.get("env", []):
        value = variable["value"]
        for mount_path, folder in volumes.items():
            if value.startswith(mount_path + "/"):
                value = str(folder) + value[len(mount_path) :]
        env[variable["name"]] = value
    return env


def test_probes_fail_while_nothing_listens(tmp_path: Path) -> None:
    pod = render_pod(tmp_path, {"ports": {"http": free_port()}})
    sidecar = pod["spec"]["initContainers"][0]
    for probe, path in (
        (sidecar["startupProbe"], "/v1/ready"),
        (sidecar["livenessProbe"], "/health"),
    ):
        assert probe["exec"]["command"][-1].endswith(path)
        assert not run_probe(probe, {})
