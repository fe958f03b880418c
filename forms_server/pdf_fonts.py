"""A smaller Chinese font for the PDFs: Noto Sans CJK SC cut to the characters in common use.

Noto Sans CJK has 65,535 glyphs. WeasyPrint subsets the fonts it embeds but keeps their
glyph numbering, so every PDF carries an index of all 65,535 glyphs: about 110 kB per
weight, and 50–100 ms per weight to make. Cut once to GB 2312 (the 6,763 common hanzi
and its symbols), Latin, general and CJK punctuation and full-width forms, the font has
about 8,000 glyphs, and each PDF is a third of the size and faster to write.

The cut is made with HarfBuzz's subsetter (what WeasyPrint itself uses, through
``libharfbuzz-subset0``) in a fraction of a second. Its outlines are then turned from
CFF (cubic curves) into TrueType ones (quadratic, within a thousandth of an em of the
original), drawn by HarfBuzz and converted with fontTools: a few seconds per weight,
once. WeasyPrint subsets a TrueType font in less than half the time of a CFF one, and the
embedded subsets are half the size (CFF keeps an entry per glyph number that TrueType
does not need), which is about a tenth of every record's time. If the conversion is not
possible, the cut keeps its CFF outlines.

The result is kept in ``<data_dir>/.cache`` (and in memory, for other data directories).
Characters outside the cut (a rare surname character) fall back to the full Noto Sans CJK
SC, which comes next in the CSS ``font-family`` list. Without HarfBuzz or fontconfig's
``fc-match``, :func:`prepare` returns nothing and the PDFs use the full font directly.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import struct
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
WEIGHTS = ("regular", "bold")
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
#: Tables left out: the vertical metrics (the PDFs are written horizontally).
_DROP_TABLES = (b"VORG", b"vhea", b"vmtx")
#: The largest distance, in font units (1/1000 em), between a cubic curve of the original
#: and the quadratic curves that replace it.
_TOLERANCE = 1.0
#: Part of the cache key: changed whenever what the cut holds changes.
_FORMAT = "truetype-1"
#: hb_subset_sets_t: HB_SUBSET_SETS_DROP_TABLE_TAG, HB_SUBSET_SETS_LAYOUT_FEATURE_TAG.
_DROP_TABLE_TAGS = 3
_LAYOUT_FEATURE_TAGS = 6
#: hb_memory_mode_t: HB_MEMORY_MODE_DUPLICATE.
_DUPLICATE = 0
_CDEF = """
typedef struct hb_blob_t hb_blob_t;
typedef struct hb_face_t hb_face_t;
typedef struct hb_set_t hb_set_t;
typedef struct hb_subset_input_t hb_subset_input_t;
typedef struct hb_font_t hb_font_t;
typedef struct hb_draw_funcs_t hb_draw_funcs_t;
typedef struct hb_draw_state_t hb_draw_state_t;
typedef void (*hb_draw_point_func_t)(
    hb_draw_funcs_t *, void *, hb_draw_state_t *, float, float, void *);
typedef void (*hb_draw_quadratic_to_func_t)(
    hb_draw_funcs_t *, void *, hb_draw_state_t *, float, float, float, float, void *);
typedef void (*hb_draw_cubic_to_func_t)(
    hb_draw_funcs_t *, void *, hb_draw_state_t *, float, float, float, float, float, float,
    void *);
hb_blob_t *hb_blob_create_from_file_or_fail(const char *file_name);
hb_blob_t *hb_blob_create(const char *data, unsigned int length, int mode, void *user_data,
                          void *destroy);
unsigned int hb_face_get_glyph_count(hb_face_t *face);
hb_font_t *hb_font_create(hb_face_t *face);
void hb_font_destroy(hb_font_t *font);
hb_draw_funcs_t *hb_draw_funcs_create(void);
void hb_draw_funcs_destroy(hb_draw_funcs_t *dfuncs);
void hb_draw_funcs_set_move_to_func(hb_draw_funcs_t *, hb_draw_point_func_t, void *, void *);
void hb_draw_funcs_set_line_to_func(hb_draw_funcs_t *, hb_draw_point_func_t, void *, void *);
void hb_draw_funcs_set_quadratic_to_func(
    hb_draw_funcs_t *, hb_draw_quadratic_to_func_t, void *, void *);
