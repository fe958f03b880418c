"""Many submissions per commit: Storage.save_many and the writer thread behind the API."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlite_utils

from forms_server.model import Form
from forms_server.storage import NewSubmission, SaveResult, SaveStatus, Storage
from forms_server.writer import BatchWriter

from .test_storage import ANSWERS, HOUSEHOLD_V1, OTHER_FORM, SID, _form

T = TypeVar("T")


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
