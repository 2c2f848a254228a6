"""The read-only guard: whether an agent's SQL may run at all and, if not, exactly why.

Every protocol (HTTP, Postgres wire, Flight SQL) passes the agent's SQL through `parse` and `check`
before the engine plans it. The guard is an allow-list: the one statement must be a query, or
EXPLAIN / SHOW / DESCRIBE of one, and everything inside it may only read declared datasets. Anything
sqlglot cannot classify is refused, because an engine-specific statement that sqlglot only half
understands is exactly where a write, a file read or an extension load would hide. The deny-lists
below never let anything through; they only turn a refusal into a reason an agent can act on.

Where sqlglot gives up and returns an opaque `exp.Command` (EXPLAIN, SHOW), the guard works on the
raw tokens instead of text, so letter case, comments and whitespace never change the verdict.
"""

from __future__ import annotations

import difflib
import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import ClassVar

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.parser import Parser
from sqlglot.tokens import Token, Tokenizer, TokenType

from policies import placeholders
from sidecar.errors import ErrorCode, SidecarError

DEFAULT_DIALECT = "postgres"

HINT = (
    "This sidecar is read-only: use SELECT, WITH, VALUES, EXPLAIN, SHOW or DESCRIBE over the "
    "declared datasets."
)

_WRITES = "it writes data, and this sidecar is read-only"
_CATALOG = "it changes the catalog, which is fixed by the sidecar's configuration"
_HOST_FILES = (
    "it reads or writes files on the sidecar's host directly, bypassing the declared datasets"
)
_COPY = (
    "it reads or writes files on the sidecar's host directly, bypassing the declared datasets; "
    "COPY ... TO STDOUT (psql's \\copy) is not served either: send its query as a SELECT "
    "(psql --csv -o FILE -c 'SELECT ...' writes the same CSV)"
)
_OTHER_DATABASE = "it opens another database, bypassing the declared datasets"
_EXTENSIONS = "it installs or loads code into the query engine"
_SESSION = (
    "session and transaction state belong to the connection (the Postgres wire server handles "
    "SET and BEGIN itself), not to queries"
)
_DEFAULTS = "the default catalog and schema are fixed by the sidecar's configuration"
_PRIVILEGES = "access is fixed by the sidecar's configuration, not granted by SQL"
_MAINTENANCE = "it maintains storage, which is a write"
_OPAQUE_CODE = "it runs SQL or code that this guard cannot inspect"
_LOCKS = "locks only matter to transactions that write, and this sidecar never writes"
_NOT_A_QUERY = "only queries (SELECT, WITH, VALUES), EXPLAIN, SHOW and DESCRIBE are accepted"

# Keyed by a statement's leading keyword, which is all that is known of statements sqlglot cannot
# parse (ATTACH, EXPORT DATABASE, UPSERT) or parses as a bare column (CHECKPOINT, INSTALL x).
_STATEMENT_REASONS: dict[str, str] = {
    "INSERT": _WRITES,
    "UPDATE": _WRITES,
    "DELETE": _WRITES,
    "MERGE": _WRITES,
    "UPSERT": _WRITES,
    "REPLACE": _WRITES,
    "TRUNCATE": _WRITES,
    "CREATE": _CATALOG,
    "ALTER": _CATALOG,
    "DROP": _CATALOG,
    "RENAME": _CATALOG,
    "COMMENT": _CATALOG,
    "COPY": _COPY,
    "EXPORT": _HOST_FILES,
    "IMPORT": _HOST_FILES,
    "ATTACH": _OTHER_DATABASE,
    "DETACH": _OTHER_DATABASE,
    "INSTALL": _EXTENSIONS,
    "FORCE": _EXTENSIONS,
    "LOAD": _EXTENSIONS,
    "PRAGMA": "it reads or changes the query engine's internals",
    "CALL": _OPAQUE_CODE,
    "DO": _OPAQUE_CODE,
    "EXECUTE": _OPAQUE_CODE,
    "PREPARE": _OPAQUE_CODE,
    "SET": _SESSION,
    "RESET": _SESSION,
    "DISCARD": _SESSION,
    "BEGIN": _SESSION,
    "START": _SESSION,
    "COMMIT": _SESSION,
    "END": _SESSION,
    "ROLLBACK": _SESSION,
    "ABORT": _SESSION,
    "SAVEPOINT": _SESSION,
    "RELEASE": _SESSION,
    "USE": _DEFAULTS,
    "GRANT": _PRIVILEGES,
    "REVOKE": _PRIVILEGES,
    "VACUUM": _MAINTENANCE,
    "ANALYZE": _MAINTENANCE,
    "CHECKPOINT": _MAINTENANCE,
    "REINDEX": _MAINTENANCE,
    "CLUSTER": _MAINTENANCE,
    "REFRESH": _MAINTENANCE,
    "LOCK": _LOCKS,
}

_OBJECT_VERBS = frozenset({"CREATE", "ALTER", "DROP"})

