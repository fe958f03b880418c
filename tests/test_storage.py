"""Storage: every submission is stored once, whole, in typed tables that only ever grow;
many at once in one transaction (save_many, and the event loop's group commit)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlite_utils

from forms_server.loader import load_text
from forms_server.model import Form
from forms_server.schema import SchemaError
from forms_server.storage import Busy, NewSubmission, SaveResult, SaveStatus, Storage
from forms_server.writer import BatchWriter

from .conftest import ROOT

HOUSEHOLD_V1 = """
    id: household
    version: 1
    title: Household visit
    questions:
      - {name: respondent, type: text, label: Name, sensitive: true}
      - {name: visit_date, type: date, label: Visit date}
      - {name: household_size, type: integer, label: People}
      - name: work
        type: group
        label: Work
        questions:
          - {name: wage, type: decimal, label: Monthly wage}
          - {name: problems, type: select_multiple, choices: problems, label: Problems}
      - name: satisfaction
        type: range
        label: Satisfaction
        parameters: {start: 1, end: 5, step: 1}
      - name: share
        type: range
        label: Share
        parameters: {start: 0, end: 1, step: 0.1}
      - {name: thanks, type: note, label: Thank you}
      - name: children
        type: repeat
        label: Children
        questions:
          - {name: child_name, type: text, label: Name}
          - {name: child_age, type: integer, label: Age}
          - name: vaccines
            type: repeat
            label: Vaccines
            questions:
              - {name: vaccine, type: select_one, choices: vaccines, label: Vaccine}
              - {name: vaccine_date, type: date, label: Date}
    choices:
      problems:
        - {value: wage_arrears, label: Unpaid wages}
        - {value: no_contract, label: No contract}
      vaccines:
        - {value: bcg, label: BCG}
        - {value: polio, label: Polio}
    """

# Version 2: visit_date removed, phone and school added, household_size now decimal,
# a new repeat of jobs.
HOUSEHOLD_V2 = """
    id: household
    version: 2
    title: Household visit
    questions:
      - {name: respondent, type: text, label: Name, sensitive: true}
      - {name: phone, type: text, label: Phone, sensitive: true}
      - {name: household_size, type: decimal, label: People}
      - name: work
        type: group
        label: Work
        questions:
          - {name: wage, type: decimal, label: Monthly wage}
          - {name: problems, type: select_multiple, choices: problems, label: Problems}
      - name: satisfaction
        type: range
        label: Satisfaction
        parameters: {start: 1, end: 5, step: 1}
      - name: share
        type: range
        label: Share
        parameters: {start: 0, end: 1, step: 0.1}
      - name: children
        type: repeat
        label: Children
        questions:
          - {name: child_name, type: text, label: Name}
          - {name: child_age, type: integer, label: Age}
          - {name: school, type: text, label: School}
          - name: vaccines
            type: repeat
            label: Vaccines
            questions:
              - {name: vaccine, type: select_one, choices: vaccines, label: Vaccine}
              - {name: vaccine_date, type: date, label: Date}
      - name: jobs
        type: repeat
        label: Jobs
        questions:
          - {name: employer, type: text, label: Employer}
    choices:
      problems:
        - {value: wage_arrears, label: Unpaid wages}
        - {value: no_contract, label: No contract}
      vaccines:
        - {value: bcg, label: BCG}
        - {value: polio, label: Polio}
    """

OTHER_FORM = """
    id: other
    version: 1
    title: Other
    questions:
      - {name: respondent, type: text, label: Name}
    """

ANSWERS: dict[str, Any] = {
    "respondent": "王芳",
    "visit_date": "2026-11-02",
    "household_size": 4,
    "wage": 5200.5,
    "problems": ["wage_arrears", "no_contract"],
    "satisfaction": 4,
    "share": 0.5,
    "children": [
        {
            "child_name": "小明",
            "child_age": 7,
            "vaccines": [
                {"vaccine": "bcg", "vaccine_date": "2020-01-02"},
                {"vaccine": "polio", "vaccine_date": None},
            ],
        },
        {"child_name": "小红", "child_age": 3, "vaccines": []},
    ],
}
SID = "0b7c6c1e-3f1a-4f6e-9d55-2a8f7c4e1b90"
SINCE_START = {"started_at": "2026-11-29T09:00:00+08:00", "completed_at": "2026-11-29T01:10:00Z"}


def _form(text: str) -> Form:
    form, problems = load_text(textwrap.dedent(text).lstrip("\n"), "inline.yaml")
    assert form is not None, [p.format() for p in problems]
    return form


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "forms.db"


@pytest.fixture
def storage(path: Path) -> Iterator[Storage]:
    with Storage(path) as opened:
        yield opened


@pytest.fixture
def household() -> Form:
    return _form(HOUSEHOLD_V1)


def _columns(path: Path, table: str) -> dict[str, str]:
    with sqlite3.connect(path) as conn:
        return {row[1]: row[2] for row in conn.execute(f'PRAGMA table_info("{table}")')}


def _dump(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, read through a connection of its own."""
    db = sqlite_utils.Database(path)
    try:
        return {name: list(db.table(name).rows) for name in db.table_names()}
    finally:
        db.close()


