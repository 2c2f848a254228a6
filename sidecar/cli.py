"""The `sidecar` command: run a sidecar, query one, and write or check its sidecar.yaml.

Query commands talk to a running sidecar rather than opening the sources themselves, so what
an operator sees from the CLI is exactly what the agent sees: the same datasets, the same
errors, the same auth. `sidecar sql` speaks Arrow Flight SQL by default (grpc://) and the HTTP
API for an http:// address; each transport is one small class behind `SqlClient`, so the shell
and the rendering do not know which one they use. `status` and `datasets` use the HTTP API.

Modules that build the engine and its servers are imported only by the commands that need them,
so `sidecar sql` starts quickly and works from a machine that only has the client side. rich
too is imported where output is drawn: `sidecar run` writing to a pod's log prints plain lines,
and an idle sidecar does not hold rich (about 3 MiB) for the few lines it printed at start.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from importlib import import_module
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
import pyarrow.ipc
import yaml
from sqlglot.dialects.postgres import Postgres
from sqlglot.errors import TokenError
from sqlglot.tokens import Token, TokenType

from policies.access import schema_errors
from sidecar import __version__
from sidecar.client import FLIGHT_SCHEMES, ClientError, ServerError, SqlClient, sql_client
from sidecar.config import ConfigError, SidecarConfig, json_schema, load_config
from sidecar.secrets import REDACTOR

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from policies.identity import Identity
    from sidecar.client import HttpClient
    from sidecar.engine import Engine
    from sidecar.engine.catalog import DatasetEntry

DEFAULT_URL = "http://127.0.0.1:8090"
DEFAULT_SQL_URL = "grpc://127.0.0.1:50051"
CONFIG_FILE = "sidecar.yaml"
CONFIG_ENV = "SIDECAR_CONFIG"
HISTORY_FILE = "~/.sidecar_history"
MAX_DISPLAY_ROWS = 1000
URL = re.compile(r"[a-z+]+://\S+")
EXIT_WORDS = ("exit", "quit")
SQL_WORDS = (
    "SELECT FROM WHERE GROUP ORDER BY HAVING LIMIT OFFSET JOIN LEFT INNER ON AS AND OR NOT IN IS "
    "NULL LIKE ILIKE BETWEEN DISTINCT COUNT SUM AVG MIN MAX CASE WHEN THEN ELSE END WITH UNION "
    "ALL DESC ASC EXPLAIN DESCRIBE SHOW TABLES"
)
REPL_HELP = """\
End a statement with ; (Enter on an unfinished statement starts a new line).
  \\dt          list tables (SHOW TABLES)
  \\d NAME      describe a table or view (DESCRIBE NAME)
  \\timing      show how long each query takes (toggle)
  \\q, exit     quit (or Ctrl-D)"""


# --- Talking to a running sidecar -----------------------------------------------------------


def server_url(option: str | None, default: str = DEFAULT_URL) -> str:
    return option or os.environ.get("SIDECAR_URL") or default


def http_client(args: argparse.Namespace) -> HttpClient:
    url = server_url(args.url)
    if url.partition("://")[0] in FLIGHT_SCHEMES:
        raise ClientError(
            f"`sidecar {args.command}` uses the HTTP API, not Flight SQL at {url}: "
            f"pass --url http://host:port (default {DEFAULT_URL})"
        )
    from sidecar.client import HttpClient

    return HttpClient(url, api_key(args.api_key))


def api_key(option: str | None) -> str | None:
    return option or os.environ.get("SIDECAR_API_KEY") or None


# --- Output ---------------------------------------------------------------------------------


class Io:
    """Where a command writes: results to stdout, diagnostics to stderr, through rich consoles
    made on first use (`sidecar run` off a terminal writes plain lines and never needs them)."""

    def __init__(self, out: Console | None = None, err: Console | None = None) -> None:
        self._out = out
        self._err = err

    @classmethod
    def standard(cls) -> Io:
        return cls()

    @property
    def out(self) -> Console:
        if self._out is None:
            from rich.console import Console

            self._out = Console(highlight=False, emoji=False)
        return self._out

    @property
    def err(self) -> Console:
        if self._err is None:
            from rich.console import Console

            self._err = Console(stderr=True, highlight=False, emoji=False)
        return self._err

    def terminal(self) -> bool:
        """Whether results go to a person at a terminal rather than to a file, pipe or log."""
        return self.out.is_terminal if self._out is not None else sys.stdout.isatty()

    def say(self, line: str | Text) -> None:
        """A line that is never wrapped, so paths and commands stay whole for copy and paste."""
        self.out.print(line, soft_wrap=True)

    def fail(self, *lines: str) -> None:
        """Plain, unwrapped lines: a caret must stay under its column, and text from a server
        must never be read as rich markup."""
        from rich.text import Text

        for line in lines:
            self.err.print(Text(line), soft_wrap=True)


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" if count == 1 else f"{count:,} {noun}s"


def error_lines(error: ServerError, sql: str | None = None) -> list[str]:
    lines = [f"ERROR: {error.message}"]
    if sql is not None and error.position is not None:
        lines += caret_lines(sql, error.position)
    if error.hint:
        lines.append(f"HINT: {error.hint}")
    return lines


def caret_lines(sql: str, position: int) -> list[str]:
    """psql's way of pointing at an error: the line of SQL that holds it, a caret beneath."""
    offset = min(max(position - 1, 0), len(sql))
    start = sql.rfind("\n", 0, offset) + 1
    end = sql.find("\n", offset)
    line = sql[start : len(sql) if end < 0 else end]
    label = f"LINE {sql.count(chr(10), 0, offset) + 1}: "
    pad = len(label) + len(sql[start:offset].expandtabs())
    return [label + line.expandtabs(), " " * pad + "^"]


