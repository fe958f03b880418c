"""The real server with storing skipped, for ``bench/ingest.py`` only: an upper bound.

Everything a submission goes through runs as in ``forms-server serve`` (HTTP, the API
token, JSON, validation, the reply) except the write: each checked submission is
answered ``created`` without being stored, and the research sync does not run. What
this serves is what the real server could reach if storing cost nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from forms_server import publish, writer
from forms_server.cli import main
from forms_server.storage import NewSubmission, SaveResult, SaveStatus


async def _not_stored(self: writer.BatchWriter, item: NewSubmission) -> SaveResult:
    return SaveResult(SaveStatus.CREATED, item.submission_id, "", "")


def _no_sync(self: publish.Publisher) -> None:
    return None


writer.BatchWriter.save = _not_stored  # type: ignore[method-assign]
publish.Publisher.start = _no_sync  # type: ignore[method-assign]

if __name__ == "__main__":
    sys.argv[0] = "forms-server"
    main()
