"""The research database: derived from forms.db, never holding what identifies a person,
following every save, edit, review and deletion, and rebuilt atomically."""

from __future__ import annotations

import json
import sqlite3
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from forms_server import publish
from forms_server.cli import main
from forms_server.loader import load_forms, load_text
from forms_server.model import Form
from forms_server.publish import Publisher
from forms_server.research_metadata import (
    BASE_FILE,
    GENERATED_FILE,
    build_metadata,
    load_base,
    render,
    unit_of,
)
from forms_server.research_tables import research_tables
from forms_server.reviews import Reviews
from forms_server.storage import NewSubmission, Storage

from .conftest import FORMS_DIR, ROOT
from .research_samples import Canaries, answers_for, store_all
from .samples import worker_intake_answers

ZONE = ZoneInfo("Asia/Shanghai")
SURVEY_V1 = """
    id: survey
    version: 1
    title: {zh-Hans: 调查, en: Survey}
    languages: [zh-Hans, en]
    questions:
      - {name: respondent, type: text, sensitive: true, label: {zh-Hans: 姓名, en: Name}}
      - name: sector
        type: select_one
        label: {zh-Hans: 行业, en: Sector}
        choices:
          - {value: construction, label: {zh-Hans: 建筑, en: Construction}}
          - {value: factory, label: {zh-Hans: 工厂, en: Factory}}
      - {name: wage, type: decimal, label: {zh-Hans: 月工资（元）, en: Monthly wage (RMB)}}
      - name: kids
        type: repeat
        label: {zh-Hans: 子女, en: Children}
        questions:
          - {name: kid_age, type: integer, label: {zh-Hans: 年龄, en: Age}}
    """


@pytest.fixture
def forms() -> dict[str, Form]:
    return load_forms(FORMS_DIR)


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    with Storage(tmp_path / "forms.db") as storage:
        yield storage


def _publisher(storage: Storage, forms: dict[str, Form]) -> Publisher:
    for form in forms.values():
        storage.ensure_schema(form)
    return Publisher(storage, forms, storage.path.parent, ZONE)


def _research(storage: Storage) -> sqlite3.Connection:
    path = storage.path.parent / "research.db"
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    return conn


def _rows(
    storage: Storage, table: str, where: str = "1", params: tuple[Any, ...] = ()
) -> list[Any]:
    with _research(storage) as conn:
        return conn.execute(f"SELECT * FROM [{table}] WHERE {where}", params).fetchall()


def _form(text: str) -> Form:
    form, problems = load_text(textwrap.dedent(text).lstrip("\n"), "survey.yaml")
    assert form is not None, problems
    return form


# -- what is published ----------------------------------------------------------------


def test_no_canary_anywhere_in_research_db(storage: Storage, forms: dict[str, Form]) -> None:
    canaries = Canaries()
    publisher = _publisher(storage, forms)
    ids = store_all(storage, forms, canaries, per_form=3)
    publisher.rebuild()
    with _research(storage) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        cells = 0
        for table in [*tables, "sqlite_master"]:
            for row in conn.execute(f"SELECT * FROM [{table}]"):
                for value in row:
                    cells += 1
                    assert not canaries.found_in(str(value)), (table, value)
    assert cells > 500
    assert "legal_aid_intake" not in tables
    assert not any(t.startswith("legal_aid_intake") for t in tables)
    assert len(_rows(storage, "worker_intake")) == len(ids["worker_intake"]) == 3
    assert len(_rows(storage, "worker_intake__children")) == 6


