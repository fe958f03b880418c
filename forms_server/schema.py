"""The tables of ``forms.db``: what each form needs, and the additive upgrades that get it there.

Every form has its own typed table, named as the form's id, and one child table per
repeat, named ``<form_id>__<repeat_name>``. A new form version only ever *adds*: new
tables, new columns. Columns of removed questions stay with their data; a question whose
type changed keeps its old column and type (SQLite stores the new values in it anyway, as
the tables are not STRICT), and the kept type is written down in ``_schema_versions``.

Column types:

- integer → INTEGER; decimal → REAL; range → INTEGER when start, end and step are whole
  numbers, else REAL;
- select_multiple and rank → TEXT holding a JSON array;
- everything else that has an answer (text, select_one, date, time, datetime, geopoint,
  barcode, hidden, calculate, acknowledge, image, file) → TEXT.

A repeat entry's ``_id`` is ``<submission id>/<repeat name>/<positions>``, the positions
of its enclosing entries and its own joined by dots (``…/vaccines/2.1``): stable, readable,
and the same whenever the tables are rebuilt. ``_submission_id`` refers to the form
table's ``_id`` (which refers to ``submissions.id``), ``_parent_id`` to the enclosing
entry of a nested repeat.

A form owns the tables its versions created, as ``_schema_versions`` records them; a
table that exists without belonging to the form (``submissions``, another form's, one
made by another module) is never taken over: :class:`SchemaError`.

:func:`apply_schema` runs inside the caller's write transaction; ``storage`` owns that.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlite_utils import Database

from forms_server.model import Form, Question

#: The table of every submission, whatever its form.
SUBMISSIONS = "submissions"
#: The log of applied form schemas: one row per (form, version) and per later change.
SCHEMA_VERSIONS = "_schema_versions"

#: System columns of a form's own table, before the question columns.
FORM_COLUMNS: Mapping[str, str] = {
    "_id": "TEXT",
    "_version": "TEXT",
    "_submitted_by": "TEXT",
    "_completed_at": "TEXT",
    "_received_at": "TEXT",
    "_review_status": "TEXT",
}
#: System columns of a repeat's child table, before the question columns.
REPEAT_COLUMNS: Mapping[str, str] = {
    "_id": "TEXT",
    "_submission_id": "TEXT",
    "_parent_id": "TEXT",
    "_position": "INTEGER",
}

_TYPES = {"integer": "INTEGER", "decimal": "REAL"}
#: Question types whose answer is a list, stored as a JSON array.
LIST_TYPES = frozenset({"select_multiple", "rank"})


class SchemaError(Exception):
    """A form's tables cannot be created: a name is taken by something else in the file."""


@dataclass(frozen=True)
class TablePlan:
    """One table a form needs: the form's own table (``repeat`` None) or a repeat's."""

    name: str
    #: The repeat this table holds; None for the form's own table.
    repeat: str | None
    #: The table the ``_parent_id`` column refers to (nested repeats only).
    parent: str | None
    #: Question name -> SQL type, in document order.
    columns: Mapping[str, str]
    #: Question columns holding a JSON array.
    list_columns: frozenset[str]
    #: Repeats whose entries belong to one row of this table.
    repeats: tuple[str, ...]


@dataclass(frozen=True)
class Migration:
    """What :func:`apply_schema` did for one form."""

    form_id: str
    version: str
    created_tables: tuple[str, ...] = ()
    #: ``table.column`` of every column added to a table that already existed.
    added_columns: tuple[str, ...] = ()
    #: ``table.column`` -> (type kept, type the current version would want).
    kept_types: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.created_tables or self.added_columns)


def table_name(form_id: str, repeat: str | None = None) -> str:
    """The table of a form, or of one of its repeats."""
    return form_id if repeat is None else f"{form_id}__{repeat}"


def column_type(question: Question) -> str:
    """The SQL type of a question's column."""
    if question.type == "range":
        whole = all(
            float(question.parameters.get(k, 1)).is_integer() for k in ("start", "end", "step")
        )
        return "INTEGER" if whole else "REAL"
    return _TYPES.get(question.type, "TEXT")


def plan_tables(form: Form) -> dict[str | None, TablePlan]:
    """The tables ``form`` needs, keyed by repeat name (None: the form's own), parents first."""
    levels: dict[str | None, list[Question]] = {None: []}
    for question in form.walk():
        if question.type == "repeat":
            levels[question.name] = []
        if question.has_answer or question.type == "repeat":
            levels[question.repeats[-1] if question.repeats else None].append(question)
    plans: dict[str | None, TablePlan] = {}
    for repeat, questions in levels.items():
        outer = form.by_name[repeat].repeats if repeat is not None else ()
        plans[repeat] = TablePlan(
            name=table_name(form.id, repeat),
            repeat=repeat,
            parent=table_name(form.id, outer[-1]) if outer else None,
            columns={q.name: column_type(q) for q in questions if q.has_answer},
            list_columns=frozenset(q.name for q in questions if q.type in LIST_TYPES),
            repeats=tuple(q.name for q in questions if q.type == "repeat"),
        )
    return plans


