"""`sidecar bench`: the subcommand that ties workload, replica, arms, runs and reports together.

Arguments are plain strings checked here, so every bad input (an unknown interface, a workload
naming an undeclared dataset, a replica that does not answer) ends in one `ERROR:` line and
exit code 2, never a usage dump or a traceback. A benchmark whose agents saw errors prints
them in red and exits 1. Heavy modules (numpy, psutil, matplotlib) load only when it runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shlex
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

if TYPE_CHECKING:
    from sidecar.bench.arms import Access
    from sidecar.bench.replica import Address, Replica
    from sidecar.bench.runner import Progress
    from sidecar.bench.workload import Mix, ParsedQuery, Workload
    from sidecar.cli import Io
    from sidecar.config import SidecarConfig

ARMS = ("direct", "federated", "accelerated")
INTERFACES = ("pg", "flight", "http")
# --url per interface: the schemes it may have ("" for a bare host:port), and an example.
URL_FORMS = {
    "pg": (("postgres", "postgresql", ""), "postgresql://user:key@host:15432/db or host:15432"),
    "flight": (("grpc", "grpc+tcp"), "grpc://host:50051"),
    "http": (("http", ""), "http://host:8090"),
}
MAX_WARMUP = 5.0
DIRECT_SETTLE = 1.0


class BenchError(Exception):
    """Bad input or an unusable environment: one line that says what to change."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Concurrent agents loop a workload on the replica directly, through a sidecar without "
        "acceleration and through the sidecar as configured; what the agents get and what the "
        "replica felt go to --out as results.json, report.md and plots."
    )
    parser.add_argument("-c", "--config", default="sidecar.yaml", help="default: ./sidecar.yaml")
    parser.add_argument("--workload", required=True, help="the workload file (YAML)")
    parser.add_argument("--agents", default="1,8,32,64", help="agent counts (default 1,8,32,64)")
    parser.add_argument("--duration", default="30s", help="per arm and agent count (30s)")
    parser.add_argument(
        "--warmup", help=f"excluded from the figures (default: a fifth, at most {MAX_WARMUP:g}s)"
    )
    parser.add_argument("--interface", default="pg", help="pg, flight or http (default pg)")
    parser.add_argument(
        "--arms", default=",".join(ARMS), help="any of direct,federated,accelerated (all)"
    )
    parser.add_argument(
        "--direct",
        metavar="URL",
        help="the replica: mysql://user:password@host:port/db or postgresql://...; default: "
        "the config's first mysql:/postgres: dataset",
    )
    parser.add_argument("--url", help="use this running sidecar for the one sidecar arm")
    parser.add_argument("--api-key", help="the sidecar API key (default $SIDECAR_API_KEY)")
    parser.add_argument("--think", default="0", help="pause after each query, e.g. 100ms")
    parser.add_argument(
        "--settle",
        help="wait before the replica's last reading (default: 1s after direct runs; after "
        "sidecar runs 0 for MySQL, 11s for PostgreSQL, which publishes counters late)",
    )
    parser.add_argument("--seed", type=int, default=1, help="parameter draws (default 1)")
    parser.add_argument("--startup-timeout", default="10m", help="for a sidecar arm to be ready")
    parser.add_argument("--out", default="results", help="results.json, report.md, plots")