@pytest.mark.parametrize(
    ("table", "absent"),
    [
        ("worker_intake", ["full_name", "phone", "id_number", "birth_date", "employer_name"]),
        ("worker_intake", ["collector_notes", "_submitted_by", "_received_at", "instance_name"]),
        ("osh_worksite_survey", ["worksite_name", "location", "permit_code", "hazard_photo"]),
        ("osh_worksite_survey", ["inspection_doc", "surveyor_notes", "surveyor_signature"]),
        ("needs_assessment", ["notice_phone"]),
    ],
)
def test_sensitive_questions_attachments_and_collectors_have_no_column(
    storage: Storage, forms: dict[str, Form], table: str, absent: list[str]
) -> None:
    _publisher(storage, forms)
    with _research(storage) as conn:
        columns = {r[1] for r in conn.execute(f"PRAGMA table_info([{table}])")}
    assert columns and not columns & set(absent)


def test_columns_are_typed_with_labels_and_json_arrays(
    storage: Storage, forms: dict[str, Form]
) -> None:
    publisher = _publisher(storage, forms)
    sid = str(uuid.uuid4())
    storage.save(
        forms["worker_intake"],
        sid,
        worker_intake_answers(age="41"),  # calculations are kept as text in forms.db
        completed_at="2026-11-20T23:30:00Z",
    )
    publisher.sync_once()
    with _research(storage) as conn:
        row = conn.execute(
            "SELECT *, typeof(age) AS age_type, typeof(monthly_wage) AS wage_type,"
            " typeof(years_in_beijing) AS years_type FROM worker_intake"
        ).fetchone()
    assert row["_id"] == publisher.pseudonyms.of(sid) != sid
    assert (row["sector"], row["sector_label"]) == ("construction", "建筑工地")
    assert json.loads(row["needs"]) == ["legal_advice", "wage_recovery"]
    assert (row["age"], row["age_type"], row["wage_type"]) == (41, "integer", "real")
    assert row["intake_date"] == "2026-11-20"
    # Completed at 07:30 on the 21st in Beijing.
    assert (row["_completed_at"], row["_completed_date"]) == (
        "2026-11-20T23:30:00.000Z",
        "2026-11-21",
    )
    children = _rows(storage, "worker_intake__children", "1 ORDER BY _position")
    assert [c["_submission_id"] for c in children] == [row["_id"]] * 2
    assert children[0]["_id"] == f"{row['_id']}/children/1"


def test_pseudonyms_are_stable_across_rebuilds_and_keyed_per_database(
    tmp_path: Path, storage: Storage, forms: dict[str, Form]
) -> None:
    publisher = _publisher(storage, forms)
    sid = str(uuid.uuid4())
    storage.save(forms["worker_intake"], sid, worker_intake_answers())
    publisher.rebuild()
    first = _rows(storage, "worker_intake")[0]["_id"]
    publisher.rebuild()
    assert _rows(storage, "worker_intake")[0]["_id"] == first
    with Storage(tmp_path / "other" / "forms.db") as other:
        assert _publisher(other, forms).pseudonyms.of(sid) != first


# -- following forms.db ---------------------------------------------------------------


def test_sync_follows_saves_edits_reviews_and_deletions(
    storage: Storage, forms: dict[str, Form]
) -> None:
    form = forms["worker_intake"]
    publisher = _publisher(storage, forms)
    reviews = Reviews(storage)
    publisher.sync_once()  # the first build
    sid = str(uuid.uuid4())
    storage.save(form, sid, worker_intake_answers())
    assert publisher.pending() == 1
    assert publisher.sync_once() == 1
    key = publisher.pseudonyms.of(sid)
    assert _rows(storage, "worker_intake", "_id = ?", (key,))[0]["monthly_wage"] == 6500

    edited = worker_intake_answers(monthly_wage=7200, children=[{"child_age": 4}])
    reviews.edit(form, sid, edited, actor="staff1", instance_name=None)
    reviews.set_status(form, sid, "approved", actor="staff1")
    publisher.sync_once()
    row = _rows(storage, "worker_intake", "_id = ?", (key,))[0]
    assert (row["monthly_wage"], row["_review_status"]) == (7200, "approved")
    assert [c["child_age"] for c in _rows(storage, "worker_intake__children")] == [4]

    with storage.transaction() as db:
        db.execute("UPDATE submissions SET deleted = 1 WHERE id = ?", [sid])
        storage.log_change(db, sid, form.id, "delete")
    publisher.sync_once()
    assert _rows(storage, "worker_intake") == []
    assert _rows(storage, "worker_intake__children") == []
    assert publisher.pending() == 0