# Statement nodes that can hide inside a query tree: sqlglot accepts DML in CTEs, for example.
_STATEMENTS: tuple[type[exp.Expression], ...] = (
    exp.DML,
    exp.DDL,
    exp.Drop,
    exp.Alter,
    exp.TruncateTable,
    exp.Command,
    exp.Pragma,
    exp.Set,
    exp.Use,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Grant,
    exp.Revoke,
    exp.Analyze,
    exp.Comment,
    exp.Attach,
    exp.Detach,
    exp.Install,
    exp.Export,
    exp.Refresh,
    exp.Kill,
    exp.LoadData,
    exp.Cache,
    exp.Uncache,
    exp.Execute,
    exp.Declare,
    exp.Describe,
    exp.Show,
    exp.Summarize,
)
_QUERIES: tuple[type[exp.Expression], ...] = (
    exp.Select,
    exp.SetOperation,
    exp.Values,
    exp.Subquery,
)
_READ_ONLY_STATEMENTS: tuple[type[exp.Expression], ...] = (*_QUERIES, exp.Describe, exp.Show)
_NAME_ONLY_COMMANDS = frozenset({"SHOW", "DESCRIBE", "DESC"})

_FN_FILES = "it reads the sidecar host's file system directly, bypassing the declared datasets"
_FN_LARGE_OBJECTS = "it reads or writes server-side large objects and files"
_FN_REMOTE = (
    "it connects to another database or the network directly, bypassing the declared datasets"
)
_FN_SQL_STRING = "it runs SQL given as a string, which this guard cannot inspect"
_FN_SECRETS = "it exposes the sidecar's environment or stored credentials"
_FN_STATE = "it changes server or session state, and this sidecar is read-only"
_FN_SLEEP = "it stalls on purpose, which only ties up the sidecar (denial of service)"
_FN_ADMIN = "it administers the database server"

_FUNCTION_PREFIXES: tuple[tuple[str, str], ...] = (
    ("read_", _FN_FILES),
    ("pg_read_", _FN_FILES),
    ("pg_ls_", _FN_FILES),
    ("pg_stat_file", _FN_FILES),
    ("pg_file_", _FN_FILES),
    ("parquet_", _FN_FILES),
    ("sniff_", _FN_FILES),
    ("st_read", _FN_FILES),
    ("lo_", _FN_LARGE_OBJECTS),
    ("dblink", _FN_REMOTE),
    ("sqlite_", _FN_REMOTE),
    ("postgres_", _FN_REMOTE),
    ("mysql_", _FN_REMOTE),
    ("iceberg_", _FN_REMOTE),
    ("delta_", _FN_REMOTE),
    ("http_", _FN_REMOTE),
    ("query_to_xml", _FN_SQL_STRING),
    ("table_to_xml", _FN_SQL_STRING),
    ("cursor_to_xml", _FN_SQL_STRING),
    ("schema_to_xml", _FN_SQL_STRING),
    ("database_to_xml", _FN_SQL_STRING),
    ("pg_sleep", _FN_SLEEP),
    ("pg_advisory", _FN_STATE),
    ("pg_try_advisory", _FN_STATE),
)
_FUNCTIONS: dict[str, str] = {
    "glob": _FN_FILES,
    "pg_logdir_ls": _FN_FILES,
    "query": _FN_SQL_STRING,
    "query_table": _FN_SQL_STRING,
    "json_execute_serialized_sql": _FN_SQL_STRING,
    "getenv": _FN_SECRETS,
    "duckdb_secrets": _FN_SECRETS,
    "which_secret": _FN_SECRETS,
    "load_aws_credentials": _FN_SECRETS,
    "set_config": _FN_STATE,
    "nextval": _FN_STATE,
    "setval": _FN_STATE,
    "pg_notify": _FN_STATE,
    "txid_current": _FN_STATE,
    "pg_current_xact_id": _FN_STATE,
    "sleep": _FN_SLEEP,
    "pg_terminate_backend": _FN_ADMIN,
    "pg_cancel_backend": _FN_ADMIN,
    "pg_reload_conf": _FN_ADMIN,
    "pg_rotate_logfile": _FN_ADMIN,
    "pg_promote": _FN_ADMIN,
    "pg_switch_wal": _FN_ADMIN,
    "pg_create_restore_point": _FN_ADMIN,
    "pg_backup_start": _FN_ADMIN,
    "pg_backup_stop": _FN_ADMIN,
    "pg_start_backup": _FN_ADMIN,
    "pg_stop_backup": _FN_ADMIN,
    "pg_log_backend_memory_contexts": _FN_ADMIN,
}

# Pure generators, and the searches of declared datasets: the only functions allowed where a
# table goes.
_TABLE_FUNCTIONS = frozenset(
    {"generate_series", "range", "unnest", "text_search", "vector_search", "search"}
)
# sqlglot renames some functions it knows; map them back to what the agent wrote.
_CANONICAL_FUNCTION_NAMES: dict[type[exp.Expression], str] = {
    exp.GenerateSeries: "generate_series",
    exp.ExplodingGenerateSeries: "generate_series",
    exp.Unnest: "unnest",
    exp.Explode: "unnest",
}

