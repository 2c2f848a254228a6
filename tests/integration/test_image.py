"""The Dockerfile without Docker (no daemon in CI): its build context makes a complete wheel,
and its final stage is what the injector assumes (the config path, the user, no compiler)."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from sidecar.inject.containers import CONFIG_PATH
from sidecar.inject.settings import Settings

ROOT = Path(__file__).parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
STAGES = re.split(r"^FROM ", DOCKERFILE, flags=re.MULTILINE)[1:]


def instructions(stage: str, name: str) -> list[str]:
    joined = stage.replace("\\\n", " ")
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.startswith(name + " ")]


def test_the_build_context_makes_a_complete_package(tmp_path: Path) -> None:
    build, _final = STAGES
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    context = tmp_path / "context"
    for copy in instructions(build, "COPY"):
        *sources, _destination = copy.split()
        for source in sources:
            assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), source
            origin = ROOT / source
            if origin.is_dir():
                shutil.copytree(
                    origin, context / source, ignore=shutil.ignore_patterns("__pycache__")
                )
            else:
                context.mkdir(exist_ok=True)
                shutil.copy(origin, context / source)
    wheel_command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"]
    subprocess.run(
        [
            *wheel_command,
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path / "dist"),
            str(context),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("agent_sidecar-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "sidecar/inject/probe.py",
        "sidecar/inject/egress.py",
        "sidecar/demo/sidecar.yaml",
        "sidecar/demo/data/orders.parquet",
        "sidecar/servers/pgwire/pg_catalog.sql",
        "sidecar/servers/flight/FlightSql_pb2.py",
        "connectors/file.py",
        "accelerators/manager.py",
        "policies/guard.py",
    ):
        assert needed in names, needed
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    assert "sidecar = sidecar.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_the_final_stage_is_what_the_injector_expects() -> None:
    _build, final = STAGES
    assert re.search(r"\bSIDECAR_CONFIG=(\S+)", final).group(1) == CONFIG_PATH  # type: ignore[union-attr]
    uid = Settings().uid
    assert instructions(final, "USER") == [f"{uid}:{uid}"]
    assert instructions(final, "ENTRYPOINT") == ['["sidecar"]']
    # The compiler and headers llama.cpp needs stay in the build stage.
    for tool in ("build-essential", "cmake", "gcc", "python3-dev"):
        assert tool not in final
    assert "iptables" in final
    assert "ARG WITH_MODELS=false" in STAGES[0]