def create_base_tables(db: Database) -> None:
    """Create the tables every ``forms.db`` has, if missing."""
    db.table(SUBMISSIONS).create(
        {
            "id": "TEXT",
            "form_id": "TEXT",
            "form_version": "TEXT",
            "submitted_by": "TEXT",
            "started_at": "TEXT",
            "completed_at": "TEXT",
            "received_at": "TEXT",
            "review_status": "TEXT",
            "content_hash": "TEXT",
            "data": "TEXT",
            "instance_name": "TEXT",
            "deleted": "INTEGER",
        },
        pk="id",
        not_null=[
            "form_id",
            "form_version",
            "received_at",
            "review_status",
            "content_hash",
            "data",
            "deleted",
        ],
        defaults={"review_status": "received", "deleted": 0},
        if_not_exists=True,
    )
    db.table(SUBMISSIONS).create_index(["form_id", "received_at"], if_not_exists=True)
    db.table(SCHEMA_VERSIONS).create(
        {
            "id": "INTEGER",
            "form_id": "TEXT",
            "version": "TEXT",
            "applied_at": "TEXT",
            "columns": "TEXT",
            "changes": "TEXT",
        },
        pk="id",
        not_null=["form_id", "version", "applied_at", "columns", "changes"],
        if_not_exists=True,
    )
    db.table(SCHEMA_VERSIONS).create_index(["form_id"], if_not_exists=True)


def apply_schema(
    db: Database, form: Form, plans: Mapping[str | None, TablePlan], applied_at: str
) -> Migration:
    """Create or extend ``form``'s tables and log it; call inside a write transaction.

    A (form, version) is logged the first time it is applied and again whenever applying
    it changed something, so the log shows every column that was ever added, and when.
    """
    owned = _owned_tables(db, form.id)
    existing = set(db.table_names())
    for plan in plans.values():
        if plan.name in existing and plan.name not in owned:
            raise SchemaError(
                f"form '{form.id}' needs the table '{plan.name}', which already exists in the "
                "database and does not belong to this form: rename the form or the repeat"
            )
    created: list[str] = []
    added: list[str] = []
    kept: dict[str, tuple[str, str]] = {}
    for plan in plans.values():
        table = db.table(plan.name)
        if plan.name not in existing:
            _create(db, form.id, plan)
            created.append(plan.name)
            continue
        actual = {c.name: c.type for c in table.columns}
        for name, wanted in plan.columns.items():
            if name not in actual:
                table.add_column(name, wanted)
                added.append(f"{plan.name}.{name}")
            elif actual[name].upper() != wanted:
                kept[f"{plan.name}.{name}"] = (actual[name], wanted)
    migration = Migration(form.id, form.version, tuple(created), tuple(added), kept)
    logged = db.execute(
        f"SELECT 1 FROM {SCHEMA_VERSIONS} WHERE form_id = ? AND version = ? LIMIT 1",
        [form.id, form.version],
    ).fetchone()
    if migration.changed or logged is None:
        tables = sorted(owned | {p.name for p in plans.values()})
        columns = {t: {c.name: c.type for c in db.table(t).columns} for t in tables}
        changes = {
            "created_tables": created,
            "added_columns": added,
            "kept_types": {k: {"kept": a, "wanted": b} for k, (a, b) in kept.items()},
        }
        db.table(SCHEMA_VERSIONS).insert(
            {
                "form_id": form.id,
                "version": form.version,
                "applied_at": applied_at,
                "columns": json.dumps(columns),
                "changes": json.dumps(changes),
            }
        )
    return migration


def _owned_tables(db: Database, form_id: str) -> set[str]:
    """Tables an earlier version of this form created, as the schema log records them."""
    rows = db.execute(
        f"SELECT DISTINCT j.key FROM {SCHEMA_VERSIONS}, json_each({SCHEMA_VERSIONS}.columns) "
        "AS j WHERE form_id = ?",
        [form_id],
    ).fetchall()
    return {str(row[0]) for row in rows}


def _create(db: Database, form_id: str, plan: TablePlan) -> None:
    if plan.repeat is None:
        system = FORM_COLUMNS
        foreign_keys = [("_id", SUBMISSIONS, "id")]
        defaults = {"_review_status": "received"}
        not_null = ["_version", "_received_at", "_review_status"]
    else:
        # Children point at the form's typed row (not at ``submissions``), so the links
        # still hold in research.db, which has the form tables but not the raw JSON.
        system = REPEAT_COLUMNS
        foreign_keys = [("_submission_id", table_name(form_id), "_id")]
        if plan.parent is not None:
            foreign_keys.append(("_parent_id", plan.parent, "_id"))
        defaults = {}
        not_null = ["_submission_id", "_position"]
    table = db.table(plan.name)
    table.create(
        {**system, **plan.columns},
        pk="_id",
        foreign_keys=foreign_keys,
        not_null=not_null,
        defaults=defaults,
    )
    if plan.repeat is not None:
        table.create_index(["_submission_id"])
        if plan.parent is not None:
            table.create_index(["_parent_id"])