void hb_draw_funcs_set_cubic_to_func(hb_draw_funcs_t *, hb_draw_cubic_to_func_t, void *, void *);
void hb_font_get_glyph_shape(hb_font_t *font, unsigned int glyph, hb_draw_funcs_t *dfuncs,
                             void *draw_data);
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
        f"{source}|{index}|{stat.st_size}|{stat.st_mtime_ns}|{_RANGES}|{_FEATURES}"
        f"|{_DROP_TABLES}|{_FORMAT}".encode()
    ).hexdigest()[:16]
    stem = f"forms-sans-sc-{weight}-{key}"
    # .otf: the outlines could not be converted; not tried again for this cut.
    for suffix in (".ttf", ".otf"):
        if (cache_dir / (stem + suffix)).is_file():
            return cache_dir / (stem + suffix)
    data = _font(source, index)  # remembered: another data directory needs no new cut
    target = cache_dir / (stem + (".otf" if data[:4] == b"OTTO" else ".ttf"))
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=cache_dir, prefix=".font-")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(partial, target)
    return target


@lru_cache(maxsize=2)
def _font(source: Path, index: int) -> bytes:
    """The cut of the font, with TrueType outlines when they can be made."""
    cut = _subset(source, index)
    try:
        return _truetype(cut)
    except Exception as exc:  # fontTools and HarfBuzz report bad input in many ways
        log.warning("the cut of %s keeps its CFF outlines: %s", source.name, exc)
        return cut


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
        dropped = subset.hb_subset_input_set(spec, _DROP_TABLE_TAGS)
        for tag in _DROP_TABLES:
            hb.hb_set_add(dropped, hb.hb_tag_from_string(tag, len(tag)))
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


def _truetype(cff: bytes) -> bytes:
    """The font ``cff`` with its CFF outlines replaced by TrueType ones.

    Glyph by glyph, each written as soon as drawn: the outlines of 8,000 glyphs as Python
    objects would take a hundred megabytes more. Only the tables that change are parsed;
    the others (cmap, metrics, layout) are copied as they are.
    """
    from fontTools.ttLib import TTFont, newTable  # type: ignore[import-untyped]
    from fontTools.ttLib.tables._g_l_y_f import Glyph  # type: ignore[import-untyped]

    font = TTFont(io.BytesIO(cff), recalcBBoxes=False, recalcTimestamp=False)
    if "CFF " not in font.reader:
        return cff
    glyf = newTable("glyf")
    glyf.glyphOrder = [f"g{number}" for number in range(font["maxp"].numGlyphs)]
    glyf.glyphs = {}
    most_points = most_contours = 0
    for name, contours in zip(glyf.glyphOrder, _outlines(cff), strict=True):
        data, points = _glyph(contours)
        glyf.glyphs[name] = Glyph(data)
        most_points = max(most_points, points)
        most_contours = max(most_contours, len(contours))
    font.setGlyphOrder(glyf.glyphOrder)
    del font["CFF "]
    font["glyf"] = glyf
    font["loca"] = newTable("loca")
    maxp = newTable("maxp")
    maxp.tableVersion = 0x00010000
    maxp.numGlyphs = len(glyf.glyphOrder)
    for field in (
        "maxCompositePoints", "maxCompositeContours", "maxTwilightPoints", "maxStorage",
        "maxFunctionDefs", "maxInstructionDefs", "maxStackElements", "maxSizeOfInstructions",
        "maxComponentElements", "maxComponentDepth",
    ):  # fmt: skip
        setattr(maxp, field, 0)
    maxp.maxZones = 1
    maxp.maxPoints = most_points
    maxp.maxContours = most_contours
    font["maxp"] = maxp
    font["post"].formatType = 3.0
    font.sfntVersion = "\x00\x01\x00\x00"
    out = io.BytesIO()
    font.save(out)  # loca's format is chosen here
    return out.getvalue()


#: A glyph's outline: contours of (x, y, on the curve) points.
Contour = list[tuple[float, float, bool]]