_DATA_FILE_SUFFIXES = (
    ".csv",
    ".tsv",
    ".txt",
    ".parquet",
    ".parq",
    ".json",
    ".jsonl",
    ".ndjson",
    ".arrow",
    ".feather",
    ".ipc",
    ".avro",
    ".orc",
    ".xlsx",
    ".xls",
    ".db",
    ".sqlite",
    ".sqlite3",
    ".duckdb",
    ".gz",
    ".bz2",
    ".xz",
    ".zst",
    ".zstd",
    ".lz4",
    ".snappy",
    ".zip",
)
_PATH_CHARACTERS = frozenset("/\\:*?")

_EXPLAIN_FLAGS = frozenset({"ANALYZE", "ANALYSE", "VERBOSE"})
_EXPLAIN_FORMATS = frozenset(
    {"TEXT", "JSON", "XML", "YAML", "TREE", "INDENT", "PGJSON", "GRAPHVIZ"}
)
_EXPLAIN_OPTIONS = frozenset(
    {
        "ANALYZE",
        "ANALYSE",
        "VERBOSE",
        "COSTS",
        "SETTINGS",
        "GENERIC_PLAN",
        "BUFFERS",
        "SERIALIZE",
        "WAL",
        "TIMING",
        "SUMMARY",
        "MEMORY",
        "FORMAT",
    }
)

# Looked up by name: sqlglot releases add string token kinds (NATIONAL_RAW_STRING is newer
# than the 30.22 that fakesnow pins), and the guard must work with each of them.
_STRING_TOKENS = frozenset(
    getattr(TokenType, name)
    for name in (
        "STRING",
        "NATIONAL_STRING",
        "RAW_STRING",
        "NATIONAL_RAW_STRING",
        "HEREDOC_STRING",
        "BYTE_STRING",
        "HEX_STRING",
        "BIT_STRING",
        "UNICODE_STRING",
    )
    if hasattr(TokenType, name)
)
# Tokens whose text is data, not code: what they contain cannot change how a statement parses.
_OPAQUE_TOKENS = _STRING_TOKENS | {TokenType.IDENTIFIER}
_ASCII_WHITESPACE = frozenset(" \t\n\r\f\v")
_LOOKALIKE_SEMICOLONS = frozenset("\u037e\u061b\u204f\u2e35\ufe54\uff1b")
_DISGUISING_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Zs", "Zl", "Zp"})

# Tokens a statement cannot end with, and what has to follow them (by name: sqlglot releases
# differ in which kinds they have). After AS or a dot, a keyword is a name and may end it.
_EXPECTED_AFTER: dict[TokenType, str] = {
    getattr(TokenType, name): expected
    for expected, names in (
        ("a condition", "WHERE HAVING ON AND OR NOT WHEN QUALIFY"),
        (
            "an expression",
            "SELECT DISTINCT GROUP_BY ORDER_BY PARTITION_BY CASE THEN ELSE IN LIKE ILIKE RLIKE "
            "IRLIKE SIMILAR_TO BETWEEN IS ESCAPE PLUS DASH SLASH PERCENT EQ NEQ LT GT LTE GTE "
            "NULLSAFE_EQ DPIPE CARET AMP PIPE ARROW DARROW HASH_ARROW DHASH_ARROW L_PAREN "
            "L_BRACKET",
        ),
        ("another item", "COMMA"),
        ("a table", "FROM JOIN LEFT RIGHT FULL INNER OUTER CROSS NATURAL LATERAL"),
        ("a row count", "LIMIT OFFSET FETCH"),
        ("a name", "ALIAS DOT"),
        ("a type", "DCOLON"),
        ("a query", "UNION INTERSECT EXCEPT WITH RECURSIVE"),
        ("a parenthesized column list", "USING"),
        ("a row in parentheses", "VALUES"),
    )
    for name in names.split()
    if hasattr(TokenType, name)
}
_NAME_BEFORE = frozenset({TokenType.ALIAS, TokenType.DOT})

_STATEMENT_KEYWORDS = ("SELECT", "WITH", "VALUES", "EXPLAIN", "SHOW", "DESCRIBE")
_WORD = re.compile(r"[^\W\d]\w*")
_TOKEN_REPR = re.compile(r"<Token token_type: TokenType\.(\w+), text: (.*?), line: [^>]*>")
_CLASS_REPR = re.compile(r"<class '[\w.]*?(\w+)'>")


def parse(sql: str, *, dialect: str = DEFAULT_DIALECT) -> list[exp.Expression | None]:
    """Parse the agent's SQL, turning sqlglot's errors into ones that point at the bad token.

    A statement sqlglot cannot parse may still be one the guard would refuse (ATTACH, EXPORT
    DATABASE, DuckDB's glob()): those are reported as forbidden, because "syntax error" would send
    the agent off fixing syntax that can never be accepted.

    A newline is appended because sqlglot 30's tokenizer fails on a statement with a `$n`
    placeholder that ends in an empty string literal (`... AND b = ''`); positions are unchanged.
    """
    text = sql + "\n"
    try:
        reader = Dialect.get_or_raise(dialect)
        tokens = placeholders.dialect_tokenizer(dialect)(dialect=reader).tokenize(text)
        return _placeholder_parser(dialect)(dialect=reader).parse(tokens, text)
    except TokenError as error:
        raise _token_error(error) from error
    except ParseError as error:
        raise (
            _recognisable_violation(sql, dialect)
            or _end_of_input(sql, _split_statements(_tokenize(sql, dialect)))
            or _unknown_leading_word(sql, dialect)
            or _syntax_error(sql, error, dialect)
        ) from error


