"""The SQL that copies what research.db publishes out of forms.db (attached as ``src``).

Used by :mod:`forms_server.publish`; the statements run on a connection to a research
build with ``forms.db`` attached read-only as ``src`` and the functions ``fs_pseudo``,
``fs_pseudo_ref`` and ``fs_local_date`` registered.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence

from forms_server.research_tables import (
    CHOICE_LABELS,
    STATE,
    Column,
    ResearchTable,
    choice_label_rows,
    label_language_column,
    languages,
)
from forms_server.storage import CHANGES


def quote(name: str) -> str:
    """An SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def create_sql(table: ResearchTable) -> str:
    columns = [
        f"{quote(c.name)} {c.type}" + (" PRIMARY KEY" if c.name == "_id" else "")
        for c in table.columns
    ]
    references = []
    if table.repeat is not None:
        references.append(f"FOREIGN KEY (_submission_id) REFERENCES {quote(table.form.id)}(_id)")
        if table.plan.parent is not None:
            references.append(
                f"FOREIGN KEY (_parent_id) REFERENCES {quote(table.plan.parent)}(_id)"
            )
    return f"CREATE TABLE main.{quote(table.name)} ({', '.join(columns + references)})"


def index_sql(table: str, column: str) -> str:
    return (
        f"CREATE INDEX IF NOT EXISTS main.{quote(f'idx_{table}_{column}')} "
        f"ON {quote(table)} ({quote(column)})"
    )


_FORM_SOURCES = {
    "_id": "fs_pseudo(s.id)",
    "_version": "s.form_version",
    "_completed_at": "coalesce(s.completed_at, s.received_at)",
    "_completed_date": "fs_local_date(coalesce(s.completed_at, s.received_at))",
    "_review_status": "s.review_status",
}
_REPEAT_SOURCES = {
    "_id": "fs_pseudo_ref(t._id)",
    "_submission_id": "fs_pseudo(t._submission_id)",
    "_parent_id": "fs_pseudo_ref(t._parent_id)",
    "_position": "t._position",
}
# In a sync, temp.fs_batch already holds each submission's pseudonym (b.pseudo), worked
# out once in Python: the rows take it from there rather than calling back into Python
# for every row. An entry's id (and its parent's) is the submission id, "/", and the
# rest, which it keeps: the same as fs_pseudo_ref gives.
_BATCH_FORM_SOURCES = {"_id": "b.pseudo"}
_BATCH_REPEAT_SOURCES = {
    "_id": "b.pseudo || substr(t._id, length(b.sid) + 1)",
    "_submission_id": "b.pseudo",
    "_parent_id": "b.pseudo || substr(t._parent_id, length(b.sid) + 1)",
}


def insert_sql(table: ResearchTable, *, batch: bool) -> str:
    """Copy what ``table`` publishes from forms.db: every submission, or the batch's."""
    top = table.repeat is None
    sources = _FORM_SOURCES if top else _REPEAT_SOURCES
    if batch:
        sources = {**sources, **(_BATCH_FORM_SOURCES if top else _BATCH_REPEAT_SOURCES)}
    key = "t._id" if top else "t._submission_id"
    values = [_source(c, sources) for c in table.columns]
    where = f"s.id = {key} AND s.deleted = 0 AND s.form_id = {literal(table.form.id)}"
    # CROSS JOIN fixes the order: from the batch's ids (or the whole private table) to
    # each row by its key, never a scan of every submission of the form.
    tables = f"src.{quote(table.name)} AS t CROSS JOIN src.submissions AS s"
    if batch:
        tables = f"temp.fs_batch AS b CROSS JOIN {tables}"
        where = f"{key} = b.sid AND {where}"
    return (
        f"INSERT INTO main.{quote(table.name)} ({', '.join(quote(c.name) for c in table.columns)}) "
        f"SELECT {', '.join(values)} FROM {tables} WHERE {where}"
    )


def _source(column: Column, sources: Mapping[str, str]) -> str:
    if column.kind == "system":
        return sources[column.name]
    assert column.question is not None
    value = f"t.{quote(column.question.name)}"
    if column.kind == "answer":
        return f"nullif({value}, '')" if column.type == "NUMERIC" else value
    cases = " ".join(
        f"WHEN {literal(v)} THEN {literal(label)}" for v, label in column.labels.items()
    )
    return f"CASE {value} {cases} END" if cases else "NULL"


def choice_columns(tables: Sequence[ResearchTable]) -> list[str]:
    base = ["form_id", "table_name", "question", "value", "position"]
    return base + [label_language_column(lang) for lang in languages(tables)]


def create_side_tables(conn: sqlite3.Connection, tables: Sequence[ResearchTable]) -> None:
    columns = choice_columns(tables)
    types = {"position": "INTEGER"}
    conn.execute(
        f"CREATE TABLE main.{CHOICE_LABELS} ("
        + ", ".join(f"{quote(c)} {types.get(c, 'TEXT')}" for c in columns)
        + ", PRIMARY KEY (form_id, question, value))"
    )
    conn.execute(f"CREATE TABLE main.{STATE} (key TEXT PRIMARY KEY, value TEXT)")


def insert_rows_sql(table: str, columns: Sequence[str]) -> str:
    return (
        f"INSERT OR REPLACE INTO main.{quote(table)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join('?' for _ in columns)})"
    )


def read_state(conn: sqlite3.Connection) -> dict[str, str]:
    try:
        return dict(conn.execute(f"SELECT key, value FROM main.{STATE}").fetchall())
    except sqlite3.OperationalError:
        return {}


def write_state(conn: sqlite3.Connection, values: Mapping[str, str]) -> None:
    conn.executemany(
        f"INSERT OR REPLACE INTO main.{STATE} (key, value) VALUES (?, ?)", list(values.items())
    )


def applied_seq(conn: sqlite3.Connection) -> int:
    row = conn.execute(f"SELECT value FROM main.{STATE} WHERE key = 'applied_seq'").fetchone()
    return int(row[0]) if row else -1


def has_data(
    conn: sqlite3.Connection,
    tables: Mapping[str, ResearchTable],
    added: Mapping[str, Sequence[str]],
) -> bool:
    """Whether submissions already published have values for columns just added in
    forms.db (then only a rebuild fills them in)."""
    applied = applied_seq(conn)
    for name, columns in added.items():
        table = tables.get(name)
        if table is None:
            continue
        key = "_id" if table.repeat is None else "_submission_id"
        published = f"{quote(key)} IN (SELECT submission_id FROM src.{CHANGES} WHERE seq <= ?)"
        new_table = any(table.column(c).kind == "system" for c in columns)
        conditions = (
            ["1"]
            if new_table
            else [f"{quote(_source_name(table, c))} IS NOT NULL" for c in columns]
        )
        for condition in sorted(set(conditions)):
            sql = f"SELECT 1 FROM src.{quote(name)} WHERE {condition} AND {published} LIMIT 1"
            if conn.execute(sql, [applied]).fetchone() is not None:
                return True
    return False


def _source_name(table: ResearchTable, column: str) -> str:
    """The forms.db column a question's (or its label's) research column comes from."""
    question = table.column(column).question
    assert question is not None
    return question.name


def write_choice_labels(conn: sqlite3.Connection, tables: Sequence[ResearchTable]) -> None:
    """(Re)write :data:`CHOICE_LABELS` for ``tables``."""
    conn.execute(f"DELETE FROM main.{CHOICE_LABELS}")
    conn.executemany(
        insert_rows_sql(CHOICE_LABELS, choice_columns(tables)),
        [list(r.values()) for r in choice_label_rows(tables)],
    )