def cell(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, default=json_value, ensure_ascii=False)
    if isinstance(value, Decimal):
        return json_value(value)
    return str(value)


def json_value(value: Any) -> Any:
    """JSON for the Arrow types json.dumps does not know; decimals stay exact as strings, their
    digits at the column's scale (0.0000000000, never 0E-10), as the HTTP API writes them."""
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, Decimal) and value.is_finite():
        return format(value, "f")
    return str(value)


def is_numeric(data_type: pa.DataType) -> bool:
    return (
        pa.types.is_integer(data_type)
        or pa.types.is_floating(data_type)
        or pa.types.is_decimal(data_type)
    )


def result_table(table: pa.Table) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    view = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for field in table.schema:
        view.add_column(Text(field.name), justify="right" if is_numeric(field.type) else "left")
    for row in table.slice(0, MAX_DISPLAY_ROWS).to_pylist():
        view.add_row(
            *(Text("NULL", style="dim") if v is None else Text(cell(v)) for v in row.values())
        )
    return view


def print_result(table: pa.Table, fmt: str, io: Io, elapsed: float | None = None) -> None:
    """Tables are for people, so they are capped; json and csv are for pipes, so they are whole
    and the timing goes to stderr, out of the data's way."""
    if fmt == "table":
        print_table(table, io, elapsed)
        return
    if fmt == "json":
        rows = json.dumps(table.to_pylist(), default=json_value, ensure_ascii=False)
        io.out.file.write(rows + "\n")
    else:
        writer = csv.writer(io.out.file, lineterminator="\n")
        writer.writerow(table.column_names)
        for row in table.to_pylist():
            writer.writerow("" if v is None else cell(v) for v in row.values())
    if elapsed is not None:
        io.fail(f"Time: {elapsed * 1000:.1f} ms")


def print_table(table: pa.Table, io: Io, elapsed: float | None) -> None:
    from rich.text import Text

    if table.num_columns:
        io.out.print(result_table(table))
    if table.num_rows > MAX_DISPLAY_ROWS:
        hidden = table.num_rows - MAX_DISPLAY_ROWS
        io.say(Text(f"… {hidden:,} more rows (add a LIMIT, or use --format csv)", "dim"))
    footer = plural(table.num_rows, "row")
    if elapsed is not None:
        footer += f", {elapsed * 1000:.1f} ms"
    io.say(Text(f"({footer})", style="dim"))


# --- sql ------------------------------------------------------------------------------------


class ScriptTokenizer(Postgres.Tokenizer):
    """PostgreSQL's tokens without sqlglot's "commands" (which swallow the rest of a statement
    as one string), so a `;` is seen wherever PostgreSQL would see it."""

    COMMANDS: ClassVar[set[TokenType]] = set()


def script_tokens(text: str) -> list[Token] | None:
    """The tokens of a script; None while a quote, `$$` string or comment is still open."""
    try:
        return ScriptTokenizer().tokenize(text + "\n")  # sqlglot wants a character after ''
    except TokenError:
        return None


def split_statements(text: str) -> list[str]:
    """Split a script on `;`, never inside quotes, `$$` strings or comments, dropping empty
    statements; an unterminated quote leaves the rest whole, for the server to explain."""
    found = script_tokens(text)
    if found is None:
        return [text.strip()] if text.strip() else []
    statements: list[str] = []
    start, has_code = 0, False
    for token in [*found, None]:
        if token is None or token.token_type == TokenType.SEMICOLON:
            end = len(text) if token is None else token.start
            if has_code:
                statements.append(text[start:end].strip())
            start, has_code = end + 1, False
        else:
            has_code = True
    return statements


def statement_complete(text: str) -> bool:
    """Whether Enter should run the input rather than start a new line of it."""
    stripped = text.strip()
    if not stripped or stripped.startswith("\\") or stripped.lower() in EXIT_WORDS:
        return True
    found = script_tokens(stripped)
    return bool(found) and found[-1].token_type == TokenType.SEMICOLON


