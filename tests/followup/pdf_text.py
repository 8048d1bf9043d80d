"""The text a ReportLab PDF shows, in pure Python (no poppler, no pypdf: it always runs).

Enough of PDF for what ReportLab writes: numbered objects, streams of a given /Length (Flate and
ASCII85 decoded, so compressed pages work too), the page tree, and each font's decoding: the
built-in Type 1 fonts' WinAnsi (Windows-1252) and an embedded TrueType subset's ToUnicode CMap
(each subset has its own byte codes, so the bytes alone do not say which letter is shown)."""

import base64
import re
import zlib
from collections.abc import Callable

_OBJECT = re.compile(rb"^(\d+) 0 obj\r?\n(.*?)\r?\nendobj\r?$", re.S | re.M)
_LENGTH = re.compile(rb"/Length (\d+)\b")
_REF = re.compile(rb"(\d+) 0 R")
_BFCHAR = re.compile(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>")
_BFRANGE = re.compile(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>")
# A content stream's text operators: a font, a string shown (Tj, or the strings of a TJ array),
# a new line (T*) or the end of a text object (ET).
_OPERATOR = re.compile(
    rb"/(?P<font>[^\s/\[\]()<>]+)\s+[-\d.]+\s+Tf"
    rb"|\((?P<shown>(?:\\.|[^\\)])*)\)\s*Tj"
    rb"|\[(?P<array>(?:\\.|[^\\\]])*)\]\s*TJ"
    rb"|(?P<line>\bT\*|\bET\b)",
    re.S,
)
_STRING = re.compile(rb"\(((?:\\.|[^\\)])*)\)", re.S)
_ESCAPE = re.compile(rb"\\([0-7]{1,3}|\r?\n|.)", re.S)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}

Decoder = Callable[[bytes], str]


def _unescape(match: re.Match) -> bytes:
    code = match.group(1)
    if code[:1].isdigit():
        return bytes([int(code, 8) & 0xFF])
    if code in (b"\n", b"\r\n"):
        return b""  # a line continued
    return _ESCAPES.get(code, code)


def _literal(raw: bytes) -> bytes:
    return _ESCAPE.sub(_unescape, raw)


class Pdf:
    def __init__(self, pdf: bytes):
        assert pdf.startswith(b"%PDF-"), "not a PDF"
        self.objects: dict[int, bytes] = {}
        self.streams: dict[int, bytes] = {}
        for match in _OBJECT.finditer(pdf):
            number, body = int(match.group(1)), match.group(2)
            self.objects[number] = body
            start = body.find(b"stream")
            length = _LENGTH.search(body)
            if start != -1 and length and b">>" in body[:start]:
                data_start = start + len(b"stream") + (2 if body[start + 6 : start + 8] == b"\r\n" else 1)
                self.streams[number] = self._decoded(body[:start], body[data_start : data_start + int(length.group(1))])

    @staticmethod
    def _decoded(head: bytes, data: bytes) -> bytes:
        if b"/ASCII85Decode" in head:
            data = base64.a85decode(data.strip(), adobe=True)
        if b"/FlateDecode" in head:
            data = zlib.decompress(data)
        return data

    def fonts(self) -> dict[bytes, bytes]:
        """{resource name (b"F1", b"F2+0"): base font (b"Helvetica", b"AAAAAA+DejaVuSans")}."""
        out = {}
        for body in self.objects.values():
            if b"/Type /Font" in body:
                name, base = re.search(rb"/Name /(\S+)", body), re.search(rb"/BaseFont /(\S+)", body)
                if name and base:
                    out[name.group(1)] = base.group(1)
        return out

    def embedded_font_files(self) -> int:
        """How many font programs the file carries (/FontFile2: TrueType)."""
        return sum(1 for body in self.objects.values() if b"/FontFile2" in body)

    def _decoders(self) -> dict[bytes, Decoder]:
        decoders: dict[bytes, Decoder] = {}
        for body in self.objects.values():
            name = re.search(rb"/Name /(\S+)", body)
            if b"/Type /Font" not in body or not name:
                continue
            to_unicode = re.search(rb"/ToUnicode (\d+) 0 R", body)
            if to_unicode:
                decoders[name.group(1)] = _cmap_decoder(self.streams[int(to_unicode.group(1))])
            else:  # the built-in fonts: WinAnsiEncoding
                decoders[name.group(1)] = lambda raw: raw.decode("cp1252", errors="replace")
        return decoders

    def pages(self) -> list[bytes]:
        """The content stream of each page, in page order (ReportLab's one-level page tree)."""
        tree = next(body for body in self.objects.values() if b"/Type /Pages" in body)
        kids = re.search(rb"/Kids \[(.*?)\]", tree, re.S)
        assert kids is not None
        out = []
        for ref in _REF.finditer(kids.group(1)):
            contents = re.search(rb"/Contents (\d+) 0 R", self.objects[int(ref.group(1))])
            out.append(self.streams[int(contents.group(1))] if contents else b"")
        return out

    def page_texts(self) -> list[str]:
        """The text shown on each page, a line per line (the lines of a paragraph as laid out)."""
        decoders = self._decoders()
        pages = []
        for content in self.pages():
            out: list[str] = []
            decode: Decoder = _undecodable
            for match in _OPERATOR.finditer(content):
                if match.group("font") is not None:
                    decode = decoders.get(match.group("font"), _undecodable)
                elif match.group("shown") is not None:
                    out.append(decode(_literal(match.group("shown"))))
                elif match.group("array") is not None:
                    out += [decode(_literal(s)) for s in _STRING.findall(match.group("array"))]
                else:
                    out.append("\n")
            pages.append(re.sub(r"\n+", "\n", "".join(out)))
        return pages

    def text(self) -> str:
        """The text shown on all pages."""
        return re.sub(r"\n+", "\n", "\n".join(self.page_texts()))


def _undecodable(raw: bytes) -> str:
    raise AssertionError(f"text shown without a known font: {raw!r}")


def _cmap_decoder(cmap: bytes) -> Decoder:
    """A ToUnicode CMap's single-byte codes (bfchar and bfrange) as a decoder; an unmapped code or
    one mapped to U+0000 is a test failure, not a silent "?"."""
    table: dict[int, str] = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", cmap, re.S):
        for code, uni in _BFCHAR.findall(block):
            table[int(code, 16)] = bytes.fromhex(uni.decode()).decode("utf-16-be")
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", cmap, re.S):
        for low, high, first in _BFRANGE.findall(block):
            start = int(first, 16)
            for offset, code in enumerate(range(int(low, 16), int(high, 16) + 1)):
                table[code] = chr(start + offset)

    def decode(raw: bytes) -> str:
        chars = [table.get(byte, "\0") for byte in raw]
        assert "\0" not in chars, f"a code without a letter in {raw!r}"
        return "".join(chars)

    return decode


def pdf_text(pdf: bytes) -> str:
    return Pdf(pdf).text()