def test_the_running_sync_copies_back_the_wal_of_writes_that_do_not_wait(
    storage: Storage, forms: dict[str, Form], monkeypatch: pytest.MonkeyPatch
) -> None:
    form = forms["worker_intake"]
    publisher = _publisher(storage, forms)
    publisher.interval = 0.05
    monkeypatch.setattr(publish, "CHECKPOINT_SUBMISSIONS", 10)
    monkeypatch.setattr(publish, "CHECKPOINT_S", 3600.0)  # so it is the count that counts
    publisher.sync_once()  # the first build
    publisher.storage.checkpoint()
    sids = [str(uuid.uuid4()) for _ in range(20)]
    items = [NewSubmission(form, sid, worker_intake_answers()) for sid in sids]
    storage.save_many(items, wait=False)  # as the event loop stores them
    wal = storage.path.with_name("forms.db-wal")
    assert storage.checkpoints == 1 and wal.stat().st_size > 0
    in_file = f"file:{storage.path}?mode=ro&immutable=1"  # the file alone, not its WAL

    def stored_in_file() -> int:
        with sqlite3.connect(in_file, uri=True) as conn:
            try:
                return int(conn.execute("SELECT count(*) FROM submissions").fetchone()[0])
            except sqlite3.OperationalError:  # not even the table is in the file yet
                return 0

    assert stored_in_file() == 0
    publisher.start()
    try:
        deadline = time.monotonic() + 10
        while stored_in_file() < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        publisher.stop()
    assert storage.checkpoints > 1
    assert stored_in_file() == 20


def test_changes_to_unpublished_forms_are_skipped(storage: Storage, forms: dict[str, Form]) -> None:
    publisher = _publisher(storage, forms)
    store_all(storage, {"legal_aid_intake": forms["legal_aid_intake"]}, Canaries(), per_form=2)
    assert publisher.sync_once() == 0
    assert publisher.pending() == 0


def test_applying_the_same_changes_twice_changes_nothing(
    storage: Storage, forms: dict[str, Form]
) -> None:
    publisher = _publisher(storage, forms)
    store_all(storage, forms, Canaries(), per_form=2)
    publisher.sync_once()
    before = len(_rows(storage, "worker_intake__children"))
    with publisher._connection() as conn:
        conn.execute("UPDATE _publish_state SET value = '0' WHERE key = 'applied_seq'")
    publisher.sync_once()
    assert len(_rows(storage, "worker_intake__children")) == before == 4
    assert len(_rows(storage, "worker_intake")) == 2


def test_a_sync_that_dies_midway_is_caught_up_on_the_next_start(
    storage: Storage, forms: dict[str, Form], monkeypatch: pytest.MonkeyPatch
) -> None:
    form = forms["worker_intake"]
    publisher = _publisher(storage, forms)
    publisher.sync_once()
    sids = [str(uuid.uuid4()) for _ in range(40)]
    for sid in sids:
        storage.save(form, sid, worker_intake_answers())
    monkeypatch.setattr(publish, "BATCH", 15)
    seen: set[str] = set()
    real = publisher.pseudonyms.of

    def dying(sid: str | None) -> str | None:
        seen.add(str(sid))
        if len(seen) > 20:  # in the middle of the second batch
            raise RuntimeError("power cut")
        return real(sid)

    monkeypatch.setattr(publisher.pseudonyms, "of", dying)
    with pytest.raises((RuntimeError, sqlite3.Error)):
        publisher.sync_once()
    publisher.stop()
    assert len(_rows(storage, "worker_intake")) == 15  # the first batch, whole
    again = _publisher(storage, forms)
    again.sync_once()
    keys = {again.pseudonyms.of(sid) for sid in sids}
    assert {r["_id"] for r in _rows(storage, "worker_intake")} == keys
    assert len(_rows(storage, "worker_intake__children")) == 80