def check(
    sql: str,
    statements: Sequence[exp.Expression | None],
    *,
    dialect: str = DEFAULT_DIALECT,
) -> exp.Expression:
    """Return the one statement of `sql` if it only reads declared datasets; raise otherwise.

    `statements` is what `parse(sql)` returned, so that the engine parses once and runs exactly
    the tree that was checked. The raw `sql` is needed too: sqlglot keeps EXPLAIN and SHOW as
    unparsed text, and disguising characters only show in the source.
    """
    present = [s for s in statements if s is not None and not isinstance(s, exp.Semicolon)]
    if not present:
        raise SidecarError(
            ErrorCode.INVALID_REQUEST,
            "empty query: the SQL contains no statement, only whitespace, comments or semicolons",
            hint="Send one query, e.g. SELECT * FROM <dataset> LIMIT 10 (SHOW TABLES lists them).",
        )
    tokens = _tokenize(sql, dialect)
    disguised = _disguising_character(sql, tokens)
    if disguised:
        raise disguised
    chunks = _split_statements(tokens)
    if len(present) > 1:
        raise _multiple_statements(chunks)
    statement = present[0]
    _check_statement(statement, sql, chunks[0], dialect)
    incomplete = _end_of_input(sql, chunks)
    if incomplete:
        raise incomplete
    return statement


def _check_statement(
    statement: exp.Expression, sql: str, tokens: list[Token], dialect: str
) -> None:
    if isinstance(statement, exp.Command):
        _check_command(statement, sql, tokens, dialect)
    elif isinstance(statement, _READ_ONLY_STATEMENTS):
        _check_tree(statement, dialect)
    elif _bare(statement, tokens):
        # `SELEC $1` reads as a column aliased `$1`, `''` or `-1` as a value: no statement
        raise _leading_token(sql, tokens[0])
    else:
        name = _statement_name(statement, tokens[0].text.upper())
        raise _forbidden_statement(name, position=tokens[0].start + 1)


def _check_command(statement: exp.Command, sql: str, tokens: list[Token], dialect: str) -> None:
    """sqlglot's fallback for statements it does not model; only three keywords are harmless."""
    keyword = statement.name.upper()
    if keyword == "EXPLAIN":
        _check_explain(sql, tokens, dialect)
    elif keyword in _NAME_ONLY_COMMANDS:
        _check_names(keyword, tokens)
    else:
        raise _forbidden_statement(_command_name(statement), position=tokens[0].start + 1)


def _check_explain(sql: str, tokens: list[Token], dialect: str) -> None:
    """EXPLAIN ANALYZE runs what it explains, so the explained statement gets the full check.

    The query is re-parsed from the original SQL with everything before it blanked out, so that
    error positions and node offsets still point into the agent's own text.
    """
    start = _explained_query_index(tokens)
    if start == len(tokens):
        raise SidecarError(
            ErrorCode.SYNTAX,
            "EXPLAIN must be followed by the query to explain",
            hint="For example: EXPLAIN SELECT * FROM <dataset>.",
        )
    offset = tokens[start].start
    parsed = parse(_blank(sql[:offset]) + sql[offset:], dialect=dialect)
    query = next(s for s in parsed if s is not None and not isinstance(s, exp.Semicolon))
    if not isinstance(query, _QUERIES):
        name = _statement_name(query, tokens[start].text.upper())
        raise _forbidden(
            f"EXPLAIN {name} is not allowed: EXPLAIN may only wrap a query, because "
            "EXPLAIN ANALYZE runs the statement it explains",
            position=offset + 1,
        )
    _check_tree(query, dialect)


@dataclass(frozen=True)
class Explained:
    """What an EXPLAIN asks: its query (the text before it blanked, so positions in it are the
    agent's own), whether it runs it (ANALYZE), and the FORMAT it names, if any."""

    query: str
    analyze: bool
    format: str | None


def explained(sql: str, dialect: str = DEFAULT_DIALECT) -> Explained:
    """An EXPLAIN the guard let through, read in every spelling it accepts: `EXPLAIN ANALYZE`,
    `ANALYSE`, `VERBOSE`, `FORMAT x`, Postgres' `(ANALYZE false, FORMAT JSON)`."""
    tokens = _split_statements(_tokenize(sql, dialect))[0]
    start = _explained_query_index(tokens)
    words = [_word(token) or token.text.upper() for token in tokens[1:start]]
    analyze, format_ = False, None
    for index, word in enumerate(words):
        following = words[index + 1] if index + 1 < len(words) else ""
        if word in ("ANALYZE", "ANALYSE"):
            analyze = following not in ("FALSE", "OFF", "0")
        elif word == "FORMAT" and following:
            format_ = following
    offset = tokens[start].start if start < len(tokens) else len(sql)
    return Explained(_blank(sql[:offset]) + sql[offset:], analyze, format_)