def _sql(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


# -- schema ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "column", "sql_type"),
    [
        ("household", "_id", "TEXT"),
        ("household", "_version", "TEXT"),
        ("household", "_submitted_by", "TEXT"),
        ("household", "_completed_at", "TEXT"),
        ("household", "_received_at", "TEXT"),
        ("household", "_review_status", "TEXT"),
        ("household", "respondent", "TEXT"),
        ("household", "visit_date", "TEXT"),
        ("household", "household_size", "INTEGER"),
        ("household", "wage", "REAL"),
        ("household", "problems", "TEXT"),
        ("household", "satisfaction", "INTEGER"),
        ("household", "share", "REAL"),
        ("household__children", "_id", "TEXT"),
        ("household__children", "_submission_id", "TEXT"),
        ("household__children", "_parent_id", "TEXT"),
        ("household__children", "_position", "INTEGER"),
        ("household__children", "child_name", "TEXT"),
        ("household__children", "child_age", "INTEGER"),
        ("household__vaccines", "_parent_id", "TEXT"),
        ("household__vaccines", "vaccine", "TEXT"),
        ("household__vaccines", "vaccine_date", "TEXT"),
    ],
)
def test_each_question_with_an_answer_gets_a_typed_column(
    storage: Storage, household: Form, path: Path, table: str, column: str, sql_type: str
) -> None:
    storage.ensure_schema(household)
    assert _columns(path, table)[column] == sql_type


def test_groups_notes_and_repeats_are_not_columns_and_repeats_have_their_own_tables(
    storage: Storage, household: Form, path: Path
) -> None:
    storage.ensure_schema(household)
    assert list(_columns(path, "household"))[6:] == [
        "respondent",
        "visit_date",
        "household_size",
        "wage",
        "problems",
        "satisfaction",
        "share",
    ]
    assert list(_columns(path, "household__children"))[4:] == ["child_name", "child_age"]
    assert list(_columns(path, "household__vaccines"))[4:] == ["vaccine", "vaccine_date"]


def test_tables_are_linked_by_foreign_keys(storage: Storage, household: Form, path: Path) -> None:
    storage.ensure_schema(household)
    db = sqlite_utils.Database(path)
    try:
        links = {
            (fk.table, fk.column, fk.other_table, fk.other_column)
            for name in ("household", "household__children", "household__vaccines")
            for fk in db.table(name).foreign_keys
        }
    finally:
        db.close()
    assert links == {
        ("household", "_id", "submissions", "id"),
        ("household__children", "_submission_id", "household", "_id"),
        ("household__vaccines", "_submission_id", "household", "_id"),
        ("household__vaccines", "_parent_id", "household__children", "_id"),
    }


def test_ensuring_the_same_version_twice_changes_nothing(storage: Storage, household: Form) -> None:
    first = storage.ensure_schema(household)
    again = storage.ensure_schema(household)
    assert first.created_tables == ("household", "household__children", "household__vaccines")
    assert not again.changed
    assert len(storage.schema_history("household")) == 1


def test_a_form_cannot_take_a_table_that_is_not_its_own(storage: Storage) -> None:
    with pytest.raises(SchemaError):
        storage.ensure_schema(_form(OTHER_FORM.replace("id: other", "id: submissions")))


# -- saving ---------------------------------------------------------------------------