class Shell:
    """Runs statements and shows results; shared by -e, piped stdin and the REPL."""

    def __init__(self, client: SqlClient, io: Io, fmt: str = "table") -> None:
        self.client = client
        self.io = io
        self.fmt = fmt
        self.timing = False
        self.failures = 0

    def execute(self, sql: str) -> bool:
        started = time.perf_counter()
        try:
            table = self.client.query(sql)
        except ServerError as error:
            self.failures += 1
            self.io.fail(*error_lines(error, sql))
            return False
        elapsed = time.perf_counter() - started if self.timing else None
        print_result(table, self.fmt, self.io, elapsed)
        return True

    def run_script(self, text: str) -> int:
        """Stop at the first failing statement, like `set -e`, so later ones never run on a
        wrong assumption. A line starting with a backslash is a shell command (`\\dt`,
        `\\d orders`, `\\q`), as in a psql script."""
        pending: list[str] = []
        for line in text.splitlines(keepends=True):
            if not line.lstrip().startswith("\\"):
                pending.append(line)
                continue
            if not self.run_statements("".join(pending)):
                return 1
            pending.clear()
            failures = self.failures
            if not self.command(line.strip()):
                return 0
            if self.failures > failures:
                return 1
        return 0 if self.run_statements("".join(pending)) else 1

    def run_statements(self, text: str) -> bool:
        return all(self.execute(statement) for statement in split_statements(text))

    def handle(self, text: str) -> bool:
        """One REPL input; False means quit."""
        stripped = text.strip()
        if stripped.rstrip(";").strip().lower() in EXIT_WORDS:
            return False
        if stripped.startswith("\\"):
            return self.command(stripped)
        for statement in split_statements(text):
            if not self.execute(statement):
                break
        return True

    def command(self, text: str) -> bool:
        from rich.text import Text

        name, _, argument = text.rstrip(";").partition(" ")
        argument = argument.strip()
        if name == "\\q":
            return False
        if name == "\\timing":
            self.timing = not self.timing
            self.io.say(f"Timing is {'on' if self.timing else 'off'}.")
        elif name == "\\dt" or (name == "\\d" and not argument):
            self.execute("SHOW TABLES")
        elif name == "\\d":
            self.execute(f"DESCRIBE {argument}")
        elif name in ("\\?", "\\h", "\\help"):
            self.io.say(Text(REPL_HELP))
        else:
            self.failures += 1
            self.io.fail(f"unknown command {name}; \\? lists the commands")
        return True

    def repl(self, session: PromptSession[str]) -> int:
        while True:
            try:
                text = session.prompt()
            except KeyboardInterrupt:
                continue
            except EOFError:
                return 0
            try:
                if not self.handle(text):
                    return 0
            except KeyboardInterrupt:
                self.io.fail("canceled")
            except ClientError as error:
                self.io.fail(f"ERROR: {error}")


def submit_bindings() -> KeyBindings:
    """Enter runs a finished statement and continues an unfinished one, as in psql."""
    from prompt_toolkit.key_binding import KeyBindings  # the shell's alone: `run` never needs it

    bindings = KeyBindings()

    @bindings.add("enter")
    def _enter(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        if statement_complete(buffer.text):
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n")

    return bindings


def prompt_session(tables: Sequence[str]) -> PromptSession[str]:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.completion import WordCompleter
    from prompt_toolkit.history import FileHistory

    return PromptSession(
        message="sidecar> ",
        history=FileHistory(str(Path(HISTORY_FILE).expanduser())),
        multiline=True,
        key_bindings=submit_bindings(),
        prompt_continuation=lambda width, line, soft_wrap: "...> ".rjust(width),
        completer=WordCompleter([*SQL_WORDS.split(), *tables], ignore_case=True, WORD=True),
        complete_while_typing=False,
    )


def table_names(client: SqlClient) -> list[str]:
    return [str(name) for name in client.query("SHOW TABLES").column("table_name").to_pylist()]


def cmd_sql(args: argparse.Namespace, io: Io) -> int:
    client = sql_client(server_url(args.url, DEFAULT_SQL_URL), api_key(args.api_key))
    try:
        shell = Shell(client, io, args.format)
        if args.execute is not None:
            return shell.run_script(args.execute)
        if not sys.stdin.isatty():
            return shell.run_script(sys.stdin.read())
        return interactive(shell, client)
    finally:
        client.close()


def interactive(shell: Shell, client: SqlClient) -> int:
    """Check the connection before the first prompt, so a typo in --url shows at once."""
    from rich.text import Text

    try:
        tables = table_names(client)
    except ServerError as error:
        shell.io.fail(*error_lines(error))
        return 1
    shell.io.say(
        Text(f"Connected to {client.url}: {plural(len(tables), 'table')}. ")
        + Text("End statements with ;  \\? for help, \\q to quit.", style="dim")
    )
    return shell.repl(prompt_session(tables))


# --- status, datasets -----------------------------------------------------------------------

STATE_STYLES = {"ready": "green", "stale": "yellow", "error": "red"}


def cmd_status(args: argparse.Namespace, io: Io) -> int:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    with http_client(args) as client:
        status = client.get_json("/v1/status")
    ready = Text("ready", style="green") if status.get("ready") else Text("not ready", "yellow")
    io.say(Text(f"{status.get('name', 'sidecar')} at {client.url}: ") + ready)
    table = Table(box=box.SIMPLE_HEAD)
    columns = ("dataset", "connector", "state", "rows", "load", "acceleration", "last error")
    for name in columns:
        table.add_column(name, justify="right" if name in ("rows", "load") else "left")
    for item in status.get("datasets", []):
        state = str(item.get("state", ""))
        acceleration = item.get("acceleration") or {}
        table.add_row(
            Text(str(item.get("name", ""))),
            Text(str(item.get("connector", ""))),
            Text(state, style=STATE_STYLES.get(state, "yellow")),
            Text("" if item.get("rows") is None else f"{item['rows']:,}"),
            Text("" if item.get("load_seconds") is None else f"{item['load_seconds']:.2f}s"),
            Text(acceleration_summary(acceleration)),
            Text(acceleration.get("last_error") or item.get("last_error") or "", style="red"),
        )
    io.out.print(table)
    if status.get("models"):
        io.out.print(models_table(status["models"]))
    return 0


def models_table(models: list[dict[str, Any]]) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD)
    for name in ("model", "state", "load", "queued", "error"):
        table.add_column(name, justify="right" if name in ("load", "queued") else "left")
    for model in models:
        state = str(model.get("state", ""))
        table.add_row(
            Text(str(model.get("id", ""))),
            Text(state, style=STATE_STYLES.get(state, "yellow")),
            Text("" if model.get("load_seconds") is None else f"{model['load_seconds']:.2f}s"),
            Text(str(model.get("queued", 0))),
            Text(model.get("error") or "", style="red"),
        )
    return table