def _explained_query_index(tokens: list[Token]) -> int:
    """Skip EXPLAIN's options in every dialect's spelling: ANALYZE, VERBOSE, FORMAT x, (a, b)."""
    index = 1
    while index < len(tokens):
        word = _word(tokens[index])
        following = _word(tokens[index + 1]) if index + 1 < len(tokens) else ""
        if word in _EXPLAIN_FLAGS:
            index += 1
        elif word == "FORMAT" and following in _EXPLAIN_FORMATS:
            index += 2
        elif (closing := _option_list_end(tokens, index)) is not None:
            index = closing + 1
        else:
            break
    return index


def _option_list_end(tokens: list[Token], index: int) -> int | None:
    """Where Postgres' `(ANALYZE, FORMAT JSON)` ends, or None when `(` opens the query itself."""
    if tokens[index].token_type != TokenType.L_PAREN:
        return None
    parens = (TokenType.L_PAREN, TokenType.R_PAREN)
    closing = next(
        (i for i in range(index + 1, len(tokens)) if tokens[i].token_type in parens), None
    )
    if closing is None or tokens[closing].token_type != TokenType.R_PAREN:
        return None
    items = _split_on(tokens[index + 1 : closing], TokenType.COMMA)
    return closing if all(_is_explain_option(item) for item in items) else None


def _is_explain_option(item: list[Token]) -> bool:
    if not item or len(item) > 2 or _word(item[0]) not in _EXPLAIN_OPTIONS:
        return False
    return len(item) == 1 or bool(_word(item[1])) or item[1].token_type == TokenType.NUMBER


def _check_names(keyword: str, tokens: list[Token]) -> None:
    """SHOW names a setting or object; anything more could smuggle in a query or a file path.

    DuckDB treats `SHOW <query>` and `DESCRIBE 'file.csv'` as reads of whatever they name, so
    only words, dots, quoted names and the pattern of a LIKE are let through.
    """
    rest = tokens[1:]
    if not rest:
        raise SidecarError(
            ErrorCode.SYNTAX,
            f"{keyword} must name what to show",
            hint="For example: SHOW TABLES, SHOW COLUMNS FROM <dataset> or DESCRIBE <dataset>.",
        )
    for index, token in enumerate(rest):
        if token.token_type == TokenType.IDENTIFIER and _looks_like_path(token.text):
            raise _path_error(token.text, position=token.start + 1)
        if _word(token) or token.token_type in (TokenType.DOT, TokenType.IDENTIFIER):
            continue
        after_like = index > 0 and _word(rest[index - 1]) in ("LIKE", "ILIKE")
        if token.token_type == TokenType.STRING and after_like:
            continue
        raise _forbidden(
            f"{keyword} accepts only names (e.g. SHOW TABLES, SHOW COLUMNS FROM <dataset>, "
            f"SHOW search_path): '{token.text}' is not allowed there",
            position=token.start + 1,
        )


def _check_tree(root: exp.Expression, dialect: str) -> None:
    """Every node of a read-only statement, including subqueries, CTEs and function arguments."""
    for node in root.walk():
        if node is not root and isinstance(node, _STATEMENTS):
            raise _forbidden_nested(node, dialect)
        if isinstance(node, exp.Into):
            raise _forbidden(
                "SELECT ... INTO is not allowed: it creates a table from the query result, "
                "and this sidecar is read-only"
            )
        if isinstance(node, exp.Lock):
            raise _forbidden(f"SELECT ... {_lock_name(node)} is not allowed: row {_LOCKS}")
        if isinstance(node, exp.Table):
            _check_table(node, dialect)
        elif isinstance(node, exp.Lateral) and isinstance(node.this, exp.Func):
            _check_table_function(node.this)
        elif isinstance(node, exp.Func):
            _check_function(node)


def _check_table(table: exp.Table, dialect: str) -> None:
    source = table.this
    if source is None or isinstance(source, exp.Identifier):
        for part in (table.args.get("catalog"), table.args.get("db"), source):
            if isinstance(part, exp.Identifier) and _looks_like_path(part.name):
                raise _path_error(part.name, position=_position(part))
    elif isinstance(source, exp.Func | exp.Glob):
        _check_table_function(source)
    else:
        raise _forbidden(
            f"{source.sql(dialect=dialect)} cannot be used as a table: FROM may only name "
            "declared datasets, subqueries, VALUES, generate_series, range, unnest or the "
            "search functions",
            position=_position(source),
        )


def _check_table_function(function: exp.Expression) -> None:
    """Table functions are how engines read files and remote systems, so few are allowed."""
    name = _check_function(function)
    if name not in _TABLE_FUNCTIONS:
        raise _forbidden(
            f"table function {name}() is not allowed: only generate_series, range, unnest and "
            "text_search, vector_search and search (over declared datasets) may be used as "
            "table sources, so that FROM only reaches the declared datasets",
            position=_position(function),
        )


def _check_function(function: exp.Expression) -> str:
    """The function's name, unless the guard forbids it wherever it stands."""
    name = _function_name(function)
    reason = _function_reason(name)
    if reason:
        raise _forbidden_function(name, reason, position=_position(function))
    return name