def test_submissions_stored_while_nothing_publishes_appear_on_the_next_start(
    storage: Storage, forms: dict[str, Form]
) -> None:
    _publisher(storage, forms).stop()
    store_all(storage, forms, Canaries(), per_form=4)
    publisher = _publisher(storage, forms)
    publisher.sync_once()
    assert len(_rows(storage, "worker_intake")) == 4
    assert len(_rows(storage, "osh_worksite_survey__incidents")) == 8


# -- rebuilding -----------------------------------------------------------------------


def test_rebuild_switches_atomically_and_readers_keep_a_whole_file(
    storage: Storage, forms: dict[str, Form]
) -> None:
    publisher = _publisher(storage, forms)
    store_all(storage, forms, Canaries(), per_form=2)
    publisher.sync_once()
    link = storage.path.parent / "research.db"
    reader = _research(storage)  # like Datasette, a reader that has read before
    assert reader.execute("SELECT count(*) FROM worker_intake").fetchone()[0] == 2
    old_target = link.resolve()
    store_all(storage, forms, Canaries(), per_form=1)
    report = publisher.rebuild()
    assert link.is_symlink() and link.resolve() == report.path != old_target
    assert not old_target.exists()
    assert [p.name for p in (storage.path.parent / "research").glob("*.db")] == [report.path.name]
    # It still reads its whole (old) file; a new one reads the new file.
    assert reader.execute("SELECT count(*) FROM worker_intake").fetchone()[0] == 2
    assert len(_rows(storage, "worker_intake")) == 3
    assert report.rows["worker_intake"] == 3
    reader.close()
    assert publisher.pending() == 0


NESTED = """
    id: survey
    version: 1
    title: {zh-Hans: 调查, en: Survey}
    languages: [zh-Hans, en]
    questions:
      - {name: site, type: text, label: {zh-Hans: 工地, en: Site}}
      - name: crews
        type: repeat
        label: {zh-Hans: 班组, en: Crews}
        questions:
          - {name: trade, type: text, label: {zh-Hans: 工种, en: Trade}}
          - name: members
            type: repeat
            label: {zh-Hans: 成员, en: Members}
            questions:
              - {name: age, type: integer, label: {zh-Hans: 年龄, en: Age}}
    """


def test_a_sync_publishes_exactly_what_a_rebuild_does_nested_repeats_included(
    storage: Storage,
) -> None:
    form = _form(NESTED)
    publisher = _publisher(storage, {form.id: form})
    publisher.sync_once()  # the first build, empty
    for crews in ([], [{"trade": "mason", "members": [{"age": 30}, {"age": 41}]}], None):
        answers: dict[str, Any] = {"site": "北京"}
        if crews is None:
            crews = [{"trade": "welder", "members": []}, {"trade": "rigger", "members": [{}]}]
        answers["crews"] = crews
        storage.save(form, str(uuid.uuid4()), answers)
    publisher.sync_once()
    tables = ["survey", "survey__crews", "survey__members"]

    def everything() -> dict[str, list[tuple[Any, ...]]]:
        return {t: sorted(tuple(r) for r in _rows(storage, t)) for t in tables}

    synced = everything()
    assert [len(synced[t]) for t in tables] == [3, 3, 3]
    publisher.rebuild()
    assert everything() == synced
    parents = {r["_id"] for r in _rows(storage, "survey__crews")}
    assert {r["_parent_id"] for r in _rows(storage, "survey__members")} <= parents


def test_a_missing_research_db_is_rebuilt(storage: Storage, forms: dict[str, Form]) -> None:
    publisher = _publisher(storage, forms)
    store_all(storage, forms, Canaries(), per_form=2)
    publisher.stop()
    (storage.path.parent / "research.db").unlink()
    again = _publisher(storage, forms)
    again.sync_once()
    assert len(_rows(storage, "worker_intake")) == 2