def acceleration_summary(acceleration: dict[str, Any]) -> str:
    """`sqlite memory, refreshed 12s ago in 0.40s, next in 48s`: what an operator checks
    first."""
    if not acceleration:
        return ""
    parts = [f"{acceleration.get('engine', '')} {acceleration.get('mode', '')}".strip()]
    now = time.time()
    if acceleration.get("refreshing"):
        parts.append("refreshing")
    if acceleration.get("last_refresh_at"):
        ago = now - acceleration["last_refresh_at"]
        took = acceleration.get("last_refresh_seconds") or 0.0
        parts.append(f"refreshed {ago:.0f}s ago in {took:.2f}s")
    if acceleration.get("next_refresh_at"):
        parts.append(f"next in {max(0.0, acceleration['next_refresh_at'] - now):.0f}s")
    return ", ".join(parts)


def cmd_refresh(args: argparse.Namespace, io: Io) -> int:
    from rich.text import Text

    with http_client(args) as client:
        item = client.get_json(f"/v1/datasets/{args.name}/acceleration/refresh", method="POST")
    io.say(Text(refresh_summary(item)))
    return 0


def refresh_summary(item: dict[str, Any]) -> str:
    """What a refresh rebuilt: the local copy, the search index, or both (a searchable dataset
    without acceleration has only its index rebuilt)."""
    parts = []
    if acceleration := item.get("acceleration"):
        parts.append(f"{acceleration.get('rows', 0):,} rows, {acceleration_summary(acceleration)}")
    if search := item.get("search"):
        took = search.get("build_seconds") or 0.0
        parts.append(
            f"search index {search.get('state', '')}: {search.get('rows') or 0:,} rows, "
            f"{search.get('chunks') or 0:,} chunks, built in {took:.2f}s"
        )
    return f"{item.get('name')}: " + "; ".join(parts)


def cmd_datasets(args: argparse.Namespace, io: Io) -> int:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    with http_client(args) as client:
        items = client.get_json("/v1/datasets")
    table = Table("name", "connector", "description", box=box.SIMPLE_HEAD)
    table.add_column("columns", justify="right")
    for item in items:
        columns = item.get("columns") or []
        table.add_row(
            Text(str(item.get("name", ""))),
            Text(str(item.get("connector") or item.get("kind") or "")),
            Text(item.get("description") or "", style="dim"),
            Text(str(len(columns)) if columns else "-"),
        )
    io.out.print(table)
    return 0


# --- run ------------------------------------------------------------------------------------


def resolve_config_path(option: str | None) -> tuple[Path, bool]:
    """-c, else $SIDECAR_CONFIG (the container image's /etc/sidecar/sidecar.yaml), else
    ./sidecar.yaml, else the demo; the flag says whether it is the demo."""
    option = option or os.environ.get(CONFIG_ENV)
    if option:
        return Path(option), False
    local = Path(CONFIG_FILE)
    if local.is_file():
        return local, False
    from sidecar import demo

    return demo.config_path(), True


def read_config(path: Path, io: Io) -> SidecarConfig | None:
    try:
        return load_config(path)
    except ConfigError as error:
        io.fail(
            f"{path}: invalid configuration", *(f"  {line}" for line in str(error).splitlines())
        )
        return None


Piece = tuple[str, str]  # a run of text and its rich style ("" for none)


def dataset_line(entry: DatasetEntry, width: int) -> list[Piece]:
    name = entry.name.ljust(width)
    if entry.state == "ready":
        rows = "" if entry.rows is None else f"{entry.rows:,} rows "
        seconds = f"in {entry.load_seconds:.2f}s" if entry.load_seconds is not None else ""
        return [("✓ ", "green"), (f"{name}  ", ""), (f"{rows}{seconds}".strip(), "dim")]
    error = REDACTOR.redact(entry.last_error or str(entry.state))
    if entry.state == "stale":
        return [("! ", "yellow"), (f"{name}  ", ""), (f"stale: {error}", "yellow")]
    return [("✗ ", "red"), (f"{name}  ", ""), (error, "red")]


