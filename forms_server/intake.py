"""Receiving one submission: check it, keep its attachments, store it exactly once.

Shared by the web form post and the JSON API, so both answer the same way:
created, duplicate (the same id and content again: nothing new stored), conflict
(the same id with other content), or invalid with per-field errors.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Literal

from forms_server import attachments
from forms_server.attachments import AttachmentError, Upload
from forms_server.model import Form
from forms_server.storage import (
    NewSubmission,
    SaveResult,
    SaveStatus,
    Storage,
    check_submission_id,
)
from forms_server.validation import validate
from forms_server.writer import BatchWriter

Status = Literal["created", "duplicate", "conflict", "invalid"]
#: How far ahead of the server's clock a device's clock may be.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Outcome:
    status: Status
    submission_id: str
    #: field key (``name``, or ``repeat.0.name`` inside repeats) -> message
    errors: dict[str, str] = field(default_factory=dict)


class BadSubmission(ValueError):
    """Something no person could fix on the form: a malformed id or time."""


def completion_time(
    raw: str | None, received: datetime, zone: tzinfo, field: str = "_completed_at"
) -> datetime:
    """When the person completed the form: the device's word, unless it lies in the future.

    Without one (a plain HTML post) it is the moment the server received it, in the
    organisation's time zone, so ``today()`` is the local date. ``field`` names the
    value in the messages (the API's ``started_at`` goes through here too).
    """
    if not raw:
        return received.astimezone(zone)
    try:
        moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadSubmission(f"{field} is not an ISO 8601 time: {raw[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    if moment > received + CLOCK_SKEW:
        raise BadSubmission(f"{field} lies in the future: check the device's clock")
    return moment


def field_key(form: Form, name: str, index: tuple[int, ...]) -> str:
    """``name`` at the top level, ``repeat.0.name`` inside repeat entries."""
    question = form.by_name.get(name)
    chain = question.repeats if question else ()
    parts = [f"{repeat}.{i}" for repeat, i in zip(chain, index, strict=False)]
    return ".".join([*parts, name])


def put_answer(raw: dict[str, Any], key: str, value: Any) -> None:
    """Set ``value`` at a field key in the nested raw answers."""
    *path, name = key.split(".")
    target = raw
    for repeat, index in zip(path[::2], path[1::2], strict=True):
        entries = target.setdefault(repeat, [])
        position = int(index)
        while len(entries) <= position:
            entries.append({})
        target = entries[position]
    target[name] = value


class Intake:
    """Checks and stores submissions for every form, into one private database."""

    def __init__(self, storage: Storage, data_dir: Path, zone: tzinfo) -> None:
        self.storage = storage
        self.data_dir = data_dir
        self.zone = zone
        self.writer = BatchWriter(storage)

    def receive(
        self, form: Form, submission_id: str, raw: dict[str, Any], **options: Any
    ) -> Outcome:
        """Check a submission (``options``: those of :meth:`check`) and store it; blocks
        while it waits for the write lock."""
        checked = self.check(form, submission_id, raw, **options)
        if isinstance(checked, Outcome):
            return checked
        return _outcome(self.storage.store(checked))

    async def receive_async(
        self, form: Form, submission_id: str, raw: dict[str, Any], **options: Any
    ) -> Outcome:
        """:meth:`receive` for the event loop: checked here (with files, in a worker
        thread, as they are written to disk), then stored together with the submissions
        that arrive in the same round of the loop (:mod:`forms_server.writer`)."""
        check = functools.partial(self.check, form, submission_id, raw, **options)
        checked = await asyncio.to_thread(check) if options.get("uploads") else check()
        if isinstance(checked, Outcome):
            return checked
        return _outcome(await self.writer.save(checked))

    def close(self) -> None:
        """Store the submissions still pending; later ones are stored one by one."""
        self.writer.close()

    def check(
        self,
        form: Form,
        submission_id: str,
        raw: dict[str, Any],
        *,
        lang: str,
        completed_at: datetime,
        completed_given: bool = True,
        started_at: datetime | None = None,
        submitted_by: str | None = None,
        uploads: Mapping[str, Upload] | None = None,
    ) -> Outcome | NewSubmission:
        """An invalid outcome, or the submission ready to store (its files already kept)."""
        try:
            sid = check_submission_id(submission_id)
        except ValueError:
            raise BadSubmission("the submission id must be a UUID") from None
        errors: dict[str, str] = {}
        accepted: dict[str, tuple[Upload, str]] = {}
        for key, upload in (uploads or {}).items():
            question = form.by_name.get(key.rsplit(".", 1)[-1])
            if question is None or question.type not in ("image", "file"):
                errors[key] = "unknown file field" if lang == "en" else "未知的文件字段"
                continue
            try:
                ext, _ = attachments.sniff(upload.content, question.type)
            except AttachmentError as exc:
                errors[key] = exc.message(lang)
                continue
            # Named by content, so a resend maps to the same name and never overwrites.
            digest = hashlib.sha256(upload.content).hexdigest()[:16]
            name = f"{sid}/{question.name}_{digest}.{ext}"
            put_answer(raw, key, name)
            accepted[key] = (upload, name)
        # Only a resend without a device clock, or one with files, needs the stored copy.
        stored = self.storage.get(sid) if accepted or not completed_given else None
        if not completed_given and stored is not None and stored.completed_at:
            # A resend without a device clock: evaluate at the first receipt's time, so
            # today() and now() give what they gave then and the resend is a duplicate.
            first = datetime.fromisoformat(stored.completed_at.replace("Z", "+00:00"))
            completed_at = first.astimezone(self.zone)
        result = validate(form, raw, now=completed_at, lang=lang, seed=sid)
        errors.update({field_key(form, e.name, e.index): e.message for e in result.errors})
        if errors:
            return Outcome("invalid", sid, errors)
        if stored is None:
            for upload, name in accepted.values():
                attachments.write(self.data_dir, name, upload.content)
        return NewSubmission(
            form,
            sid,
            result.answers,
            submitted_by=submitted_by,
            started_at=started_at,
            completed_at=completed_at,
            instance_name=result.instance_name,
        )


def _outcome(saved: SaveResult) -> Outcome:
    status: Status = {
        SaveStatus.CREATED: "created",
        SaveStatus.DUPLICATE: "duplicate",
        SaveStatus.CONFLICT: "conflict",
    }[saved.status]  # type: ignore[assignment]
    return Outcome(status, saved.submission_id)
