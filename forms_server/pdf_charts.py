"""Charts for the summary report: geometry only, drawn as SVG by ``templates/pdf/charts.html``.

Pure functions from counts to coordinates. The template writes every label as SVG text
through Jinja's autoescaping, so a choice label is text, never markup. Coordinates are
in a 640-unit-wide viewBox that the PDF scales to the page's width (180 mm): one unit is
about 0.8 pt, and text is 11 units (about 9 pt).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 640
FONT_SIZE = 11
_ROW = 17
_BAR = 11
_GAP = 8
#: Room kept right of the longest bar for its figures ("1,234 · 56.7%").
_FIGURES = 96
_MAX_LABEL = 300


@dataclass(frozen=True)
class BarRow:
    label: str
    figures: str
    #: Top of the row's bar, and the bar's length.
    y: float
    length: float


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars, one per row, labels on the left: fits long Chinese labels."""

    rows: tuple[BarRow, ...]
    width: int
    height: int
    #: Where the bars start (the labels end _GAP before).
    bar_x: float
    bar_height: int = _BAR
    font_size: int = FONT_SIZE


@dataclass(frozen=True)
class Column:
    x: float
    y: float
    width: float
    height: float
    count: str


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Histogram:
    """Vertical columns over a number line, counts on top, bin edges below."""

    columns: tuple[Column, ...]
    ticks: tuple[Tick, ...]
    width: int
    height: int
    baseline: float
    #: Where the axis starts and (``width - left``) ends.
    left: float
    font_size: int = FONT_SIZE


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """An estimate of the width of ``text``: Chinese characters are square, Latin about half."""
    return size * sum(1.0 if unicodedata.east_asian_width(c) in "WF" else 0.58 for c in text)


def shorten(text: str, room: float, size: float = FONT_SIZE) -> str:
    """``text`` cut with an ellipsis to fit ``room`` units."""
    if text_width(text, size) <= room:
        return text
    while text and text_width(text + "…", size) > room:
        text = text[:-1]
    return text + "…"


def bar_chart(rows: Sequence[tuple[str, int, str]]) -> BarChart:
    """Bars for (label, count, figures) rows, longest bar for the largest count."""
    longest = max((text_width(label) for label, _, _ in rows), default=0.0)
    label_room = min(max(longest, 40.0), _MAX_LABEL)
    bar_x = label_room + _GAP
    room = WIDTH - bar_x - _FIGURES
    top = max((count for _, count, _ in rows), default=0)
    drawn = tuple(
        BarRow(
            label=shorten(label, label_room),
            figures=figures,
            y=i * _ROW + (_ROW - _BAR) / 2,
            length=round(room * count / top, 2) if top else 0.0,
        )
        for i, (label, count, figures) in enumerate(rows)
    )
    return BarChart(drawn, WIDTH, max(len(rows), 1) * _ROW, bar_x)


def histogram(counts: Sequence[int], edges: Sequence[str], *, height: int = 130) -> Histogram:
    """Columns for ``counts``; ``edges`` has one more label than there are columns."""
    if len(edges) != len(counts) + 1:
        raise ValueError("a histogram needs one edge more than it has bins")
    left, right, top, bottom = 28.0, 28.0, 16.0, 20.0
    plot = WIDTH - left - right
    step = plot / max(len(counts), 1)
    peak = max(counts, default=0)
    baseline = height - bottom
    columns = []
    for i, count in enumerate(counts):
        tall = (baseline - top) * count / peak if peak else 0.0
        columns.append(
            Column(
                x=round(left + i * step + 1, 2),
                y=round(baseline - tall, 2),
                width=round(step - 2, 2),
                height=round(tall, 2),
                count=f"{count:,}" if count else "",
            )
        )
    # Every edge when they fit, else every other one.
    every = 1 if max((text_width(e) for e in edges), default=0) < step - 4 else 2
    ticks = tuple(
        Tick(round(left + i * step, 2), edge) for i, edge in enumerate(edges) if i % every == 0
    )
    return Histogram(tuple(columns), ticks, WIDTH, height, baseline, left)