def test_a_save_lands_in_submissions_the_form_table_and_the_repeat_tables(
    storage: Storage, household: Form, path: Path
) -> None:
    result = storage.save(
        household, SID, ANSWERS, submitted_by="lin", instance_name="王芳", **SINCE_START
    )
    assert result.status == SaveStatus.CREATED
    assert result.received_at.endswith("Z")

    ((meta),) = _dump(path)["submissions"]
    assert {
        k: meta[k]
        for k in (
            "form_id",
            "form_version",
            "submitted_by",
            "instance_name",
            "review_status",
            "deleted",
        )
    } == {
        "form_id": "household",
        "form_version": "1",
        "submitted_by": "lin",
        "instance_name": "王芳",
        "review_status": "received",
        "deleted": 0,
    }
    # Timestamps are stored in UTC, whatever zone they came in.
    assert meta["started_at"] == "2026-11-29T01:00:00.000Z"
    assert meta["completed_at"] == "2026-11-29T01:10:00.000Z"
    assert meta["content_hash"] == result.content_hash
    assert len(result.content_hash) == 64
    assert json.loads(meta["data"]) == ANSWERS

    ((row),) = storage.form_rows("household")
    assert {
        k: row[k]
        for k in (
            "_id",
            "_version",
            "_submitted_by",
            "_completed_at",
            "_received_at",
            "_review_status",
            "respondent",
            "visit_date",
        )
    } == {
        "_id": SID,
        "_version": "1",
        "_submitted_by": "lin",
        "_completed_at": "2026-11-29T01:10:00.000Z",
        "_received_at": result.received_at,
        "_review_status": "received",
        "respondent": "王芳",
        "visit_date": "2026-11-02",
    }
    assert json.loads(row["problems"]) == ["wage_arrears", "no_contract"]
    types = _sql(
        path,
        "SELECT typeof(household_size), typeof(wage), typeof(satisfaction), "
        "typeof(share), typeof(problems) FROM household",
    )
    assert types == [("integer", "real", "integer", "real", "text")]

    children = storage.form_rows("household", "children")
    assert [
        (c["_id"], c["_submission_id"], c["_parent_id"], c["_position"], c["child_name"])
        for c in children
    ] == [
        (f"{SID}/children/1", SID, None, 1, "小明"),
        (f"{SID}/children/2", SID, None, 2, "小红"),
    ]
    vaccines = storage.form_rows("household", "vaccines")
    assert [
        (v["_id"], v["_parent_id"], v["_position"], v["vaccine"], v["vaccine_date"])
        for v in vaccines
    ] == [
        (f"{SID}/vaccines/1.1", f"{SID}/children/1", 1, "bcg", "2020-01-02"),
        (f"{SID}/vaccines/1.2", f"{SID}/children/1", 2, "polio", None),
    ]
    assert {v["_submission_id"] for v in vaccines} == {SID}


def test_get_returns_the_metadata_and_the_answers(storage: Storage, household: Form) -> None:
    storage.save(household, SID, ANSWERS, submitted_by="lin", **SINCE_START)
    record = storage.get(SID)
    assert record is not None
    assert (record.id, record.form_id, record.form_version) == (SID, "household", "1")
    assert (record.submitted_by, record.instance_name) == ("lin", None)
    assert (record.review_status, record.deleted) == ("received", False)
    assert record.answers == ANSWERS
    assert storage.get(str(uuid.uuid4())) is None


def test_the_same_id_with_the_same_content_is_a_duplicate_and_stores_nothing(
    storage: Storage, household: Form, path: Path
) -> None:
    first = storage.save(household, SID, ANSWERS)
    before = _dump(path)
    # Only the answers and the form make the content: a later resend differs in its times.
    again = storage.save(household, SID.upper(), dict(ANSWERS), completed_at="2027-01-01T00:00Z")
    assert again.status == SaveStatus.DUPLICATE
    assert (again.submission_id, again.received_at) == (SID, first.received_at)
    assert _dump(path) == before


@pytest.mark.parametrize(
    ("form_text", "answers"),
    [
        (HOUSEHOLD_V1, {**ANSWERS, "household_size": 5}),
        (HOUSEHOLD_V1, {**ANSWERS, "children": []}),
        (OTHER_FORM, {"respondent": "王芳"}),
    ],
    ids=["other answer", "fewer repeat entries", "other form"],
)
def test_the_same_id_with_other_content_is_a_conflict_and_changes_nothing(
    storage: Storage, household: Form, path: Path, form_text: str, answers: dict[str, Any]
) -> None:
    storage.save(household, SID, ANSWERS)
    storage.ensure_schema(_form(form_text))
    before = _dump(path)
    result = storage.save(_form(form_text), SID, answers)
    assert result.status == SaveStatus.CONFLICT
    assert _dump(path) == before