def _outlines(cff: bytes) -> Iterator[list[Contour]]:
    """Every glyph's outline in order, drawn by HarfBuzz, cubic curves made quadratic."""
    from fontTools.cu2qu import curve_to_quadratic  # type: ignore[import-untyped]

    ffi, hb, _ = _harfbuzz()
    contours: list[Contour] = []
    pen = [0.0, 0.0]
    errors: list[BaseException] = []

    def failed(kind: Any, value: BaseException, trace: Any) -> None:
        errors.append(value)

    def move_to(funcs: Any, data: Any, state: Any, x: float, y: float, user: Any) -> None:
        contours.append([(x, y, True)])
        pen[:] = x, y

    def line_to(funcs: Any, data: Any, state: Any, x: float, y: float, user: Any) -> None:
        contours[-1].append((x, y, True))
        pen[:] = x, y

    def quadratic_to(
        funcs: Any, data: Any, state: Any, cx: float, cy: float, x: float, y: float, user: Any
    ) -> None:
        contours[-1] += [(cx, cy, False), (x, y, True)]
        pen[:] = x, y

    def cubic_to(
        funcs: Any,
        data: Any,
        state: Any,
        ax: float,
        ay: float,
        bx: float,
        by: float,
        x: float,
        y: float,
        user: Any,
    ) -> None:
        curve = curve_to_quadratic(((pen[0], pen[1]), (ax, ay), (bx, by), (x, y)), _TOLERANCE)
        contours[-1] += [(px, py, False) for px, py in curve[1:-1]]
        contours[-1].append((x, y, True))
        pen[:] = x, y

    blob = hb.hb_blob_create(cff, len(cff), _DUPLICATE, ffi.NULL, ffi.NULL)
    face = hb.hb_face_create(blob, 0)
    font = hb.hb_font_create(face)  # scaled in font units
    funcs = hb.hb_draw_funcs_create()
    try:
        # Kept referenced until the drawing is done: HarfBuzz holds only their addresses.
        callbacks = [
            ffi.callback("hb_draw_point_func_t", move_to, onerror=failed),
            ffi.callback("hb_draw_point_func_t", line_to, onerror=failed),
            ffi.callback("hb_draw_quadratic_to_func_t", quadratic_to, onerror=failed),
            ffi.callback("hb_draw_cubic_to_func_t", cubic_to, onerror=failed),
        ]
        hb.hb_draw_funcs_set_move_to_func(funcs, callbacks[0], ffi.NULL, ffi.NULL)
        hb.hb_draw_funcs_set_line_to_func(funcs, callbacks[1], ffi.NULL, ffi.NULL)
        hb.hb_draw_funcs_set_quadratic_to_func(funcs, callbacks[2], ffi.NULL, ffi.NULL)
        hb.hb_draw_funcs_set_cubic_to_func(funcs, callbacks[3], ffi.NULL, ffi.NULL)
        for glyph in range(hb.hb_face_get_glyph_count(face)):
            contours = []
            hb.hb_font_get_glyph_shape(font, glyph, funcs, ffi.NULL)
            if errors:
                raise RuntimeError(f"glyph {glyph}: {errors[0]}")
            yield contours
    finally:
        hb.hb_draw_funcs_destroy(funcs)
        hb.hb_font_destroy(font)
        hb.hb_face_destroy(face)
        hb.hb_blob_destroy(blob)


def _glyph(contours: list[Contour]) -> tuple[bytes, int]:
    """The TrueType ``glyf`` entry of ``contours`` (points rounded to font units), and
    its number of points."""
    xs: list[int] = []
    ys: list[int] = []
    flags = bytearray()
    ends: list[int] = []
    for contour in contours:
        # HarfBuzz closes a contour with a line back to its start: TrueType implies it.
        if len(contour) > 1 and contour[-1] == contour[0]:
            contour = contour[:-1]
        # CFF draws outer contours counter-clockwise, TrueType clockwise.
        for x, y, on in [contour[0], *reversed(contour[1:])]:
            xs.append(round(x))
            ys.append(round(y))
            flags.append(_ON_CURVE if on else 0)
        ends.append(len(xs) - 1)
    if not ends:
        return b"", 0
    x_bytes = bytearray()
    y_bytes = bytearray()
    last_x = last_y = 0
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        flags[i] |= _delta(x - last_x, x_bytes, _X_SHORT, _X_SAME)
        flags[i] |= _delta(y - last_y, y_bytes, _Y_SHORT, _Y_SAME)
        last_x, last_y = x, y
    head = struct.pack(f">5h{len(ends)}HH", len(ends), min(xs), min(ys), max(xs), max(ys), *ends, 0)
    return head + _repeat(flags) + x_bytes + y_bytes, len(xs)


#: Point flags of a TrueType glyph.
_ON_CURVE, _X_SHORT, _Y_SHORT, _REPEAT, _X_SAME, _Y_SAME = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20


def _delta(delta: int, out: bytearray, short: int, same: int) -> int:
    """Append one coordinate's ``delta`` to ``out``; return its flags."""
    if delta == 0:
        return same
    if -255 <= delta <= 255:
        out.append(abs(delta))
        return short | (same if delta > 0 else 0)
    out += struct.pack(">h", delta)
    return 0


def _repeat(flags: bytearray) -> bytes:
    """``flags`` with runs of the same flag written once and counted."""
    out = bytearray()
    i = 0
    while i < len(flags):
        run = 1
        while i + run < len(flags) and flags[i + run] == flags[i] and run < 256:
            run += 1
        if run > 2:
            out += bytes((flags[i] | _REPEAT, run - 1))
        else:
            out += flags[i : i + run]
        i += run
    return bytes(out)


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