@dataclass
class Settings:
    config: Path
    workload: Path
    agents: list[int]
    duration: float
    warmup: float
    think: float
    settle: float | None
    interface: str
    arms: list[str]
    direct: str | None
    url: str | None
    api_key: str | None
    seed: int
    startup_timeout: float
    out: Path

    @classmethod
    def parse(cls, args: argparse.Namespace) -> Settings:
        import os

        interface = args.interface.strip().lower()
        if interface not in INTERFACES:
            raise BenchError(f"unknown interface '{args.interface}'; choose pg, flight or http")
        arms = [arm.strip().lower() for arm in args.arms.split(",") if arm.strip()]
        if unknown := [arm for arm in arms if arm not in ARMS]:
            raise BenchError(f"unknown arm '{unknown[0]}'; choose from {', '.join(ARMS)}")
        if not arms:
            raise BenchError("--arms is empty; choose from " + ", ".join(ARMS))
        if args.url:
            _check_url(args.url, interface)
        if args.url and {"federated", "accelerated"} <= set(arms):
            raise BenchError(
                "--url is one running sidecar, so it can be the federated or the accelerated "
                "arm, not both; pass --arms direct,accelerated (or direct,federated)"
            )
        try:
            agents = sorted({int(part) for part in args.agents.split(",") if part.strip()})
        except ValueError:
            raise BenchError(f"--agents {args.agents}: write counts like 1,8,32,64") from None
        if not agents or agents[0] < 1:
            raise BenchError(f"--agents {args.agents}: counts must be 1 or more")
        duration = _seconds("--duration", args.duration)
        if duration <= 0:
            raise BenchError("--duration must be more than 0, e.g. 30s")
        warmup = (
            _seconds("--warmup", args.warmup)
            if args.warmup is not None
            else min(MAX_WARMUP, duration / 5)
        )
        if warmup >= duration:
            raise BenchError(f"--warmup {warmup:g}s leaves nothing of --duration {duration:g}s")
        return cls(
            config=Path(args.config),
            workload=Path(args.workload),
            agents=agents,
            duration=duration,
            warmup=warmup,
            think=_seconds("--think", args.think),
            settle=None if args.settle is None else _seconds("--settle", args.settle),
            interface=interface,
            arms=[arm for arm in ARMS if arm in arms],
            direct=args.direct,
            url=args.url,
            api_key=args.api_key or os.environ.get("SIDECAR_API_KEY") or None,
            seed=args.seed,
            startup_timeout=_seconds("--startup-timeout", args.startup_timeout),
            out=Path(args.out),
        )


def _check_url(url: str, interface: str) -> None:
    from urllib.parse import urlsplit

    schemes, example = URL_FORMS[interface]
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in schemes:
        raise BenchError(f"--url {url} does not fit --interface {interface}; write {example}")
    try:
        port = urlsplit(url if scheme else f"//{url}").port
    except ValueError:
        port = None
    if port is None and not (scheme and interface == "pg"):
        raise BenchError(f"--url {url}: name the port, e.g. {example}")


def _seconds(option: str, value: str) -> float:
    from connectors.base import parse_duration

    try:
        return parse_duration(value)
    except ValueError as error:
        raise BenchError(f"{option}: {error}") from None


def run(args: argparse.Namespace, io: Io) -> int:
    # SIGTERM ends a benchmark like Ctrl-C does, so the sidecars it started are stopped too.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        settings = Settings.parse(args)
        bench = Bench(settings, io)
        return bench.execute()
    except BenchError as error:
        io.fail(f"ERROR: {error}")
        return 2
    except ImportError as error:
        io.fail(
            f"ERROR: sidecar bench needs the bench extra ({error}): "
            "pip install 'agent-sidecar[bench]'"
        )
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)