def test_a_failure_inside_the_transaction_leaves_nothing_behind(
    storage: Storage, household: Form, path: Path
) -> None:
    storage.ensure_schema(household)
    # A real constraint refuses the last row written: the vaccine entries come after the
    # submission, the form row and the children.
    db = sqlite_utils.Database(path)
    db.execute("""CREATE TRIGGER refuse BEFORE INSERT ON household__vaccines
                  WHEN NEW.vaccine = 'polio' BEGIN SELECT RAISE(ABORT, 'refused'); END""")
    empty = _dump(path)
    with pytest.raises(sqlite3.IntegrityError, match="refused"):
        storage.save(household, SID, ANSWERS)
    assert _dump(path) == empty

    db.execute("DROP TRIGGER refuse")
    db.close()
    assert storage.save(household, SID, ANSWERS).status == SaveStatus.CREATED
    assert len(storage.form_rows("household", "vaccines")) == 2


@pytest.mark.parametrize(
    "answers",
    [
        {**ANSWERS, "no_such_question": 1},
        {**ANSWERS, "thanks": "a note has no answer"},
        {**ANSWERS, "children": [{"vaccine": "bcg"}]},
        {**ANSWERS, "children": "小明"},
        {**ANSWERS, "children": ["小明"]},
        {**ANSWERS, "wage": float("nan")},
    ],
    ids=["unknown", "note", "wrong level", "not a list", "entry not a mapping", "NaN"],
)
def test_malformed_answers_are_refused_before_anything_is_written(
    storage: Storage, household: Form, path: Path, answers: dict[str, Any]
) -> None:
    storage.ensure_schema(household)
    empty = _dump(path)
    with pytest.raises(ValueError):
        storage.save(household, SID, answers)
    assert _dump(path) == empty


@pytest.mark.parametrize(
    "submission_id",
    ["", "not-a-uuid", f"uuid:{SID}", SID.replace("-", ""), "{" + SID + "}", SID + "0"],
)
def test_a_submission_id_must_be_a_uuid(
    storage: Storage, household: Form, submission_id: str
) -> None:
    with pytest.raises(ValueError, match="not a UUID"):
        storage.save(household, submission_id, ANSWERS)
    with pytest.raises(ValueError, match="not a UUID"):
        storage.get(submission_id)


@pytest.mark.parametrize("completed_at", ["2026-11-29T09:00:00", "yesterday"])
def test_timestamps_need_a_time_zone(storage: Storage, household: Form, completed_at: str) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        storage.save(household, SID, ANSWERS, completed_at=completed_at)


def test_count_and_list_show_newest_first(storage: Storage, household: Form) -> None:
    ids = [str(uuid.uuid4()) for _ in range(5)]
    for number, sid in enumerate(ids):
        storage.save(household, sid, {"household_size": number})
    storage.save(_form(OTHER_FORM), str(uuid.uuid4()), {"respondent": "x"})
    assert (storage.count("household"), storage.count("other")) == (5, 1)
    assert [r.id for r in storage.list_submissions("household")] == ids[::-1]
    page = storage.list_submissions("household", limit=2, offset=1)
    assert [r.answers["household_size"] for r in page] == [3, 2]


# -- form versions --------------------------------------------------------------------