def _disguising_character(sql: str, tokens: list[Token]) -> SidecarError | None:
    """A refusal for the first character that could make SQL read differently from how it runs.

    Zero-width and bidi characters, control characters, exotic spaces and look-alike semicolons
    are treated differently by sqlglot, DataFusion and DuckDB, and a difference between the parser
    that checks and the one that runs is how a guard is bypassed. Inside quoted strings and
    identifiers they are only data, so they stay allowed there.
    """
    code = list(sql)
    for token in tokens:
        if token.token_type in _OPAQUE_TOKENS:
            code[token.start : token.end + 1] = " " * (token.end + 1 - token.start)
    index = next((i for i, char in enumerate(code) if _is_disguising(char)), None)
    if index is None:
        return None
    char = sql[index]
    return _forbidden(
        f"character U+{ord(char):04X} ({unicodedata.name(char, 'control character')}) at "
        f"position {index + 1} is not allowed outside quoted strings and identifiers: invisible, "
        "control and look-alike characters can make a statement read differently from how it runs",
        position=index + 1,
        advice="Retype the statement with plain spaces and ASCII punctuation.",
    )


def _is_disguising(char: str) -> bool:
    if char in _ASCII_WHITESPACE:
        return False
    return char in _LOOKALIKE_SEMICOLONS or unicodedata.category(char) in _DISGUISING_CATEGORIES


def _looks_like_path(name: str) -> bool:
    """Quoted names reach DuckDB replacement scans and DataFusion URL tables as paths or URLs.

    Declared dataset names are plain identifiers, so none of them is caught by this.
    """
    return (
        name.startswith("~")
        or any(char in _PATH_CHARACTERS for char in name)
        or name.lower().endswith(_DATA_FILE_SUFFIXES)
    )


def _function_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    if isinstance(node, exp.Func):
        return _CANONICAL_FUNCTION_NAMES.get(type(node)) or node.sql_name().lower()
    return node.key


def _function_reason(name: str) -> str | None:
    if name in _FUNCTIONS:
        return _FUNCTIONS[name]
    return next((reason for prefix, reason in _FUNCTION_PREFIXES if name.startswith(prefix)), None)


def _statement_name(node: exp.Expression, leading_word: str) -> str:
    """Name a refused statement as the agent would: `CREATE TABLE ... AS`, not `Create`."""
    if isinstance(node, exp.Create | exp.Drop | exp.Alter):
        return _object_statement_name(node)
    if isinstance(node, exp.Command):
        return _command_name(node)
    if isinstance(node, exp.Comment):
        return "COMMENT ON"
    return leading_word


def _object_statement_name(node: exp.Create | exp.Drop | exp.Alter) -> str:
    kind = str(node.args.get("kind") or "").upper()
    if node.find(exp.ExternalProperty):
        kind = f"EXTERNAL {kind}"
    name = f"{node.key.upper()} {kind}".rstrip()
    if isinstance(node.args.get("expression"), exp.Query):
        name += " ... AS"
    return name


def _command_name(node: exp.Command) -> str:
    keyword = node.name.upper()
    words = node.text("expression").split(maxsplit=1)
    if keyword in _OBJECT_VERBS and words:
        return f"{keyword} {words[0].upper()}"
    return keyword


def _lock_name(lock: exp.Lock) -> str:
    update = bool(lock.args.get("update"))
    if lock.args.get("key"):
        return "FOR NO KEY UPDATE" if update else "FOR KEY SHARE"
    return "FOR UPDATE" if update else "FOR SHARE"


def _forbidden_nested(node: exp.Expression, dialect: str) -> SidecarError:
    words = node.sql(dialect=dialect).split(maxsplit=1)
    leading_word = words[0].strip('"').upper() if words else node.key.upper()
    where = "inside WITH" if node.find_ancestor(exp.CTE) else "inside a subquery"
    return _forbidden_statement(f"{_statement_name(node, leading_word)} {where}")


def _forbidden_statement(name: str, *, position: int | None = None) -> SidecarError:
    reason = _STATEMENT_REASONS.get(name.split()[0], _NOT_A_QUERY)
    return _forbidden(f"{name} is not allowed: {reason}", position=position)


def _forbidden_function(name: str, reason: str, *, position: int | None) -> SidecarError:
    return _forbidden(f"function {name}() is not allowed: {reason}", position=position)


def _path_error(name: str, *, position: int | None) -> SidecarError:
    return _forbidden(
        f"table name '{name}' looks like a file path or URL: reading files or URLs directly is "
        "not allowed, only the declared datasets can be queried",
        position=position,
        advice="Query a declared dataset by its name (SHOW TABLES lists them).",
    )


def _multiple_statements(chunks: list[list[Token]]) -> SidecarError:
    words = ", ".join(chunk[0].text.upper() for chunk in chunks)
    return _forbidden(
        f"multiple statements are not allowed, one statement per request: found {len(chunks)} "
        f"({words}); a ';' outside quotes ends a statement",
        position=chunks[1][0].start + 1,
        advice="Send each statement as its own request.",
    )


