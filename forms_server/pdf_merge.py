"""Merge PDFs into one file as they come, holding only the one being added in memory.

pypdf's ``PdfWriter`` keeps every page of every input until it writes the output: memory
grows with the number of submissions in a batch. :class:`StreamingMerger` writes each
input's pages and everything they use (content, fonts, images) straight to the output
file, renumbered, and keeps only the byte offsets of the objects written and the page
and bookmark references; the page tree, bookmarks, cross-reference table and trailer
are written when it is closed. Inputs are read with pypdf.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from pypdf import PdfReader
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    IndirectObject,
    NameObject,
    NullObject,
    NumberObject,
    PdfObject,
    StreamObject,
    create_string_object,
)


class StreamingMerger:
    """``add`` PDFs in order, then ``close``; the output is complete only after ``close``."""

    def __init__(self, path: Path) -> None:
        self._out: IO[bytes] = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        #: Byte offset of each object written; index = object number (0 is unused).
        self._offsets: list[int | None] = [None]
        self._pages_id = self._reserve()
        self._pages: list[int] = []
        #: (title, page object number, top of the destination) of every bookmark.
        self._bookmarks: list[tuple[str, int, float | None]] = []
        self.closed = False

    def add(self, path: Path) -> None:
        """Append every page of the PDF at ``path``, and its top-level bookmarks."""
        reader = PdfReader(path)
        mapping: dict[int, int] = {}
        pending: list[IndirectObject] = []

        def ref(old: IndirectObject) -> IndirectObject:
            if old.idnum not in mapping:
                mapping[old.idnum] = self._reserve()
                pending.append(old)
            return IndirectObject(mapping[old.idnum], 0, None)

        def convert(obj: Any) -> Any:
            if isinstance(obj, IndirectObject):
                return ref(obj)
            if isinstance(obj, StreamObject):
                stream = obj.__class__()
                stream._data = obj._data
                for key, value in obj.items():
                    if key != "/Length":
                        stream[NameObject(key)] = convert(value)
                return stream
            if isinstance(obj, DictionaryObject):
                copy = DictionaryObject()
                for key, value in obj.items():
                    if key != "/Parent":
                        copy[NameObject(key)] = convert(value)
                return copy
            if isinstance(obj, ArrayObject):
                return ArrayObject(convert(item) for item in obj)
            return obj

        page_ids = set()
        for page in reader.pages:
            if page.indirect_reference is None:  # pragma: no cover - pages read are indirect
                raise ValueError(f"{path}: a page without an object number")
            new = ref(page.indirect_reference)
            page_ids.add(new.idnum)
            self._pages.append(new.idnum)
        while pending:
            old = pending.pop()
            obj = convert(old.get_object())
            new_id = mapping[old.idnum]
            if new_id in page_ids:
                obj[NameObject("/Parent")] = IndirectObject(self._pages_id, 0, None)
            self._write(new_id, obj)
        for item in reader.outline:
            if isinstance(item, list) or item.page is None:
                continue
            target = item.page.idnum if isinstance(item.page, IndirectObject) else None
            if target in mapping:
                top = item.get("/Top")
                self._bookmarks.append((str(item.title), mapping[target], top))

    def close(self) -> None:
        """Write the page tree, the bookmarks, the cross-reference table and the trailer."""
        if self.closed:
            return
        self.closed = True
        kids = ArrayObject(IndirectObject(n, 0, None) for n in self._pages)
        pages = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Pages"),
                NameObject("/Kids"): kids,
                NameObject("/Count"): NumberObject(len(self._pages)),
            }
        )
        self._write(self._pages_id, pages)
        catalog = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Catalog"),
                NameObject("/Pages"): IndirectObject(self._pages_id, 0, None),
            }
        )
        if self._bookmarks:
            catalog[NameObject("/Outlines")] = self._write_outline()
            catalog[NameObject("/PageMode")] = NameObject("/UseOutlines")
        root = self._reserve()
        self._write(root, catalog)
        xref = self._out.tell()
        lines = [f"xref\n0 {len(self._offsets)}\n", "0000000000 65535 f \n"]
        lines += [f"{offset or 0:010d} 00000 n \n" for offset in self._offsets[1:]]
        self._out.write("".join(lines).encode())
        self._out.write(
            f"trailer\n<< /Size {len(self._offsets)} /Root {root} 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n".encode()
        )
        self._out.close()

    def abort(self) -> None:
        """Close the file without completing it (the caller deletes it)."""
        self.closed = True
        self._out.close()

    def _write_outline(self) -> IndirectObject:
        outline_id = self._reserve()
        ids = [self._reserve() for _ in self._bookmarks]
        for i, (title, page, top) in enumerate(self._bookmarks):
            destination = ArrayObject(
                [
                    IndirectObject(page, 0, None),
                    NameObject("/XYZ"),
                    NullObject(),
                    NumberObject(round(top)) if top is not None else NullObject(),
                    NullObject(),
                ]
            )
            item = DictionaryObject(
                {
                    NameObject("/Title"): create_string_object(title),
                    NameObject("/Parent"): IndirectObject(outline_id, 0, None),
                    NameObject("/Dest"): destination,
                }
            )
            if i:
                item[NameObject("/Prev")] = IndirectObject(ids[i - 1], 0, None)
            if i + 1 < len(ids):
                item[NameObject("/Next")] = IndirectObject(ids[i + 1], 0, None)
            self._write(ids[i], item)
        outline = DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Outlines"),
                NameObject("/First"): IndirectObject(ids[0], 0, None),
                NameObject("/Last"): IndirectObject(ids[-1], 0, None),
                NameObject("/Count"): NumberObject(len(ids)),
            }
        )
        self._write(outline_id, outline)
        return IndirectObject(outline_id, 0, None)

    def _reserve(self) -> int:
        self._offsets.append(None)
        return len(self._offsets) - 1

    def _write(self, number: int, obj: PdfObject) -> None:
        self._offsets[number] = self._out.tell()
        self._out.write(f"{number} 0 obj\n".encode())
        obj.write_to_stream(self._out)
        self._out.write(b"\nendobj\n")