def first_table(config: SidecarConfig, loaded: Sequence[DatasetEntry]) -> str | None:
    """The table the banner suggests querying: one that loaded, so the hint works if tried."""
    ready = {entry.name for entry in loaded if entry.available}
    for dataset in config.datasets:
        if dataset.name in ready:
            return dataset.name
    names = [view.name for view in config.views] + [dataset.name for dataset in config.datasets]
    return names[0] if names else None


def sql_url(endpoints: Sequence[str]) -> str | None:
    """The address `sidecar sql` should use: Flight SQL when it is served, else HTTP."""
    urls = [match.group(0) for match in map(URL.search, endpoints) if match]
    flight = [url for url in urls if url.partition("://")[0] in FLIGHT_SCHEMES]
    return (flight or urls or [None])[0]


def banner(
    config: SidecarConfig, endpoints: Sequence[str], loaded: Sequence[DatasetEntry]
) -> list[Piece]:
    """The banner's lines, one piece each: the endpoints, what loaded, who reads what."""
    failed = [entry.name for entry in loaded if not entry.available]
    summary = f"{plural(len(config.datasets), 'dataset')}, {plural(len(config.views), 'view')}"
    if failed:
        summary += f"; {len(failed)} failed to load: {', '.join(failed)} (see `sidecar status`)"
    schemas = {entry.name: entry.schema for entry in loaded if entry.schema is not None}
    return [
        *((endpoint, "") for endpoint in endpoints),
        ("", ""),
        (summary, "red" if failed else ""),
        access_line(config),
        *((f"policy error: {p}", "red") for p in schema_errors(config, schemas)),
        ("Ctrl-C stops the sidecar.", "dim"),
    ]


def access_line(config: SidecarConfig) -> Piece:
    """Who reads what, in one line: without policies that is everyone, everything."""
    if config.policies is None:
        return (
            "No policies: every identity reads every dataset (add policies: to restrict).",
            "yellow",
        )
    count = len(config.policies)
    return (
        f"{count} {'policy' if count == 1 else 'policies'}: an identity reads only what its "
        "first matching policy gives (`sidecar policy explain --identity NAME`).",
        "",
    )


def try_hint(
    config: SidecarConfig, endpoints: Sequence[str], loaded: Sequence[DatasetEntry]
) -> list[Piece]:
    """A first command that works as printed, so it sits outside the box, free to copy."""
    table = first_table(config, loaded)
    query = f"SELECT * FROM {table} LIMIT 5" if table else "SHOW TABLES"
    url = sql_url(endpoints)
    command = "sidecar sql" + (f" --url {url}" if url and url != DEFAULT_SQL_URL else "")
    if config.runtime.auth.api_keys:
        command = f"SIDECAR_API_KEY=<key> {command}"
    return [("Try: ", ""), (f'{command} -e "{query}"', "bold")]


class StartupLog:
    """What `sidecar run` writes while datasets load when its output is no terminal (a pod's
    log): plain lines, a line per dataset as it finishes, then the banner's lines. It never
    imports rich, which would hold about 3 MiB of every idle sidecar's memory for this alone.
    The callbacks arrive from loader threads; each line is written whole, under a lock.
    """

    def __init__(self, config: SidecarConfig, note: str) -> None:
        self.config = config
        self.loaded: list[DatasetEntry] = []
        self.width = max((len(dataset.name) for dataset in config.datasets), default=0)
        self.lock = threading.Lock()
        self.write(note)

    def __enter__(self) -> StartupLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def write(self, *lines: str) -> None:
        with self.lock:
            sys.stdout.write("".join(f"{line}\n" for line in lines))
            sys.stdout.flush()

    def on_dataset(self, entry: DatasetEntry) -> None:
        self.loaded.append(entry)
        self.write(plain(dataset_line(entry, self.width)))

    def on_ready(self, endpoints: list[str]) -> None:
        lines = banner(self.config, endpoints, self.loaded)
        title = f"sidecar {self.config.name} is running"
        hint = plain(try_hint(self.config, endpoints, self.loaded))
        self.write(title, *(f"  {text}".rstrip() for text, _ in lines), hint)