def _forbidden(
    message: str, *, position: int | None = None, advice: str | None = None
) -> SidecarError:
    hint = f"{advice} {HINT}" if advice else HINT
    return SidecarError(ErrorCode.FORBIDDEN, message, hint=hint, position=position)


def _recognisable_violation(sql: str, dialect: str) -> SidecarError | None:
    """What the guard would refuse in SQL that sqlglot could not parse, judged from tokens."""
    tokens = _tokenize(sql, dialect)
    disguised = _disguising_character(sql, tokens)
    if disguised:
        return disguised
    chunks = _split_statements(tokens)
    for chunk in chunks:
        keyword = chunk[0].text.upper()
        if keyword in _STATEMENT_REASONS and chunk[0].token_type not in _OPAQUE_TOKENS:
            return _forbidden_statement(keyword, position=chunk[0].start + 1)
    if len(chunks) > 1:
        return _multiple_statements(chunks)
    for token, following in pairwise(tokens):
        name = token.text.lower()
        reason = _function_reason(name)
        is_call = following.token_type == TokenType.L_PAREN
        if reason and is_call and token.token_type not in _STRING_TOKENS:
            return _forbidden_function(name, reason, position=token.start + 1)
    return None


def _end_of_input(sql: str, chunks: list[list[Token]]) -> SidecarError | None:
    """PostgreSQL's "syntax error at end of input", with what had to follow: a statement that
    stops after GROUP BY, WHERE, ON, an operator or an open parenthesis is cut short. sqlglot
    accepts some of these (an empty GROUP BY; a JOIN ... ON with nothing after it becomes a
    cross join) and blames the last keyword for the others, not the end where text is missing.
    """
    if not chunks:
        return None
    tokens = chunks[-1]
    last = tokens[-1]
    named = len(tokens) > 1 and tokens[-2].token_type in _NAME_BEFORE
    expected = None if named else _EXPECTED_AFTER.get(last.token_type)
    if expected is not None:
        expected = f"{expected} after '{last.text}'"
    elif _open_parentheses(tokens):
        expected = "a closing parenthesis ')'"
    else:
        return None
    end = last.end + 1
    line = sql.count("\n", 0, end) + 1
    column = end - sql.rfind("\n", 0, end)
    return SidecarError(
        ErrorCode.SYNTAX,
        f"syntax error at end of input (line {line}, column {column}): expected {expected}",
        hint="The statement stops where more must follow: complete it.",
        position=end + 1,
    )


def _open_parentheses(tokens: list[Token]) -> bool:
    depth = 0
    for token in tokens:
        if token.token_type == TokenType.L_PAREN:
            depth += 1
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1
    return depth > 0


# what a misspelled keyword tokenizes as: a plain word, or a quoted one (`"select" 1`, `""`)
_WORDS = (TokenType.VAR, TokenType.IDENTIFIER)


def _bare(statement: exp.Expression, tokens: list[Token]) -> bool:
    """Whether `statement` is a bare expression (a value, a name, `*`) led by a token no
    statement starts with."""
    return (
        isinstance(statement, exp.Alias | exp.Condition | exp.Star)
        and tokens[0].text.upper() not in _STATEMENT_REASONS
    )


def _unknown_leading_word(sql: str, dialect: str) -> SidecarError | None:
    """A statement starting with a plain word has a misspelled keyword, wherever sqlglot failed."""
    tokens = _tokenize(sql, dialect)
    if not tokens or tokens[0].token_type not in _WORDS:
        return None
    return _leading_token(sql, tokens[0])


def _leading_token(sql: str, token: Token) -> SidecarError:
    """The syntax error PostgreSQL reports for a statement that starts with no keyword: at its
    first token, as written (a quoted name with its quotes), naming the keyword a word is
    closest to."""
    start = token.start
    word = sql[start : token.end + 1]
    column = start - sql.rfind("\n", 0, start)
    close = difflib.get_close_matches(token.text.upper(), _STATEMENT_KEYWORDS, n=1)
    suggestion = f"did you mean {close[0]}? " if close and token.token_type in _WORDS else ""
    return SidecarError(
        ErrorCode.SYNTAX,
        f"syntax error at or near '{word}' (line {token.line}, column {column})",
        hint=f"{suggestion}A statement starts with {', '.join(_STATEMENT_KEYWORDS)}.",
        position=start + 1,
    )


def syntax_error(
    sql: str, error: ParseError | TokenError, dialect: str = DEFAULT_DIALECT
) -> SidecarError:
    """sqlglot's error for `sql` as the agent reads one: the token it stopped at, where it
    starts, and what the parser said, without sqlglot's own class names."""
    if isinstance(error, TokenError):
        return _token_error(error)
    return _syntax_error(sql, error, dialect)


