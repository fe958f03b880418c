"""The files of research.db: a link to the current build, switched atomically, and a lock.

``research.db`` is a symbolic link to ``research/research-<time>.db``. SQLite follows
the link and names the WAL files after the build, so a reader still on an old build
never mixes its pages with the new build's.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path


def identity(path: Path) -> tuple[int, int] | None:
    """Which file ``path`` (a link) leads to now; None when there is none."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino


def switch(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` in one atomic rename."""
    temporary = link.with_name(f".{link.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.unlink(missing_ok=True)
    os.symlink(os.path.relpath(target, link.parent), temporary)
    os.replace(temporary, link)
    # A research.db that was a plain file may have left its own WAL files behind.
    for suffix in ("-wal", "-shm"):
        link.with_name(link.name + suffix).unlink(missing_ok=True)
    directory = os.open(link.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


@contextlib.contextmanager
def build_lock(data_dir: Path) -> Iterator[None]:
    """One rebuild at a time per data directory, across processes."""
    with open(data_dir / "research.lock", "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