class StartupDisplay:
    """What `sidecar run` shows on a terminal while datasets load in parallel, then the banner.

    A line per dataset as it finishes tells the operator which source is slow or broken long
    before the servers report ready. The callbacks arrive from loader threads; rich's console
    and progress are thread-safe.
    """

    def __init__(self, config: SidecarConfig, console: Console, note: str) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.text import Text

        self.config = config
        self.console = console
        self.loaded: list[DatasetEntry] = []
        self.width = max((len(dataset.name) for dataset in config.datasets), default=0)
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("loading datasets"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task("load", total=len(config.datasets))
        console.print(Text(note, style="dim"), soft_wrap=True)

    def __enter__(self) -> StartupDisplay:
        if self.config.datasets:
            self.progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.progress.stop()

    def on_dataset(self, entry: DatasetEntry) -> None:
        self.loaded.append(entry)
        line = styled(dataset_line(entry, self.width))
        self.progress.console.print(line, soft_wrap=True)
        self.progress.advance(self.task)

    def on_ready(self, endpoints: list[str]) -> None:
        from rich.console import Group
        from rich.panel import Panel
        from rich.text import Text

        self.progress.stop()
        lines = banner(self.config, endpoints, self.loaded)
        body = Group(*(Text(text, style=style) for text, style in lines))
        title = Text(f"sidecar {self.config.name} is running", style="bold")
        self.console.print(Panel(body, title=title, expand=False))
        hint = try_hint(self.config, endpoints, self.loaded)
        self.console.print(styled(hint), soft_wrap=True)


def plain(pieces: Sequence[Piece]) -> str:
    return "".join(text for text, _ in pieces)


def styled(pieces: Sequence[Piece]) -> Text:
    from rich.text import Text

    return Text.assemble(*pieces)


def cmd_run(args: argparse.Namespace, io: Io) -> int:
    path, is_demo = resolve_config_path(args.config)
    config = read_config(path, io)
    if config is None:
        return 2
    overrides = {"host": args.host, "port": args.http_port}
    config.runtime.http = config.runtime.http.model_copy(
        update={key: value for key, value in overrides.items() if value is not None}
    )
    if args.flight_port is not None:
        config.runtime.flight = config.runtime.flight.model_copy(update={"port": args.flight_port})
    if args.pg_port is not None:
        config.runtime.pg = config.runtime.pg.model_copy(update={"port": args.pg_port})
    note = f"Config: {path}"
    if is_demo:
        note = (
            f"No ./{CONFIG_FILE} here: serving the built-in demo. "
            "`sidecar init` writes a starter config."
        )
    display = StartupDisplay(config, io.out, note) if io.terminal() else StartupLog(config, note)
    from sidecar.runtime import StartupError, serve

    try:
        with display:
            serve(config, on_dataset=display.on_dataset, on_ready=display.on_ready)
    except StartupError as error:
        io.fail(str(error))
        return 1
    return 0


# --- init, config ---------------------------------------------------------------------------


def cmd_init(args: argparse.Namespace, io: Io) -> int:
    from rich.text import Text

    path = Path(args.path)
    if path.is_dir():
        path = path / CONFIG_FILE
    if path.exists() and not args.force:
        io.fail(f"{path} already exists; use --force to overwrite it")
        return 1
    template = files("sidecar").joinpath("templates", CONFIG_FILE).read_text()
    if args.from_spicepod:
        template = from_spicepod(Path(args.from_spicepod), io)
        if template is None:
            return 1
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(template)
    except OSError as error:
        io.fail(f"cannot write {path}: {error.strerror or error}")
        return 1
    option = "" if path == Path(CONFIG_FILE) else f" -c {path}"
    io.say(Text(f"Wrote {path}. Edit its datasets, then:"))
    io.say(Text(f"  sidecar config check{option} --connect\n  sidecar run{option}"))
    return 0


def from_spicepod(path: Path, io: Io) -> str | None:
    """The spicepod as sidecar.yaml text, with what did not carry over listed on top."""
    from rich.text import Text

    from sidecar.spicepod import convert

    try:
        spicepod = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        io.fail(f"cannot read {path}: {getattr(error, 'strerror', None) or error}")
        return None
    if not isinstance(spicepod, dict):
        io.fail(f"{path} is not a spicepod: a mapping with datasets:")
        return None
    config, dropped = convert(spicepod)
    header = f"# Converted from {path} by `sidecar init --from`.\n"
    if dropped:
        header += "# Not carried over:\n" + "".join(f"#   {line}\n" for line in dropped)
        io.say(Text(f"Not carried over from {path}:", style="yellow"))
        for line in dropped:
            io.say(Text(f"  {line}"))
    return header + yaml.safe_dump(config, sort_keys=False)


def cmd_config_check(args: argparse.Namespace, io: Io) -> int:
    path = Path(args.config or os.environ.get(CONFIG_ENV) or CONFIG_FILE)
    config = read_config(path, io)
    if config is None:
        return 2
    from sidecar.engine.view_check import relation_problems

    problems = relation_problems(config)
    if problems:
        io.fail(*problems)
        return 2
    io.say(f"OK: {plural(len(config.datasets), 'dataset')}, {plural(len(config.views), 'view')}")
    return connect(config, io) if args.connect else 0


def connect(config: SidecarConfig, io: Io) -> int:
    """Load every dataset the way `run` would; params are never printed, errors are redacted."""
    from sidecar.engine import Engine

    engine = Engine(config)
    width = max((len(dataset.name) for dataset in config.datasets), default=0)
    from sidecar.engine.view_check import plan_problems

    try:
        engine.load(lambda entry: io.say(styled(dataset_line(entry, width))))
        failed = [e for e in engine.catalog.datasets.values() if e.state != "ready"]
        views = [] if failed else plan_problems(engine)
    finally:
        engine.close()
    if failed:
        io.fail(f"{len(failed)} of {plural(len(config.datasets), 'dataset')} failed to load")
        return 1
    problems = engine.policy_problems() + views
    if problems:
        io.fail(*problems)
        return 1
    return 0


def cmd_policy_explain(args: argparse.Namespace, io: Io) -> int:
    """What one identity sees, and how a query of it is decided and rewritten."""
    path = Path(args.config or os.environ.get(CONFIG_ENV) or CONFIG_FILE)
    config = read_config(path, io)
    if config is None:
        return 2
    from policies.identity import Identity
    from sidecar.engine import Engine

    attributes: dict[str, str] = {}
    for api_key in config.runtime.auth.api_keys:
        if api_key.identity == args.identity:
            attributes.update(api_key.attributes)
    identity = Identity(args.identity, attributes)
    engine = Engine(config)
    try:
        engine.load()
        for line in policy_lines(engine, identity):
            io.say(line)
        if args.sql:
            return explain_decision(engine, identity, args.sql, io)
    finally:
        engine.close()
    return 0


def policy_lines(engine: Engine, identity: Identity) -> list[Text]:
    from rich.text import Text

    config = engine.config
    grant = engine.access.grant(identity)
    pairs = ", ".join(f"{k}={v}" for k, v in sorted(identity.attributes.items()))
    known = {key.identity for key in config.runtime.auth.api_keys}
    note = "" if not config.runtime.auth.api_keys or identity.name in known else " (holds no key)"
    lines = [Text.assemble(("identity ", "bold"), identity.name, note, f" ({pairs})" * bool(pairs))]
    if not grant.restricted:
        lines.append(Text("no policies: block, so it reads every dataset and view as it is"))
    elif grant.index is None:
        lines.append(Text("no policy matches it, so it sees nothing (deny by default)", "red"))
        return lines
    else:
        lines.append(Text(f"policy: policies[{grant.index}] (first entry matching it)"))
    for relation in engine.catalog.relations(grant):
        kind = "dataset" if relation.entry is not None else "view"
        lines.append(Text.assemble("  ", (relation.name, "bold"), f" ({kind})"))
        source = relation.entry.schema if relation.entry is not None else relation.schema
        rules = grant.rules(relation.name, source.names if source is not None else [])
        columns = [
            f"{field.name} ({rules[field.name]})" if field.name in rules else field.name
            for field in source or []
            if rules.get(field.name) != "deny"
        ]
        lines.append(Text(f"    columns: {', '.join(columns) or '(not loaded)'}"))
        denied = [name for name, rule in rules.items() if rule == "deny"]
        if denied:
            lines.append(Text(f"    denied: {', '.join(denied)}"))
        row_filter = grant.row_filter(relation.name)
        if row_filter is not None:
            lines.append(Text(f"    rows: {row_filter.sql(dialect='postgres')}"))
    if grant.limits is not None:
        limits = grant.limits.model_dump(exclude_none=True)
        shown = ", ".join(f"{name}={value}" for name, value in limits.items()) or "none"
        lines.append(Text(f"limits: {shown}"))
    return lines


def explain_decision(engine: Engine, identity: Identity, sql: str, io: Io) -> int:
    """The decision on `sql` for `identity`: refused (with the error it would get) or allowed,
    with the plan as rewritten for it."""
    from rich.text import Text

    from sidecar.errors import SidecarError

    try:
        plan = engine.explain(sql, (), identity, operator=True)
    except SidecarError as error:
        io.say(Text.assemble(("decision: refused", "red"), f" ({error.code.value})"))
        io.say(Text(f"  {error.message}" + (f"\n  hint: {error.hint}" if error.hint else "")))
        return 1
    io.say(Text("decision: allowed", "green"))
    io.say(Text("rewritten plan:"))
    for line in plan.splitlines():
        io.say(Text(f"  {line}" if line else ""))
    return 0


def cmd_config_schema(args: argparse.Namespace, io: Io) -> int:
    io.out.file.write(json.dumps(json_schema(), indent=2) + "\n")
    return 0


def cmd_bench(args: argparse.Namespace, io: Io) -> int:
    from sidecar.bench.command import run

    return run(args, io)


def cmd_inject(args: argparse.Namespace, io: Io) -> int:
    from sidecar.inject.commands import run

    return run(args, sys.stdout, sys.stderr)


def cmd_mcp(args: argparse.Namespace, io: Io) -> int:
    """MCP on stdin/stdout for a client that launches a command; stdout carries only MCP, so
    diagnostics go to stderr (which such clients keep in their logs)."""
    url = server_url(args.url)
    if url.partition("://")[0] in FLIGHT_SCHEMES:
        raise ClientError(
            f"`sidecar mcp` uses the HTTP API, not Flight SQL at {url}: "
            f"pass --url http://host:port (default {DEFAULT_URL})"
        )
    from sidecar.client import normalize_url
    from sidecar.servers.mcp import proxy

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="sidecar mcp: %(message)s")
    proxy.run(normalize_url(url), api_key(args.api_key))
    return 0