def test_a_new_form_version_adds_columns_in_place(storage: Storage) -> None:
    v1 = _form(SURVEY_V1)
    publisher = _publisher(storage, {"survey": v1})
    storage.save(v1, str(uuid.uuid4()), {"respondent": "x", "sector": "factory", "wage": 5000})
    publisher.sync_once()
    build = (storage.path.parent / "research.db").resolve()
    v2 = _form(
        SURVEY_V1.replace("version: 1", "version: 2").replace(
            "      - name: kids",
            "      - {name: hours, type: decimal, label: {zh-Hans: 每天工时, en: Hours a day}}\n"
            "      - name: kids",
        )
    )
    publisher.stop()
    again = _publisher(storage, {"survey": v2})
    assert again.available
    sid = str(uuid.uuid4())
    storage.save(v2, sid, {"sector": "construction", "hours": 10.5})
    again.sync_once()
    assert (storage.path.parent / "research.db").resolve() == build  # no rebuild
    rows = _rows(storage, "survey", "1 ORDER BY _version")
    assert [(r["_version"], r["sector_label"], r["hours"]) for r in rows] == [
        ("1", "工厂", None),
        ("2", "建筑", 10.5),
    ]


def test_a_question_turned_sensitive_disappears_from_the_research_db(storage: Storage) -> None:
    v1 = _form(SURVEY_V1)
    publisher = _publisher(storage, {"survey": v1})
    storage.save(v1, str(uuid.uuid4()), {"sector": "factory", "wage": 5123})
    publisher.sync_once()
    publisher.stop()
    v2 = _form(
        SURVEY_V1.replace("version: 1", "version: 2").replace(
            "{name: wage, type: decimal,", "{name: wage, type: decimal, sensitive: true,"
        )
    )
    again = _publisher(storage, {"survey": v2})
    assert not again.available  # Datasette must not serve the old build meanwhile
    again.sync_once()
    assert again.available
    with _research(storage) as conn:
        columns = {r[1] for r in conn.execute("PRAGMA table_info(survey)")}
        dump = "\n".join(conn.iterdump())
    assert "wage" not in columns and "5123" not in dump
    assert len(_rows(storage, "survey")) == 1


def test_a_form_no_longer_published_is_dropped(storage: Storage) -> None:
    v1 = _form(SURVEY_V1)
    publisher = _publisher(storage, {"survey": v1})
    storage.save(v1, str(uuid.uuid4()), {"sector": "factory"})
    publisher.sync_once()
    publisher.stop()
    v2 = _form(SURVEY_V1.replace("version: 1", "version: 2\n    publish: false"))
    _publisher(storage, {"survey": v2}).sync_once()
    with _research(storage) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert not {"survey", "survey__kids"} & tables


# -- Datasette metadata ---------------------------------------------------------------


def test_committed_datasette_metadata_is_current(forms: dict[str, Form]) -> None:
    expected = render(build_metadata(forms.values(), load_base(ROOT / BASE_FILE)))
    committed = (ROOT / GENERATED_FILE).read_text(encoding="utf-8")
    assert committed == expected, "run: forms-server publish --metadata"


def test_metadata_describes_every_table_and_column(forms: dict[str, Form]) -> None:
    metadata = build_metadata(forms.values(), load_base(ROOT / BASE_FILE))
    assert metadata["title"] == "外来务工人员服务调查数据 / Migrant worker outreach data"
    assert metadata["license"] == "CC BY-NC 4.0"
    database = metadata["databases"]["research"]
    for table in research_tables(forms.values()):
        described = database["tables"][table.name]
        assert described["title"] and described["description"]
        assert set(described["columns"]) == {c.name for c in table.columns}
        assert all(described["columns"].values())
    assert database["tables"]["_publish_state"] == {"hidden": True}
    for form_id in ("worker_intake", "needs_assessment", "osh_worksite_survey"):
        assert f"{form_id}_per_week" in database["queries"]
    assert "worker_intake_sector_counts" in database["queries"]
    assert "worker_intake_needs_counts" in database["queries"]
    assert not any(name.startswith("legal_aid") for name in database["queries"])


