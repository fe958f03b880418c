"""Uploaded images and files: checked by their content, kept beside the database.

An attachment is stored as ``<data_dir>/attachments/<submission id>/<question>_<hash>.<ext>``
(the hash of its content, so a resent file never overwrites another) and the answer
holds that relative name. The type is decided by the file's first
bytes, never by the name or the browser's word, and only a short list is accepted.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: Largest attachment accepted, in bytes.
MAX_ATTACHMENT_BYTES = 8 * 1024 * 1024

#: (magic prefix, extension, media type) — images first.
_IMAGE_SIGNATURES = [
    (b"\xff\xd8\xff", "jpg", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png", "image/png"),
    (b"GIF87a", "gif", "image/gif"),
    (b"GIF89a", "gif", "image/gif"),
]
_FILE_SIGNATURES = [
    (b"%PDF-", "pdf", "application/pdf"),
    (b"PK\x03\x04", "zip", "application/zip"),  # docx, xlsx, odt are zip files
]


_NAME_RE = re.compile(r"[0-9a-f-]{36}/[a-z][a-z0-9_]*_[0-9a-f]{16}\.[a-z]{3,4}")


class AttachmentError(ValueError):
    """An upload that is refused, with a reason for the person (code + bilingual text)."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(en)
        self.code = code
        self.zh = zh
        self.en = en

    def message(self, lang: str) -> str:
        return self.zh if lang.startswith("zh") else self.en


@dataclass(frozen=True)
class Upload:
    """An uploaded file's bytes, as received."""

    filename: str
    content: bytes


def sniff(content: bytes, question_type: str) -> tuple[str, str]:
    """(extension, media type) of ``content``, or AttachmentError if not accepted."""
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise AttachmentError(
            "too_large",
            f"文件太大（上限 {MAX_ATTACHMENT_BYTES // 2**20} MB）",
            f"file too large (limit {MAX_ATTACHMENT_BYTES // 2**20} MB)",
        )
    if not content:
        raise AttachmentError("empty", "文件是空的", "the file is empty")
    signatures = _IMAGE_SIGNATURES + (_FILE_SIGNATURES if question_type == "file" else [])
    if content[12:16] == b"WEBP" and content[:4] == b"RIFF":
        return "webp", "image/webp"
    for magic, ext, media in signatures:
        if content.startswith(magic):
            return ext, media
    if question_type == "file" and _is_text(content):
        return "txt", "text/plain"
    if question_type == "image":
        raise AttachmentError(
            "type",
            "只接受 JPEG、PNG、GIF 或 WebP 图片",
            "only JPEG, PNG, GIF or WebP images are accepted",
        )
    raise AttachmentError(
        "type",
        "只接受图片、PDF、Office 文档或纯文本文件",
        "only images, PDF, Office documents or plain text are accepted",
    )


def write(data_dir: Path, relative: str, content: bytes) -> Path:
    """Write an accepted upload under its relative name (``<submission id>/<file>``)."""
    target = data_dir / "attachments" / relative
    if path_of(data_dir, relative, must_exist=False) is None:
        raise ValueError(f"not an attachment name: {relative!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written to a temporary file and renamed: a crash never leaves half a file.
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
    with os.fdopen(fd, "wb") as out:
        out.write(content)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, target)
    return target


def path_of(data_dir: Path, relative: str, *, must_exist: bool = True) -> Path | None:
    """The stored file for an answer's relative name, never outside the attachments folder."""
    if not _NAME_RE.fullmatch(relative):
        return None
    path = data_dir / "attachments" / relative
    return path if path.is_file() or not must_exist else None


def _is_text(content: bytes) -> bool:
    try:
        text = content[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not any(ord(ch) < 32 and ch not in "\t\r\n" for ch in text)
