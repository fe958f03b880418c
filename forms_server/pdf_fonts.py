"""A smaller Chinese font for the PDFs: Noto Sans CJK SC cut to the characters in common use.

Noto Sans CJK has 65,535 glyphs. WeasyPrint subsets the fonts it embeds but keeps their
glyph numbering, so every PDF carries an index of all 65,535 glyphs: about 110 kB per
weight, and 50–100 ms per weight to make. Cut once to GB 2312 (the 6,763 common hanzi
and its symbols), Latin, general and CJK punctuation and full-width forms, the font has
about 8,000 glyphs, and each PDF is a third of the size and faster to write.

The cut is made with HarfBuzz's subsetter (what WeasyPrint itself uses, through
``libharfbuzz-subset0``) in a fraction of a second, and kept in ``<data_dir>/.cache``.
Characters outside it (a rare surname character) fall back to the full Noto Sans CJK SC,
which comes next in the CSS ``font-family`` list. Without HarfBuzz or fontconfig's
``fc-match``, :func:`prepare` returns nothing and the PDFs use the full font directly.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import tempfile
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

#: The font the PDFs are made with, by its fontconfig family name.
SYSTEM_FAMILY = "Noto Sans CJK SC"
#: The family name the cut font is given in the stylesheet (and in the PDF).
FAMILY = "Noto Sans CJK SC Common"
WEIGHTS = {"regular": "regular", "bold": "bold"}
#: Unicode ranges kept besides GB 2312: Latin, punctuation, arrows, enclosed numbers,
#: shapes, CJK symbols and punctuation, full-width forms.
_RANGES = (
    (0x0020, 0x007E),
    (0x00A0, 0x017F),
    (0x2000, 0x206F),
    (0x2190, 0x21FF),
    (0x2460, 0x24FF),
    (0x25A0, 0x25FF),
    (0x3000, 0x303F),
    (0xFF00, 0xFFEF),
)
#: OpenType features kept: enough for horizontal Chinese and Latin text. Leaving out
#: ``locl`` and the vertical forms keeps the Japanese and Korean glyph variants out.
_FEATURES = (b"kern", b"liga", b"ccmp", b"calt")
#: hb_subset_sets_t: HB_SUBSET_SETS_LAYOUT_FEATURE_TAG.
_LAYOUT_FEATURE_TAGS = 6
_CDEF = """
typedef struct hb_blob_t hb_blob_t;
typedef struct hb_face_t hb_face_t;
typedef struct hb_set_t hb_set_t;
typedef struct hb_subset_input_t hb_subset_input_t;
hb_blob_t *hb_blob_create_from_file_or_fail(const char *file_name);
hb_face_t *hb_face_create(hb_blob_t *blob, unsigned int index);
hb_blob_t *hb_face_reference_blob(hb_face_t *face);
const char *hb_blob_get_data(hb_blob_t *blob, unsigned int *length);
void hb_blob_destroy(hb_blob_t *blob);
void hb_face_destroy(hb_face_t *face);
void hb_set_add(hb_set_t *set, uint32_t codepoint);
void hb_set_add_range(hb_set_t *set, uint32_t first, uint32_t last);
void hb_set_clear(hb_set_t *set);
uint32_t hb_tag_from_string(const char *str, int len);
hb_subset_input_t *hb_subset_input_create_or_fail(void);
void hb_subset_input_destroy(hb_subset_input_t *input);
hb_set_t *hb_subset_input_unicode_set(hb_subset_input_t *input);
hb_set_t *hb_subset_input_set(hb_subset_input_t *input, int set_type);
hb_face_t *hb_subset_or_fail(hb_face_t *source, const hb_subset_input_t *input);
"""

log = logging.getLogger("forms_server.pdf")


def prepare(cache_dir: Path) -> dict[str, Path]:
    """weight ("regular", "bold") -> the cut font file, made if missing; {} when impossible."""
    try:
        return {weight: _cut(cache_dir, weight) for weight in WEIGHTS}
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        log.warning("PDFs use the full %s font (it could not be cut: %s)", SYSTEM_FAMILY, exc)
        return {}


def _cut(cache_dir: Path, weight: str) -> Path:
    source, index = _locate(weight)
    stat = source.stat()
    key = hashlib.sha256(
        f"{source}|{index}|{stat.st_size}|{stat.st_mtime_ns}|{_RANGES}|{_FEATURES}".encode()
    ).hexdigest()[:16]
    target = cache_dir / f"forms-sans-sc-{weight}-{key}.otf"
    if target.is_file():
        return target
    data = _subset(source, index)  # remembered: another data directory needs no new cut
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=cache_dir, prefix=".font-")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(partial, target)
    return target


@lru_cache(maxsize=4)
def _locate(weight: str) -> tuple[Path, int]:
    """The file and face index of Noto Sans CJK SC in ``weight``, asked of fontconfig."""
    pattern = f"{SYSTEM_FAMILY}:weight={'bold' if weight == 'bold' else 'regular'}"
    found = subprocess.run(
        ["fc-match", "--format=%{family}\n%{file}\n%{index}", pattern],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout.split("\n")
    if len(found) < 3 or SYSTEM_FAMILY not in found[0]:
        raise RuntimeError(f"fontconfig has no {SYSTEM_FAMILY} (install fonts-noto-cjk)")
    return Path(found[1]), int(found[2] or 0)


@lru_cache(maxsize=2)
def _subset(source: Path, index: int) -> bytes:
    ffi, hb, subset = _harfbuzz()
    blob = hb.hb_blob_create_from_file_or_fail(str(source).encode())
    if blob == ffi.NULL:
        raise RuntimeError(f"cannot read {source}")
    face = hb.hb_face_create(blob, index)
    spec = subset.hb_subset_input_create_or_fail()
    try:
        unicodes = subset.hb_subset_input_unicode_set(spec)
        for codepoint in _gb2312():
            hb.hb_set_add(unicodes, codepoint)
        for first, last in _RANGES:
            hb.hb_set_add_range(unicodes, first, last)
        features = subset.hb_subset_input_set(spec, _LAYOUT_FEATURE_TAGS)
        hb.hb_set_clear(features)
        for tag in _FEATURES:
            hb.hb_set_add(features, hb.hb_tag_from_string(tag, len(tag)))
        cut = subset.hb_subset_or_fail(face, spec)
        if cut == ffi.NULL:
            raise RuntimeError("HarfBuzz could not subset the font")
        out = hb.hb_face_reference_blob(cut)
        length = ffi.new("unsigned int *")
        data = bytes(ffi.buffer(hb.hb_blob_get_data(out, length), length[0]))
        hb.hb_blob_destroy(out)
        hb.hb_face_destroy(cut)
        return data
    finally:
        subset.hb_subset_input_destroy(spec)
        hb.hb_face_destroy(face)
        hb.hb_blob_destroy(blob)


@lru_cache(maxsize=1)
def _harfbuzz() -> tuple[Any, Any, Any]:
    try:
        import cffi  # type: ignore[import-untyped]  # WeasyPrint's own dependency
    except ImportError as exc:  # pragma: no cover
        raise RuntimeError("cffi is not installed") from exc
    ffi = cffi.FFI()
    ffi.cdef(_CDEF)
    try:
        hb = ffi.dlopen("libharfbuzz.so.0")
        subset = ffi.dlopen("libharfbuzz-subset.so.0")
    except OSError as exc:
        raise RuntimeError("libharfbuzz-subset0 is not installed") from exc
    return ffi, hb, subset


def _gb2312() -> Iterator[int]:
    """Every character of GB 2312 (row and cell 0xA1–0xFE)."""
    for row in range(0xA1, 0xF8):
        for cell in range(0xA1, 0xFF):
            try:
                yield ord(bytes((row, cell)).decode("gb2312"))
            except UnicodeDecodeError:
                continue