# --- Arguments ------------------------------------------------------------------------------


class Subcommand(argparse.ArgumentParser):
    """A command whose arguments a module adds (`module:function`) when the command is parsed or
    its help shown: `sidecar run` then never imports what only `bench` and `inject` use."""

    arguments: str | None = None

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._add_arguments()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._add_arguments()
        return super().format_help()

    def _add_arguments(self) -> None:
        if self.arguments is not None:
            module, _, function = self.arguments.partition(":")
            self.arguments = None
            getattr(import_module(module), function)(self)


def port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"'{text}' is not a port number (0-65535)")
    return int(text)


def client_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--url",
        help="the sidecar's address: grpc://host:port for Flight SQL (sql's default: "
        f"{DEFAULT_SQL_URL}) or http://host:port for the HTTP API ({DEFAULT_URL}); "
        "default $SIDECAR_URL",
    )
    options.add_argument("--api-key", help="sent as a bearer token (default: $SIDECAR_API_KEY)")
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sidecar",
        description="A per-agent, read-only data sidecar: SQL over the datasets in sidecar.yaml.",
    )
    parser.add_argument("--version", action="version", version=f"sidecar {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=Subcommand
    )
    client = client_options()

    run = commands.add_parser("run", help="serve the datasets in a sidecar.yaml")
    run.add_argument(
        "-c",
        "--config",
        help=f"config file (default: ${CONFIG_ENV}, else ./{CONFIG_FILE}, else the built-in demo)",
    )
    run.add_argument("--host", help="HTTP listen address, overriding runtime.http.host")
    run.add_argument("--http-port", type=port, help="HTTP port, overriding runtime.http.port")
    run.add_argument(
        "--flight-port", type=port, help="Flight SQL port, overriding runtime.flight.port"
    )
    run.add_argument("--pg-port", type=port, help="Postgres wire port, overriding runtime.pg.port")
    run.set_defaults(handler=cmd_run)

    sql = commands.add_parser("sql", parents=[client], help="query a running sidecar")
    sql.add_argument("-e", "--execute", metavar="SQL", help="run SQL and exit (else a shell)")
    sql.add_argument("--format", choices=("table", "json", "csv"), default="table")
    sql.set_defaults(handler=cmd_sql)

    status = commands.add_parser("status", parents=[client], help="show each dataset's state")
    status.set_defaults(handler=cmd_status)
    datasets = commands.add_parser("datasets", parents=[client], help="list datasets and views")
    datasets.set_defaults(handler=cmd_datasets)
    refresh = commands.add_parser(
        "refresh", parents=[client], help="refresh an accelerated copy or a search index now"
    )
    refresh.add_argument("name", help="the dataset")
    refresh.set_defaults(handler=cmd_refresh)

    mcp = commands.add_parser(
        "mcp",
        parents=[client],
        help="serve a running sidecar's MCP tools on stdin/stdout (for desktop agents)",
    )
    mcp.set_defaults(handler=cmd_mcp)

    init = commands.add_parser("init", help="write a commented starter sidecar.yaml")
    init.add_argument("path", nargs="?", default=CONFIG_FILE, help=f"default: ./{CONFIG_FILE}")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.add_argument(
        "--from",
        dest="from_spicepod",
        metavar="SPICEPOD",
        help="convert a spicepod.yaml; what cannot carry over is listed",
    )
    init.set_defaults(handler=cmd_init)

    config = commands.add_parser("config", help="check a sidecar.yaml or print its schema")
    config_commands = config.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    check = config_commands.add_parser("check", help="validate a sidecar.yaml")
    check.add_argument(
        "-c", "--config", help=f"config file (default: ${CONFIG_ENV}, else ./{CONFIG_FILE})"
    )
    check.add_argument("--connect", action="store_true", help="also load every dataset")
    check.set_defaults(handler=cmd_config_check)
    schema = config_commands.add_parser("schema", help="print the JSON Schema of sidecar.yaml")
    schema.set_defaults(handler=cmd_config_schema)

    inject = commands.add_parser(
        "inject", help="Kubernetes sidecar injection: serve the webhook or render offline"
    )
    inject.arguments = "sidecar.inject.commands:add_arguments"
    inject.set_defaults(handler=cmd_inject)

    policy = commands.add_parser("policy", help="what a policy lets an identity see")
    policy_commands = policy.add_subparsers(dest="policy_command", required=True, metavar="COMMAND")
    explain = policy_commands.add_parser(
        "explain", help="an identity's datasets, columns, row filters and limits; a query's plan"
    )
    explain.add_argument(
        "-c", "--config", help=f"config file (default: ${CONFIG_ENV}, else ./{CONFIG_FILE})"
    )
    explain.add_argument("--identity", required=True, help="the identity (API key holder)")
    explain.add_argument("sql", nargs="?", help="a query to decide and plan as that identity")
    explain.set_defaults(handler=cmd_policy_explain)

    bench = commands.add_parser(
        "bench", help="load-test agents against the replica: direct, federated, accelerated"
    )
    bench.arguments = "sidecar.bench.command:add_arguments"
    bench.set_defaults(handler=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace, Io], int] = args.handler
    io = Io.standard()
    try:
        return handler(args, io)
    except ClientError as error:
        io.fail(f"ERROR: {error}")
        return 1
    except ServerError as error:
        io.fail(*error_lines(error))
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