def _syntax_error(sql: str, error: ParseError, dialect: str) -> SidecarError:
    if not error.errors:
        return SidecarError(ErrorCode.SYNTAX, f"syntax error: {error}")
    detail = error.errors[0]
    description = _readable(str(detail.get("description", "")))
    hint = f"The parser reported: {description}. SQL is read in the {dialect} dialect."
    start = _token_start(sql, detail.get("line"), detail.get("col"), dialect)
    if start is None:
        return SidecarError(ErrorCode.SYNTAX, f"syntax error: {description}", hint=hint)
    line = sql.count("\n", 0, start) + 1
    column = start - sql.rfind("\n", 0, start)
    return SidecarError(
        ErrorCode.SYNTAX,
        f"syntax error at or near '{detail.get('highlight')}' (line {line}, column {column})",
        hint=hint,
        position=start + 1,
    )


def _token_start(sql: str, line: object, col: object, dialect: str) -> int | None:
    """sqlglot reports where the bad token ends; the agent wants where it starts."""
    tokens = _tokenize(sql, dialect)
    return next((t.start for t in tokens if t.line == line and t.col == col), None)


def _token_error(error: TokenError) -> SidecarError:
    return SidecarError(
        ErrorCode.SYNTAX,
        f"syntax error: unterminated quoted string, quoted identifier or comment ({error})",
        hint="Close every quote, dollar quote ($$) and /* comment.",
    )


def _readable(description: str) -> str:
    """sqlglot's messages embed Python reprs of tokens and classes; keep only what they say."""
    description = _TOKEN_REPR.sub(
        lambda match: "the end of the input" if match[1] == "SENTINEL" else f"'{match[2]}'",
        description,
    )
    return _CLASS_REPR.sub(r"\1", description)


def _tokenize(sql: str, dialect: str) -> list[Token]:
    """Tokens of `sql`; the newline works around the tokenizer bug `parse` describes."""
    try:
        return _code_tokenizer(dialect)(dialect=dialect).tokenize(sql + "\n")
    except TokenError as error:
        raise _token_error(error) from error


@functools.cache
def _placeholder_parser(dialect: str) -> type[Parser]:
    """The dialect's parser, with each `?` placeholder keeping its offset in the text.

    `?` values are bound by position, and sqlglot neither records where a `?` stood nor walks
    its trees in text order (a CTE's nodes come after the query that uses it), so the offset is
    what tells the first `?` from the second.
    """
    base = Dialect.get_or_raise(dialect).parser_class

    class PlaceholderParser(base):  # type: ignore[misc, valid-type]
        # PostgreSQL's to_hex is lower case; sqlglot reads it as HEX, whose sources answer in
        # upper case (MySQL, DuckDB), and DataFusion has no HEX at all.
        FUNCTIONS: ClassVar = (
            {**base.FUNCTIONS, "TO_HEX": exp.LowerHex.from_arg_list}
            if dialect == "postgres"
            else base.FUNCTIONS
        )
        PLACEHOLDER_PARSERS: ClassVar = {
            **base.PLACEHOLDER_PARSERS,
            TokenType.PLACEHOLDER: lambda self: self.expression(
                exp.Placeholder(), token=self._prev
            ),
        }

        def _parse_interval_span(self, this: exp.Expr, **kwargs: bool) -> exp.Interval:
            """sqlglot reads `INTERVAL '1 day 04:05:06'` as its one `<number> <unit>` pair,
            `'1' DAY`, silently dropping the rest; such a string stays whole."""
            interval = super()._parse_interval_span(this, **kwargs)
            text = this.name if isinstance(this, exp.Literal) and this.is_string else None
            pairs = exp.INTERVAL_STRING_RE.findall(text) if text is not None else []
            if len(pairs) == 1 and not exp.INTERVAL_STRING_RE.fullmatch(text or ""):
                interval.set("this", this)
                interval.set("unit", None)
                interval.set("fraction_in_string", None)
            return interval

    return PlaceholderParser


@functools.cache
def _code_tokenizer(dialect: str) -> type[Tokenizer]:
    """The dialect's tokenizer without "commands", so every word of EXPLAIN and SHOW is seen.

    sqlglot's own tokenizer swallows whatever follows EXPLAIN, SHOW, VACUUM... as one string
    token, which would hide the explained query from the checks that read tokens.
    """

    class CodeTokenizer(placeholders.dialect_tokenizer(dialect)):  # type: ignore[valid-type, misc]
        COMMANDS: ClassVar[set[TokenType]] = set()

    return CodeTokenizer


def _split_statements(tokens: list[Token]) -> list[list[Token]]:
    return [chunk for chunk in _split_on(tokens, TokenType.SEMICOLON) if chunk]


def _split_on(tokens: list[Token], separator: TokenType) -> list[list[Token]]:
    chunks: list[list[Token]] = [[]]
    for token in tokens:
        if token.token_type == separator:
            chunks.append([])
        else:
            chunks[-1].append(token)
    return chunks


def _word(token: Token) -> str:
    """The upper-cased keyword or name a token spells, or "" for literals and punctuation."""
    if token.token_type in _OPAQUE_TOKENS or not _WORD.fullmatch(token.text):
        return ""
    return token.text.upper()


def _position(node: exp.Expression) -> int | None:
    start = node.meta.get("start")
    return start + 1 if isinstance(start, int) else None


def _blank(text: str) -> str:
    """Spaces for everything but line breaks, so offsets and line numbers survive a re-parse."""
    return re.sub(r"[^\r\n]", " ", text)