class Bench:
    def __init__(self, settings: Settings, io: Io) -> None:
        self.settings = settings
        self.io = io

    def execute(self) -> int:
        from sidecar.bench import plots, report
        from sidecar.bench.replica import Replica, ReplicaError

        settings = self.settings
        started_at = _now()
        machine = report.machine()
        config = self._config()
        workload, queries = self._workload(config)
        try:
            replica = Replica(self._address(config))
        except ReplicaError as error:
            raise BenchError(str(error)) from None
        try:
            try:
                replica.open()
                mixes = self._mixes(config, queries, replica)
            except ReplicaError as error:
                raise BenchError(str(error)) from None
            access = self._access(config)
            try:
                settings.out.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise BenchError(f"--out {settings.out}: {error.strerror}") from None
            runs, arm_info = self._run_arms(replica, mixes, access)
        finally:
            replica.close()
        results = self._results(
            started_at, machine, config, workload, queries, replica, arm_info, runs
        )
        results["goals"] = report.goals(runs)
        report.write_json(results, settings.out)
        pictures = plots.draw(runs, results["workload"]["name"], settings.out)
        report.write_markdown(results, pictures, settings.out)
        self._summary(results)
        failed_arms = any("error" in info for info in arm_info.values())
        return 1 if results["errors_total"] or failed_arms else 0

    def _run_arms(
        self, replica: Replica, mixes: dict[str, Mix], access: Access
    ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        """Each arm in turn, and within it each agent count, on the same workload."""
        from sidecar.bench import runner
        from sidecar.bench.arms import ArmError

        settings = self.settings
        runs: list[dict[str, Any]] = []
        arm_info: dict[str, dict[str, Any]] = {}
        with Display(self.io) as display:
            for arm in settings.arms:
                try:
                    with self._target(arm, replica.address, access, display) as target:
                        arm_info[arm] = target.info
                        if arm != "direct" and (settle := self._settle(arm, replica)):
                            # The copies' loading must not reach the first run's counters late.
                            display.status(f"{arm}: letting the replica's counters settle")
                            time.sleep(settle)
                        for agents in settings.agents:
                            spec = runner.RunSpec(
                                arm=arm,
                                interface=settings.interface,
                                agents=agents,
                                duration=settings.duration,
                                warmup=settings.warmup,
                                think=settings.think,
                                settle=self._settle(arm, replica),
                                seed=settings.seed,
                            )
                            mix = mixes["direct" if arm == "direct" else "sidecar"]
                            result = runner.run(
                                spec, target.factory, mix, replica, target.process, display.update
                            )
                            runs.append(result)
                            display.finished(result)
                except ArmError as error:
                    # The other arms' figures still stand; this one's failure is reported.
                    arm_info[arm] = {"error": str(error)}
                    display.failed(str(error))
        return runs, arm_info

    # --- inputs -----------------------------------------------------------------------------

    def _config(self) -> SidecarConfig:
        from sidecar.config import ConfigError, load_config

        try:
            return load_config(self.settings.config)
        except ConfigError as error:
            first = str(error).splitlines()[0] if str(error) else "invalid"
            raise BenchError(f"{self.settings.config}: invalid configuration: {first}") from None

    def _workload(self, config: SidecarConfig) -> tuple[Workload, list[ParsedQuery]]:
        from sidecar.bench.workload import WorkloadError, check_names, load_workload

        try:
            workload, queries = load_workload(self.settings.workload)
            check_names(queries, [d.name for d in config.datasets], [v.name for v in config.views])
        except WorkloadError as error:
            raise BenchError(str(error)) from None
        return workload, queries

    def _address(self, config: SidecarConfig) -> Address:
        from sidecar.bench.replica import from_config, parse_url

        address = parse_url(self.settings.direct) if self.settings.direct else from_config(config)
        if address is None:
            raise BenchError(
                f"no replica: {self.settings.config} has no mysql: or postgres: "
                "dataset; pass --direct mysql://... or postgresql://..."
            )
        return address

    def _mixes(
        self, config: SidecarConfig, queries: list[ParsedQuery], replica: Replica
    ) -> dict[str, Mix]:
        """The statements each arm sends: the sidecar's dialect, and the replica's own."""
        import sqlglot

        from sidecar.bench.replica import replica_tables
        from sidecar.bench.workload import (
            SIDECAR_DIALECT,
            Mix,
            compile_statement,
            for_replica,
            tables_read,
        )

        tables = replica_tables(config, replica.kind)
        rng = random.Random(self.settings.seed)
        samples: dict[str, list[Any]] = {}
        for parsed in queries:
            for sample in parsed.samples:
                if sample.sample in samples:
                    continue
                table = tables.get(sample.table.lower())
                if table is None:
                    raise BenchError(
                        f"sample: {sample.sample}: {sample.table} is not on the "
                        f"replica {replica.address.display()}"
                    )
                samples[sample.sample] = replica.sample(table, sample.column, sample.size, rng)
        mixes = {"sidecar": Mix([compile_statement(p, SIDECAR_DIALECT, samples) for p in queries])}
        if "direct" in self.settings.arms:
            views = {
                v.name.lower(): sqlglot.parse_one(v.sql, read=SIDECAR_DIALECT) for v in config.views
            }
            statements = []
            for index, parsed in enumerate(queries):
                tree = for_replica(parsed.tree, tables, views)
                if missing := sorted(tables_read(tree, unqualified=True)):
                    raise BenchError(
                        f"queries[{index}] ({parsed.query.name}) reads '{missing[0]}', which is "
                        f"not on the replica {replica.address.display()}, so the direct arm "
                        "cannot run it; leave direct out of --arms"
                    )
                statements.append(compile_statement(parsed, replica.kind, samples, tree))
            mixes["direct"] = Mix(statements)
        return mixes

    def _access(self, config: SidecarConfig) -> Access:
        from sidecar.bench.arms import Access
        from sidecar.secrets import resolve_string

        key = self.settings.api_key
        keys = config.runtime.auth.api_keys
        sidecar_arms = [arm for arm in self.settings.arms if arm != "direct"]
        if keys and not key and sidecar_arms:
            raise BenchError(
                "the sidecar requires an API key: pass --api-key or set SIDECAR_API_KEY"
            )
        identity = "bench"
        for entry in keys:
            try:
                if resolve_string(entry.key.get_secret_value(), config.base_dir) == key:
                    identity = entry.identity
            except ValueError:
                continue
        return Access(key, identity, config.name)

    def _settle(self, arm: str, replica: Replica) -> float:
        if self.settings.settle is not None:
            return self.settings.settle
        # Direct agents' goodbyes (MySQL counts them, PostgreSQL reports a session's counters
        # as it ends) reach the replica a moment after the client hangs up.
        return DIRECT_SETTLE if arm == "direct" else replica.settle

    def _target(self, arm: str, address: Address, access: Access, display: Display) -> Any:
        import contextlib

        import yaml

        from sidecar.bench import arms

        if arm == "direct":
            return contextlib.nullcontext(arms.direct(address))
        if self.settings.url:
            return contextlib.nullcontext(
                arms.running(self.settings.url, arm, self.settings.interface, access)
            )
        raw = yaml.safe_load(self.settings.config.read_text()) or {}
        return arms.sidecar(
            self.settings.config.resolve(),
            raw,
            arm,
            self.settings.interface,
            access,
            self.settings.out,
            self.settings.startup_timeout,
            display.status,
        )

    # --- outputs ----------------------------------------------------------------------------

    def _results(
        self,
        started_at: str,
        machine: dict[str, Any],
        config: SidecarConfig,
        workload: Workload,
        queries: list[ParsedQuery],
        replica: Replica,
        arm_info: dict[str, dict[str, Any]],
        runs: list[dict[str, Any]],
    ) -> dict[str, Any]:
        import os

        from sidecar.bench.report import sha256

        settings = self.settings
        machine["load_average_end"] = list(os.getloadavg())
        return {
            "schema": 1,
            "started_at": started_at,
            "finished_at": _now(),
            "command": "sidecar bench " + shlex.join(_redacted(sys.argv[2:])),
            "machine": machine,
            "settings": {
                "interface": settings.interface,
                "arms": settings.arms,
                "agents": settings.agents,
                "duration_s": settings.duration,
                "warmup_s": settings.warmup,
                "think_s": settings.think,
                "seed": settings.seed,
                "settle_s": settings.settle,
            },
            "config": {
                "path": str(settings.config),
                "sha256": sha256(settings.config),
                "name": config.name,
                "datasets": len(config.datasets),
                "accelerated": [d.name for d in config.datasets if d.accelerated],
                "results_cache": config.runtime.results_cache.enabled,
            },
            "workload": {
                "path": str(settings.workload),
                "sha256": sha256(settings.workload),
                "name": workload.name,
                "description": workload.description,
                "queries": [
                    {
                        "name": p.query.name,
                        "weight": p.query.weight,
                        "sql": p.query.sql,
                        "params": {k: v.model_dump() for k, v in p.query.params.items()},
                    }
                    for p in queries
                ],
            },
            "replica": {
                "kind": replica.kind,
                "url": replica.address.display(),
                "version": replica.version,
                "statement_counter": replica.statement_counter,
                "rows_counter": replica.rows_counter,
                "pg_stat_statements": replica.pg_stat_statements
                if replica.kind == "postgres"
                else None,
                "own_reading_cost": replica.own,
            },
            "arms": arm_info,
            "runs": runs,
            "errors_total": sum(run["error_count"] for run in runs),
        }

    def _summary(self, results: dict[str, Any]) -> None:
        from sidecar.bench import report

        io = self.io
        for line in report.settings_lines(results):
            io.say(line)
        # Piped output has no width to fit: keep each run on one line, not in 80 columns.
        console = io.out if io.out.is_terminal else Console(file=io.out.file, width=200)
        console.print(report.final_table(results["runs"]))
        for goal in results["goals"]:
            met = {True: ("met", "green"), False: ("not met", "red"), None: ("-", "dim")}
            word, style = met[goal["met"]]
            value = "-" if goal["value"] is None else f"{goal['value']:,.2f}"
            io.say(
                Text(f"goal at {goal['agents']} agents: {goal['goal']}: {value} ")
                + Text(word, style=style)
            )
        io.say(Text(f"Wrote {self.settings.out}/results.json, report.md and plots", style="dim"))
        if results["errors_total"]:
            kinds: dict[str, int] = {}
            for run in results["runs"]:
                for kind, count in run["errors"].items():
                    kinds[kind] = kinds.get(kind, 0) + count
            detail = ", ".join(f"{kind}: {count:,}" for kind, count in kinds.items())
            io.err.print(
                Text(
                    f"{results['errors_total']:,} queries failed ({detail}); "
                    "error_samples in results.json say why",
                    style="bold red",
                ),
                soft_wrap=True,
            )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _redacted(argv: list[str]) -> list[str]:
    """The command as run, with passwords and keys masked."""
    from sidecar.secrets import REDACTOR

    masked, hide_next = [], False
    for item in argv:
        if hide_next:
            masked.append("***")
            hide_next = False
            continue
        hide_next = item == "--api-key"
        value = item.partition("=")[2] if item.startswith("--api-key=") else None
        masked.append("--api-key=***" if value else REDACTOR.redact(item))
    return masked


class Display:
    """The live progress line while runs go, and a permanent line as each one ends."""

    def __init__(self, io: Io) -> None:
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

        self.io = io
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            TextColumn("{task.fields[figures]}"),
            console=io.out,
            transient=True,
        )
        self.task = self.progress.add_task("starting", total=1.0, figures="")

    def __enter__(self) -> Display:
        self.progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.progress.stop()

    def status(self, text: str) -> None:
        self.progress.update(self.task, description=text, completed=0, figures="")

    def update(self, progress: Progress) -> None:
        spec = progress.spec
        p99 = "-" if progress.p99_ms is None else f"{progress.p99_ms:.1f} ms"
        figures = (
            f"{progress.queries:,} q · {progress.qps:,.0f} q/s · p99 {p99} · "
            f"{progress.errors} errors"
        )
        self.progress.update(
            self.task,
            description=f"{spec.arm} · {spec.agents} agents · {progress.phase}",
            completed=min(1.0, progress.elapsed / spec.duration),
            figures=figures if progress.phase in ("warm-up", "measuring") else "",
        )

    def failed(self, message: str) -> None:
        self.progress.console.print(Text(f"ERROR: {message}", style="bold red"), soft_wrap=True)

    def finished(self, run: dict[str, Any]) -> None:
        latency = run["latency_ms"]
        statements = run["replica"].get("statements_per_1000")
        line = Text(
            f"{run['arm']:<11} {run['agents']:>3} agents: {run['qps']:>9,.1f} q/s, p50 "
            f"{_ms(latency['p50'])}, p99 {_ms(latency['p99'])}, replica "
            f"{'-' if statements is None else f'{statements:,.1f}'} stmts/1k q"
        )
        if run["error_count"]:
            line.append(f", {run['error_count']:,} errors", style="bold red")
        if run["replica"].get("error"):
            line.append(f" (replica counters: {run['replica']['error']})", style="yellow")
        self.progress.console.print(line, soft_wrap=True)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} ms"