def test_every_canned_query_runs(storage: Storage, forms: dict[str, Form]) -> None:
    publisher = _publisher(storage, forms)
    store_all(storage, forms, Canaries(), per_form=3)
    publisher.sync_once()
    queries = build_metadata(forms.values(), {})["databases"]["research"]["queries"]
    with _research(storage) as conn:
        for name, query in queries.items():
            rows = conn.execute(query["sql"]).fetchall()
            assert rows, name
    with _research(storage) as conn:
        counts = conn.execute(queries["worker_intake_sector_counts"]["sql"]).fetchall()
    assert {(r["value"], r["label_en"], r["n"]) for r in counts} >= {
        ("construction", "Construction", 1)
    }


@pytest.mark.parametrize(
    ("form_id", "question", "unit"),
    [
        ("worker_intake", "monthly_wage", "元 / RMB"),
        ("worker_intake", "unpaid_amount", "元 / RMB"),
        ("worker_intake", "months_unpaid", "个月 / months"),
        ("worker_intake", "age", "年 / years"),
        ("worker_intake", "left_behind_children", None),
        ("worker_intake", "sector", None),
        ("osh_worksite_survey", "daily_hours", "小时 / hours"),
        ("osh_worksite_survey", "rest_days", "天 / days"),
        ("osh_worksite_survey", "noise_db", "dB(A)"),
        ("osh_worksite_survey", "noise_allowed_hours", "小时 / hours"),
        ("osh_worksite_survey", "visit_minutes", "分钟 / minutes"),
        ("osh_worksite_survey", "worker_count", None),
        ("osh_worksite_survey", "incidents_with_days", None),
        ("osh_worksite_survey", "days_off", "天 / days"),
    ],
)
def test_units(forms: dict[str, Form], form_id: str, question: str, unit: str | None) -> None:
    overrides = load_base(ROOT / BASE_FILE)["forms_server"]["units"]
    form = forms[form_id]
    assert unit_of(form, form.by_name[question], overrides) == unit


def test_answers_for_every_form_fill_every_published_column(forms: dict[str, Form]) -> None:
    answers = answers_for(forms["osh_worksite_survey"], Canaries())
    assert answers["incidents"] and answers["worksite_name"].startswith("CANARY")


# -- the command line -----------------------------------------------------------------


def test_publish_command_rebuilds_and_catches_up(tmp_path: Path, forms: dict[str, Form]) -> None:
    data = tmp_path / "data"
    with Storage(data / "forms.db") as storage:
        store_all(storage, forms, Canaries(), per_form=2)
    options = ["--forms-dir", str(FORMS_DIR), "--data-dir", str(data)]
    rebuilt = CliRunner().invoke(main, ["publish", "--rebuild", *options])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "worker_intake 2" in rebuilt.output and "worker_intake__children 4" in rebuilt.output
    with Storage(data / "forms.db") as storage:
        store_all(storage, {"worker_intake": forms["worker_intake"]}, Canaries(), per_form=1)
        caught_up = CliRunner().invoke(main, ["publish", *options])
        assert caught_up.exit_code == 0, caught_up.output
        assert "1 submissions published again" in caught_up.output
        assert len(_rows(storage, "worker_intake")) == 3


def test_datasette_command_needs_a_research_db(tmp_path: Path) -> None:
    options = ["--forms-dir", str(FORMS_DIR), "--data-dir", str(tmp_path)]
    result = CliRunner().invoke(main, ["datasette", *options])
    assert result.exit_code == 1
    assert "forms-server publish --rebuild" in result.output
