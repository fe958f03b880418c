"""HTML to PDF with WeasyPrint: the CJK font, a locked-down URL fetcher, one render at a time.

Every PDF of the server goes through one :class:`Renderer` per process. It holds what is
costly to make and safe to share: the Jinja environment of ``templates/pdf`` (autoescaped,
so every answer is text, never markup), WeasyPrint's font configuration and the parsed
stylesheet. The font is Noto Sans CJK SC (Debian's ``fonts-noto-cjk``, regular and bold),
cut to the characters in common use (:mod:`forms_server.pdf_fonts`) with the full font as
fallback, and set on ``html`` so that the page's margin boxes (running header, "第 X 页，
共 Y 页") use it too.

The only resources a PDF may load are stored attachments and that font, through the
``attachment:`` URLs the templates make from :func:`attachment_url` and ``font:regular``
/ ``font:bold``; :class:`LockedFetcher` refuses every other URL (``file:``, ``http:``,
``data:``, relative paths), whatever a submission holds.

WeasyPrint reports problems (a missing font, an unreadable image, slow font subsetting
without ``libharfbuzz-subset0``) through the ``weasyprint`` logger, which is silent
unless configured. Each render collects them and returns them with the result, and they
are logged to ``forms_server.pdf``.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol
from xml.etree import ElementTree

import cssselect2  # type: ignore[import-untyped]  # WeasyPrint's own dependency
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from weasyprint import CSS, HTML, Document
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

from forms_server import pdf_fonts
from forms_server.attachments import path_of

__all__ = [
    "LockedFetcher",
    "Renderer",
    "attachment_url",
    "fast_subsetting",
    "font_files",
    "page_style",
]

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates" / "pdf"
ATTACHMENT_SCHEME = "attachment:"
FONT_SCHEME = "font:"
#: Image types that are embedded (by their extension, which was set from their content).
_IMAGE_TYPES = {"jpg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp"}
#: Photos from phones are scaled down to this resolution and recompressed.
_IMAGE_OPTIONS: Mapping[str, Any] = {"optimize_images": True, "jpeg_quality": 80, "dpi": 150}

#: Characters written as they are in a CSS string; everything else is hex-escaped.
_CSS_PLAIN = frozenset(" .,:;·/()（）：，、-_")

log = logging.getLogger("forms_server.pdf")

#: WeasyPrint and Pango are not made for concurrent renders; one at a time also bounds
#: memory (a render of a few pages needs tens of megabytes).
_RENDER_LOCK = threading.Lock()


def attachment_url(data_dir: Path, relative: object) -> str | None:
    """The ``attachment:`` URL of a stored image answer, or None if it is not one.

    Only a name the attachments store made, naming an existing image file inside it, gets
    a URL; a forged answer (``../../etc/passwd``, ``file:///…``) gets None.
    """
    if not isinstance(relative, str) or path_of(data_dir, relative) is None:
        return None
    if relative.rsplit(".", 1)[-1] not in _IMAGE_TYPES:
        return None
    return ATTACHMENT_SCHEME + relative


class LockedFetcher(URLFetcher):  # type: ignore[misc]
    """Serves ``attachment:`` URLs from the attachments store and the ``font:`` files it
    was given, and refuses everything else.

    ``requested`` and ``refused`` keep the most recent URLs asked for, for tests and logs.
    """

    def __init__(self, data_dir: Path, fonts: Mapping[str, Path] | None = None) -> None:
        super().__init__(allowed_protocols=(), fail_on_errors=False)
        self.data_dir = Path(data_dir)
        self.fonts = dict(fonts or {})
        self.requested: deque[str] = deque(maxlen=200)
        self.refused: deque[str] = deque(maxlen=200)

    def fetch(self, url: str, headers: Mapping[str, str] | None = None) -> URLFetcherResponse:
        self.requested.append(url)
        font = self.fonts.get(url[len(FONT_SCHEME) :]) if url.startswith(FONT_SCHEME) else None
        if font is not None:
            media = "font/ttf" if font.suffix == ".ttf" else "font/otf"
            return URLFetcherResponse(url, body=font.read_bytes(), headers={"Content-Type": media})
        if url.startswith(ATTACHMENT_SCHEME):
            relative = url[len(ATTACHMENT_SCHEME) :]
            # What attachment_url checks: an image type, and a file of the store.
            image_type = _IMAGE_TYPES.get(relative.rsplit(".", 1)[-1])
            path = path_of(self.data_dir, relative) if image_type else None
            if image_type and path is not None:
                return URLFetcherResponse(
                    url, body=path.read_bytes(), headers={"Content-Type": image_type}
                )
        self.refused.append(url)
        raise ValueError(f"not an allowed resource: {url[:80]!r}")


def font_files(data_dir: Path) -> dict[str, Path]:
    """The cut fonts kept in ``data_dir``'s cache, made if missing (see :mod:`pdf_fonts`)."""
    return pdf_fonts.prepare(Path(data_dir) / ".cache" / "fonts")


def fast_subsetting() -> bool:
    """Whether WeasyPrint subsets fonts with HarfBuzz (ms), not fontTools (seconds)."""
    try:
        from weasyprint.text.ffi import harfbuzz, harfbuzz_subset
    except ImportError:  # pragma: no cover - a WeasyPrint without the binding
        return False
    return bool(harfbuzz_subset) and bool(harfbuzz.hb_version_atleast(4, 1, 0))


class Writable(Protocol):
    """What ``write_pdf`` writes to: anything with ``write(bytes)``."""

    def write(self, data: bytes, /) -> int: ...


@dataclass
class Rendered:
    """A laid-out document and what WeasyPrint complained about while making it."""

    document: Document
    warnings: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return len(self.document.pages)


class Renderer:
    """Renders the PDF templates to PDF; make one per process and share it."""

    def __init__(self, data_dir: Path, *, organisation: str = "", cut_font: bool = True) -> None:
        self.data_dir = Path(data_dir)
        self.organisation = organisation
        fonts = font_files(self.data_dir) if cut_font else {}
        families = [pdf_fonts.FAMILY] if fonts else []
        #: The CSS font-family list of every text, SVG charts included.
        self.font = (
            ", ".join(f"'{f}'" for f in [*families, pdf_fonts.SYSTEM_FAMILY]) + ", sans-serif"
        )
        self.fetcher = LockedFetcher(self.data_dir, fonts)
        self.env = _environment()
        self.font_config = FontConfiguration()
        self._stylesheet = CSS(
            string=self.env.get_template("pdf.css").render(
                font=self.font, family=pdf_fonts.FAMILY, fonts=fonts
            ),
            font_config=self.font_config,
            url_fetcher=self.fetcher,
        )
        self._page_styles: dict[tuple[tuple[str, str], ...], CSS] = {}
        #: What :meth:`_parse` copies: a document as WeasyPrint makes it, markup aside.
        self._blank = HTML(string="<html></html>", url_fetcher=self.fetcher)
        if not fast_subsetting():
            log.warning(
                "HarfBuzz subsetting is not available (install libharfbuzz-subset0): "
                "every PDF will take seconds instead of a fraction of one"
            )

    def html(self, template: str, context: Mapping[str, Any]) -> str:
        """A PDF template rendered to HTML (autoescaped)."""
        return self.env.get_template(template).render(
            organisation=self.organisation, font=self.font, **context
        )

    def render(self, html: str, *, margins: Mapping[str, str]) -> Rendered:
        """Lay out ``html``; ``margins`` (from :func:`page_style`) fills the page margins."""
        stylesheets = [self._stylesheet, self._page_css(margins)]
        with _RENDER_LOCK, _collect_warnings() as warnings:
            document = self._parse(html).render(
                stylesheets=stylesheets, font_config=self.font_config, **_IMAGE_OPTIONS
            )
        return Rendered(document, warnings)

    def _parse(self, html: str) -> HTML:
        """``html`` as a WeasyPrint document.

        The templates write well-formed XHTML (every answer in it escaped), which Python's
        XML parser reads some fifty times faster than WeasyPrint's HTML5 parser: for a
        record, milliseconds of each PDF. Markup that is not well-formed XML (a control
        character in an answer) goes through the HTML5 parser.
        """
        try:
            root = ElementTree.fromstring(html)
        except ElementTree.ParseError:
            return HTML(string=html, url_fetcher=self.fetcher)
        document = copy.copy(self._blank)
        document.wrapper_element = cssselect2.ElementWrapper.from_html_root(root)
        document.etree_element = document.wrapper_element.etree_element
        return document

    def write(self, documents: Sequence[Document], target: str | Path | Writable) -> list[str]:
        """Write the pages of ``documents``, in order, as one PDF; returns warnings."""
        if not documents:
            raise ValueError("nothing to write")
        pages = [page for document in documents for page in document.pages]
        with _RENDER_LOCK, _collect_warnings() as warnings:
            documents[0].copy(pages).write_pdf(target)
        return warnings

    def _page_css(self, margins: Mapping[str, str]) -> CSS:
        key = tuple(sorted(margins.items()))
        css = self._page_styles.get(key)
        if css is None:
            text = self.env.get_template("page.css").render(
                organisation=self.organisation, **margins
            )
            css = CSS(string=text, font_config=self.font_config, url_fetcher=self.fetcher)
            if len(self._page_styles) < 64:
                self._page_styles[key] = css
        return css


class _Collector(logging.Handler):
    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.sink.append(message)
        log.warning("weasyprint: %s", message)


@contextmanager
def _collect_warnings() -> Iterator[list[str]]:
    """WeasyPrint's warnings during the block (the caller holds the render lock)."""
    warnings: list[str] = []
    handler = _Collector(warnings)
    logger = logging.getLogger("weasyprint")
    logger.addHandler(handler)
    try:
        yield warnings
    finally:
        logger.removeHandler(handler)


def css_string(value: object) -> Markup:
    """``value`` as a quoted CSS string, safe inside ``<style>`` and stylesheets."""
    out = []
    for char in str(value):
        plain = char.isprintable() and (char.isalnum() or char in _CSS_PLAIN)
        out.append(char if plain else f"\\{ord(char):06x}")
    return Markup('"' + "".join(out) + '"')


@lru_cache(maxsize=1)
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(["html", "svg"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["css_string"] = css_string
    return env


def page_style(langs: Sequence[str], *, notice: bool) -> dict[str, str]:
    """What fills the page margins of a document in ``langs``: see ``page.css``."""
    zh = any(lang.startswith("zh") for lang in langs)
    en = any(not lang.startswith("zh") for lang in langs)
    mode = "both" if zh and en else "zh" if zh else "en"
    return {"mode": mode, "notice": "1" if notice else ""}
