"""The chat agent's SQL tool, read-only and scoped to one player by construction.

Whatever the model writes, a query reaches the database only if

1. it parses (sqlglot) as exactly one statement, and that statement is a SELECT (or a
   UNION/INTERSECT/EXCEPT of SELECTs, with or without a WITH clause);
2. no node anywhere in it writes, changes the schema or the session (INSERT, UPDATE,
   DELETE, DROP, CREATE, ALTER, ATTACH, PRAGMA, SET, SELECT INTO, COPY, ...), and it calls
   no function from a deny-list (load_extension, readfile, set_config, ..., and every
   ``pg_*``, ``lo_*``, ``dblink*`` and ``txid_*`` function);
3. every table it names is in the allow-list, unqualified (no ``main.``, no
   ``pg_catalog.``, no ``sqlite_master``).

The accepted query is then rewritten: every table reference becomes a subquery that holds
only the current player's rows (``sessions`` -> ``(SELECT * FROM sessions WHERE user_id =
42) AS sessions``, ``notes`` -> the notes of the player's sessions, ...), so no join, alias
or comment trick can reach another player's rows. It runs on a read-only connection
(SQLite ``mode=ro`` + ``query_only``; PostgreSQL a read-only transaction, rolled back,
under a role that may only SELECT FretCoach's tables) with a time limit
(SQLite progress handler; PostgreSQL ``statement_timeout``) and a row cap. Every failure
comes back as one short sentence for the model, never a traceback.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp

#: table -> how its rows belong to a player ({uid} is the player's integer id)
_OWN_SESSIONS = "SELECT id FROM sessions WHERE user_id = {uid}"
SCOPES: Mapping[str, str] = {
    "users": "SELECT * FROM users WHERE id = {uid}",
    "sessions": "SELECT * FROM sessions WHERE user_id = {uid}",
    "practice_plans": "SELECT * FROM practice_plans WHERE user_id = {uid}",
    "chat_messages": "SELECT * FROM chat_messages WHERE user_id = {uid}",
    "calibrations": "SELECT * FROM calibrations WHERE user_id = {uid}",
    "session_windows": f"SELECT * FROM session_windows WHERE session_id IN ({_OWN_SESSIONS})",
    "notes": f"SELECT * FROM notes WHERE session_id IN ({_OWN_SESSIONS})",
    "coach_messages": f"SELECT * FROM coach_messages WHERE session_id IN ({_OWN_SESSIONS})",
}

_FORBIDDEN_NODES = tuple(
    getattr(exp, name)
    for name in (
        "Insert",
        "Update",
        "Delete",
        "Drop",
        "Create",
        "Alter",
        "Command",
        "Pragma",
        "Attach",
        "Detach",
        "Transaction",
        "Commit",
        "Rollback",
        "Set",
        "Merge",
        "Into",
        "Copy",
        "LoadData",
        "Use",
        "Grant",
        "Analyze",
        "Kill",
        "Lock",
    )  # fmt: skip
    if hasattr(exp, name)
)

_FORBIDDEN_FUNCTIONS = frozenset(
    {
        "load_extension",
        "readfile",
        "writefile",
        "edit",
        "fts3_tokenizer",
        "zeroblob",
        "randomblob",
        "sqlite_compileoption_get",
        "sqlite_compileoption_used",
        "sqlite_offset",
        "pg_sleep",
        "pg_sleep_for",
        "pg_sleep_until",
        "sleep",
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_stat_file",
        "lo_import",
        "lo_export",
        "lo_get",
        "dblink",
        "dblink_exec",
        "current_setting",
        "set_config",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "query_to_xml",
        "pg_advisory_lock",
        "txid_current",
        "nextval",
        "setval",
    }  # fmt: skip
)


#: whole families: PostgreSQL's server and catalog functions (files, settings, backends,
#: WAL, notifications...), large objects (they write), dblink (another connection) and
#: transaction ids. A question about the player's practice needs none of them.
_FORBIDDEN_PREFIXES = ("pg_", "lo_", "dblink", "txid_")


class QueryRejected(ValueError):
    """The query is not a single, safe SELECT over the allowed tables."""


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool
    elapsed_ms: float
    sql: str = field(repr=False, default="")

    def as_text(self, max_chars: int = 6000) -> str:
        """A compact table for the model."""
        if not self.rows:
            return "(no rows)"
        lines = [" | ".join(self.columns)]
        for row in self.rows:
            lines.append(" | ".join("" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v)) for v in row))
        if self.truncated:
            lines.append(f"(only the first {len(self.rows)} rows are shown)")
        text = "\n".join(lines)
        return text if len(text) <= max_chars else text[:max_chars] + "\n(output cut)"


def scoped_sql(query: str, user_id: int, *, dialect: str = "sqlite", row_cap: int = 200) -> str:
    """Validate ``query`` and return the SQL that will really run (scoped and capped).

    Raises QueryRejected with a short, model-readable reason.
    """
    if not isinstance(user_id, int):
        raise TypeError("user_id must be an int")
    text = (query or "").strip()
    if not text:
        raise QueryRejected("the query is empty")
    if len(text) > 5000:
        raise QueryRejected("the query is too long (5000 characters at most)")
    try:
        statements = [s for s in sqlglot.parse(text, read=dialect) if s is not None]
    except sqlglot.errors.ParseError as exc:
        first = str(exc).splitlines()[0] if str(exc) else "syntax error"
        raise QueryRejected(f"the query does not parse: {first[:200]}") from None
    if len(statements) != 1:
        raise QueryRejected("send exactly one SELECT statement")
    tree = statements[0]
    if not isinstance(tree, exp.Select | exp.Union | exp.Intersect | exp.Except):
        raise QueryRejected("only SELECT queries are allowed")
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            raise QueryRejected(f"{node.key.upper()} is not allowed: the data is read-only")
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in _FORBIDDEN_FUNCTIONS or name.startswith(_FORBIDDEN_PREFIXES):
                raise QueryRejected(f"the function {name}() is not allowed")
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}

    def scope(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Table) or not node.name:
            return node
        name = node.name.lower()
        if node.args.get("db") or node.args.get("catalog"):
            raise QueryRejected(f"qualified table names such as {node.sql(dialect=dialect)} are not allowed")
        if name in ctes and not node.args.get("db"):
            return node
        if name not in SCOPES:
            allowed = ", ".join(sorted(SCOPES))
            raise QueryRejected(f"unknown or forbidden table {node.name!r}; tables: {allowed}")
        sub = sqlglot.parse_one(SCOPES[name].format(uid=user_id), read=dialect)
        alias = node.alias or node.name
        return exp.Subquery(this=sub, alias=exp.TableAlias(this=exp.to_identifier(alias)))

    scoped = tree.transform(scope, copy=True)
    inner = scoped.sql(dialect=dialect)
    return f"SELECT * FROM ({inner}) AS fc_result LIMIT {int(row_cap) + 1}"


class SafeSQL:
    """Runs model-written queries for one player on a read-only SQLAlchemy engine."""

    def __init__(self, engine: Any, user_id: int, *, row_cap: int = 200, timeout_s: float = 2.0) -> None:
        self.engine = engine
        self.user_id = int(user_id)
        self.row_cap = row_cap
        self.timeout_s = timeout_s
        self.dialect = "postgres" if engine.dialect.name.startswith("postgres") else "sqlite"

    def run(self, query: str) -> QueryResult:
        """Run ``query``; raises QueryRejected (with a short reason) on anything unsafe or failing."""
        sql = scoped_sql(query, self.user_id, dialect=self.dialect, row_cap=self.row_cap)
        start = time.perf_counter()
        try:
            with self.engine.connect() as conn:
                raw = conn.connection.dbapi_connection
                if self.dialect == "sqlite":
                    deadline = start + self.timeout_s
                    raw.execute("PRAGMA query_only = ON")
                    raw.set_progress_handler(lambda: 1 if time.perf_counter() > deadline else 0, 2000)
                    try:
                        cur = raw.execute(sql)
                        columns = [d[0] for d in cur.description or ()]
                        rows = cur.fetchmany(self.row_cap + 1)
                    finally:
                        raw.set_progress_handler(None, 0)
                else:
                    cur = raw.cursor()
                    try:
                        cur.execute("BEGIN READ ONLY")
                        cur.execute(f"SET LOCAL statement_timeout = {int(self.timeout_s * 1000)}")
                        cur.execute(sql)
                        columns = [d[0] for d in cur.description or ()]
                        rows = cur.fetchmany(self.row_cap + 1)
                    finally:
                        cur.execute("ROLLBACK")
                        cur.close()
        except QueryRejected:
            raise
        except Exception as exc:  # the database said no: tell the model in one line
            raise QueryRejected(_db_error(exc, time.perf_counter() - start >= self.timeout_s * 0.95)) from None
        elapsed = (time.perf_counter() - start) * 1000.0
        truncated = len(rows) > self.row_cap
        return QueryResult(columns, [tuple(r) for r in rows[: self.row_cap]], truncated, elapsed, sql)


def _db_error(exc: Exception, timed_out: bool) -> str:
    text = str(exc).lower()
    if timed_out or "interrupted" in text or "statement timeout" in text or "canceling statement" in text:
        return "the query took too long and was stopped; simplify it (filter, aggregate, LIMIT)"
    if "readonly" in text or "read-only" in text or "read only" in text:
        return "the data is read-only"
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    # drop the driver's class prefix, keep the database's own words
    return "the database rejected the query: " + first.split(") ", 1)[-1][:200]