def test_a_new_version_adds_columns_and_keeps_old_ones_with_their_data(
    storage: Storage, household: Form, path: Path
) -> None:
    storage.save(household, SID, ANSWERS)
    v2 = _form(HOUSEHOLD_V2)
    migration = storage.ensure_schema(v2)

    assert migration.created_tables == ("household__jobs",)
    assert migration.added_columns == ("household.phone", "household__children.school")
    assert migration.kept_types == {"household.household_size": ("INTEGER", "REAL")}
    columns = _columns(path, "household")
    assert (columns["visit_date"], columns["phone"], columns["household_size"]) == (
        "TEXT",
        "TEXT",
        "INTEGER",
    )

    second = str(uuid.uuid4())
    answers = {
        "respondent": "李雷",
        "phone": "138",
        "household_size": 2.5,
        "children": [{"child_name": "小刚", "school": "第一小学"}],
        "jobs": [{"employer": "建筑公司"}],
    }
    assert storage.save(v2, second, answers).status == SaveStatus.CREATED
    old, new = storage.form_rows("household")
    assert (old["_version"], old["visit_date"], old["phone"]) == ("1", "2026-11-02", None)
    assert (new["_version"], new["visit_date"], new["phone"]) == ("2", None, "138")
    assert new["household_size"] == 2.5
    assert [c["school"] for c in storage.form_rows("household", "children")] == [
        None,
        None,
        "第一小学",
    ]
    assert storage.form_rows("household", "jobs")[0]["_submission_id"] == second
    old_record = storage.get(SID)
    assert old_record is not None
    assert old_record.form_version == "1"

    history = storage.schema_history("household")
    assert [(h["version"], h["changes"]["added_columns"]) for h in history] == [
        ("1", []),
        ("2", ["household.phone", "household__children.school"]),
    ]
    assert "visit_date" in history[1]["columns"]["household"]
    assert history[1]["changes"]["kept_types"] == {
        "household.household_size": {"kept": "INTEGER", "wanted": "REAL"}
    }


def test_an_older_version_still_saves_after_a_newer_one_was_applied(
    storage: Storage, household: Form
) -> None:
    storage.ensure_schema(_form(HOUSEHOLD_V2))
    assert storage.save(household, SID, ANSWERS).status == SaveStatus.CREATED
    assert not storage.ensure_schema(household).changed


# -- concurrency and the file ---------------------------------------------------------


def _race(
    storages: tuple[Storage, Storage],
    form: Form,
    sid: str,
    contents: tuple[dict[str, Any], dict[str, Any]],
) -> list[str]:
    """Save ``sid`` from two threads at once; the statuses, sorted."""
    barrier = threading.Barrier(2)
    statuses: list[str] = []

    def save(storage: Storage, answers: dict[str, Any]) -> None:
        barrier.wait()
        statuses.append(storage.save(form, sid, answers).status)

    threads = [
        threading.Thread(target=save, args=pair) for pair in zip(storages, contents, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(statuses)


@pytest.mark.parametrize(
    ("second_content", "expected"),
    [("same", ["created", "duplicate"]), ("other", ["conflict", "created"])],
)
@pytest.mark.parametrize("connections", ["one storage", "two storages"])
def test_two_threads_saving_one_id_store_it_once(
    path: Path, household: Form, second_content: str, expected: list[str], connections: str
) -> None:
    first = Storage(path)
    second = first if connections == "one storage" else Storage(path)
    contents = (ANSWERS, ANSWERS if second_content == "same" else {"household_size": 1})
    for _ in range(10):
        sid = str(uuid.uuid4())
        assert _race((first, second), household, sid, contents) == expected
        assert _sql(path, "SELECT count(*) FROM submissions WHERE id = ?", sid) == [(1,)]
        assert _sql(path, "SELECT count(*) FROM household WHERE _id = ?", sid) == [(1,)]
    first.close()
    second.close()


_SAVE_IN_A_PROCESS = """
import sys, textwrap
from pathlib import Path
from forms_server.loader import load_text
from forms_server.storage import Storage
form, _ = load_text(textwrap.dedent(sys.argv[2]).lstrip("\\n"))
with Storage(Path(sys.argv[1])) as storage:
    print(storage.save(form, sys.argv[3], {"respondent": "x"}).status)
"""


def test_two_processes_saving_one_id_store_it_once(path: Path) -> None:
    Storage(path).close()
    command = [sys.executable, "-c", _SAVE_IN_A_PROCESS, str(path), OTHER_FORM, SID]
    processes = [
        subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outputs = sorted(p.communicate(timeout=60)[0].strip() for p in processes)
    assert outputs == ["created", "duplicate"]
    assert _sql(path, "SELECT count(*) FROM submissions") == [(1,)]


def test_the_database_is_in_wal_mode_with_foreign_keys_on(storage: Storage, path: Path) -> None:
    assert _sql(path, "PRAGMA journal_mode") == [("wal",)]
    # The pragmas below belong to each connection: ask the storage's own.
    conn = storage._db()
    assert conn.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
    assert conn.execute("PRAGMA busy_timeout").fetchone() == (5000,)
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (10_000,)


def test_reopening_the_file_sees_the_data(path: Path, household: Form) -> None:
    with Storage(path) as storage:
        storage.save(household, SID, ANSWERS)
    assert path.parent.is_dir()
    with Storage(path) as reopened:
        record = reopened.get(SID)
        assert record is not None
        assert record.answers == ANSWERS
        assert reopened.count("household") == 1
        assert len(reopened.form_rows("household", "children")) == 2
        assert reopened.save(household, SID, ANSWERS).status == SaveStatus.DUPLICATE


def test_a_closed_storage_refuses_new_threads(path: Path) -> None:
    storage = Storage(path)
    storage.close()
    errors: list[Exception] = []

    def use() -> None:
        try:
            storage.count("household")
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=use)
    thread.start()
    thread.join()
    assert len(errors) == 1


# -- many submissions per commit: Storage.save_many and the event loop's group commit

T = TypeVar("T")


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` in a thread of its own: the browser tests' driver may hold a
    running event loop in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _item(form: Form, sid: str, answers: dict[str, Any] | None = None) -> NewSubmission:
    return NewSubmission(form, sid, ANSWERS if answers is None else answers)


def _count(path: Path, table: str) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM [{table}]").fetchone()[0])


def test_a_batch_gives_each_submission_its_own_outcome(
    storage: Storage, household: Form, path: Path
) -> None:
    stored = storage.save(household, SID, ANSWERS)
    fresh = [str(uuid.uuid4()) for _ in range(3)]
    outcomes = storage.save_many(
        [
            _item(household, fresh[0]),
            _item(household, SID),  # stored before, same content
            _item(household, SID, {**ANSWERS, "household_size": 9}),  # stored, other content
            _item(household, fresh[1]),
            _item(household, fresh[1]),  # twice in the same batch
            _item(household, "not-a-uuid"),
            _item(household, fresh[2], {**ANSWERS, "no_such_question": 1}),
        ]
    )
    statuses = [o.status if isinstance(o, SaveResult) else type(o) for o in outcomes]
    assert statuses == [
        SaveStatus.CREATED,
        SaveStatus.DUPLICATE,
        SaveStatus.CONFLICT,
        SaveStatus.CREATED,
        SaveStatus.DUPLICATE,
        ValueError,
        ValueError,
    ]
    duplicate = outcomes[1]
    assert isinstance(duplicate, SaveResult) and duplicate.received_at == stored.received_at
    assert _count(path, "submissions") == 3
    assert _count(path, "household") == 3
    assert _count(path, "household__children") == 6
    record = storage.get(SID)
    assert record is not None and record.answers == ANSWERS  # the conflict changed nothing


def test_one_failing_submission_does_not_take_the_batch_down(
    storage: Storage, household: Form, path: Path
) -> None:
    storage.ensure_schema(household)
    db = sqlite_utils.Database(path)
    db.execute("""CREATE TRIGGER refuse BEFORE INSERT ON household__vaccines
                  WHEN NEW.vaccine_date = '2020-01-01' BEGIN SELECT RAISE(ABORT, 'refused'); END""")
    db.close()
    bad = {
        **ANSWERS,
        "children": [{"vaccines": [{"vaccine": "bcg", "vaccine_date": "2020-01-01"}]}],
    }
    good = [str(uuid.uuid4()) for _ in range(3)]
    outcomes = storage.save_many(
        [
            _item(household, good[0]),
            _item(household, SID, bad),
            *map(lambda sid: _item(household, sid), good[1:]),
        ]
    )
    assert isinstance(outcomes[1], sqlite3.IntegrityError)
    assert [o.status for o in (outcomes[0], *outcomes[2:])] == [SaveStatus.CREATED] * 3  # type: ignore[union-attr]
    assert storage.get(SID) is None  # nothing of the failed one is left
    assert _count(path, "submissions") == 3
    assert _count(path, "household") == 3


def test_the_writer_stores_concurrent_saves_together_and_answers_each(
    storage: Storage, household: Form, path: Path
) -> None:
    writer = BatchWriter(storage)
    sids = [str(uuid.uuid4()) for _ in range(200)]

    async def main() -> list[SaveResult | BaseException]:
        saves = [writer.save(_item(household, sid)) for sid in sids]
        saves.append(writer.save(_item(household, sids[0])))  # a resend among them
        saves.append(writer.save(_item(household, "nope")))
        return await asyncio.gather(*saves, return_exceptions=True)

    outcomes = _run(main())
    writer.close()
    created = [o for o in outcomes[:200] if isinstance(o, SaveResult)]
    assert [o.status for o in created] == [SaveStatus.CREATED] * 200
    assert [o.submission_id for o in created] == sids
    assert isinstance(outcomes[200], SaveResult) and outcomes[200].status == SaveStatus.DUPLICATE
    assert isinstance(outcomes[201], ValueError)
    assert _count(path, "submissions") == 200
    assert writer.stored == 202
    assert writer.batches < 100  # they were committed together, not one by one


def test_after_close_the_writer_still_stores_one_by_one(storage: Storage, household: Form) -> None:
    writer = BatchWriter(storage)

    async def save(sid: str) -> SaveResult:
        return await writer.save(_item(household, sid))

    assert _run(save(SID)).status == SaveStatus.CREATED
    writer.close()
    assert _run(save(SID)).status == SaveStatus.DUPLICATE
    other = str(uuid.uuid4())
    assert _run(save(other)).status == SaveStatus.CREATED
    assert storage.get(other) is not None


def test_not_waiting_for_a_write_lock_held_elsewhere_raises_busy_and_stores_nothing(
    storage: Storage, household: Form, path: Path
) -> None:
    storage.ensure_schema(household)  # as the app does when it starts
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's writer, say
    try:
        with pytest.raises(Busy):
            storage.save_many([_item(household, SID)], wait=False)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert storage.get(SID) is None
    held = threading.Event()
    release = threading.Event()

    def edit() -> None:  # a staff edit in another thread of this process
        with storage.transaction():
            held.set()
            release.wait(5)

    editor = threading.Thread(target=edit)
    editor.start()
    held.wait(5)
    try:
        with pytest.raises(Busy):
            storage.save_many([_item(household, SID)], wait=False)
    finally:
        release.set()
        editor.join()
    assert storage.get(SID) is None
    [stored] = storage.save_many([_item(household, SID)], wait=False)
    assert isinstance(stored, SaveResult) and stored.status == SaveStatus.CREATED


def test_writes_that_do_not_wait_leave_the_wal_to_checkpoint(
    storage: Storage, household: Form, path: Path
) -> None:
    storage.ensure_schema(household)
    storage.save_many([_item(household, SID)], wait=False)
    # This thread's connection never copies the WAL back by itself any more ...
    assert storage._db().execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    # ... checkpoint() does: with no reader in the way, every frame.
    frames, copied = storage.checkpoint()
    assert frames > 0 and copied == frames
    assert storage.checkpoints == 1


def test_the_writer_waits_for_a_busy_database_in_a_thread_not_on_the_loop(
    storage: Storage, household: Form, path: Path
) -> None:
    storage.ensure_schema(household)
    writer = BatchWriter(storage)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")

    async def main() -> tuple[SaveResult, int]:
        ticks = 0
        save = asyncio.ensure_future(writer.save(_item(household, SID)))
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, lambda: other.execute("COMMIT"))
        while not save.done():
            ticks += 1  # the loop keeps turning while the save waits
            await asyncio.sleep(0.01)
        return save.result(), ticks

    result, ticks = _run(main())
    other.close()
    assert result.status == SaveStatus.CREATED
    assert writer.waited == 1
    assert ticks >= 10
    assert storage.get(SID) is not None


def test_a_client_that_hangs_up_does_not_undo_its_save(storage: Storage, household: Form) -> None:
    writer = BatchWriter(storage)

    async def main() -> None:
        task = asyncio.ensure_future(writer.save(_item(household, SID)))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    _run(main())
    writer.close()  # stores what is queued before it stops
    assert storage.get(SID) is not None


def test_the_form_is_unchanged_by_other_forms_in_the_batch(
    storage: Storage, household: Form
) -> None:
    other = _form(OTHER_FORM)
    storage.ensure_schema(other)
    a, b = str(uuid.uuid4()), str(uuid.uuid4())
    outcomes = storage.save_many(
        [
            _item(household, a),
            _item(other, b, {"respondent": "李"}),
            _item(other, a, {"respondent": "李"}),
        ]
    )
    assert [o.status for o in outcomes] == [  # type: ignore[union-attr]
        SaveStatus.CREATED,
        SaveStatus.CREATED,
        SaveStatus.CONFLICT,  # the same id for another form
    ]
    rows = storage.form_rows("other")
    assert [(row["_id"], row["respondent"]) for row in rows] == [(b, "李")]
