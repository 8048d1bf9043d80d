"""The printed follow-up letters (ReportLab platypus) as PDF bytes, and the personal links.

Per patient: a cover letter with the name and postal address in the window of a window envelope
(DIN 5008 form B: 20 mm from the left, 45 mm from the top), why the letter comes, the personal
link with its QR code and the response code; then the questionnaire of the wave
(followup.questionnaire) to fill in on paper, with the response code on every page. No views
here: followup.letter_views and the followup_wave command serve these bytes.

Type is DejaVu Sans at 12 pt (regular, bold, oblique), shipped in followup/fonts/ with its
licence and embedded in each PDF as a subset of the letters used (ReportLab subsets TrueType
fonts per document: once per file, however many letters). ReportLab's built-in fonts
(Helvetica) have the Windows-1252 letters only; DejaVu Sans has Latin Extended-A/B, Greek and
Cyrillic, so "Łukasz Żółć", "Dvořák", "Şahin" or "Αθήνα" print as written. Names are composed
first (NFC: "r" + combining caron is "ř"); a letter the font lacks (Chinese, say) loses its
accent or becomes "?", never a black square (`_printable`). Tick boxes are drawn, not typed.
Everything from the database or the settings is XML-escaped before it goes into a Paragraph
(a name like "O'Neil & <Sons>")."""

import itertools
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from io import BytesIO
from pathlib import Path
from xml.sax.saxutils import escape

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.utils import timezone
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    FrameBreak,
    KeepInFrame,
    KeepTogether,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from followup import questionnaire as qn
from followup.models import Wave, WaveMember
from registry import csv_io

STUDY_NAME = "IVUS-calcium registry follow-up"
LINK_COLUMNS = ("study_id", "response_code", "url")
ADDRESS_NOT_RECORDED = "Address not recorded"
NAME_NOT_RECORDED = "Name not recorded"

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 20 * mm
TEXT_WIDTH = PAGE_WIDTH - 2 * MARGIN
# The envelope window (DIN 5008 form B) and, beside it, the date and the response code.
WINDOW_LEFT, WINDOW_TOP, WINDOW_WIDTH, WINDOW_HEIGHT = 20 * mm, 45 * mm, 85 * mm, 45 * mm
INFO_LEFT, INFO_WIDTH = 120 * mm, PAGE_WIDTH - 120 * mm - MARGIN
BODY_TOP = 92 * mm  # the cover letter's text starts below the window (which ends at 90 mm)
QR_SIZE = 36 * mm
BOX_SIZE = 4.5 * mm
GAP = 3 * mm  # between a line to write on and the next label
ORDINALS = ("First time", "Second time", "Third time", "Fourth time", "Fifth time")


def member_link(member: WaveMember) -> str:
    """The member's personal online questionnaire: {FOLLOWUP_PUBLIC_BASE_URL}/q/<token>/."""
    return f"{settings.FOLLOWUP_PUBLIC_BASE_URL}/q/{member.token}/"


def write_links(out: csv_io.TextSink, members: Iterable[WaveMember]) -> int:
    """The links file for a mail merge: LINK_COLUMNS, one row per member (in the order given; the
    text through the registry's formula-neutralising CSV writer). Returns rows written."""
    rows = ({"study_id": m.patient.study_id, "response_code": m.response_code, "url": member_link(m)} for m in members)
    return csv_io.write_rows(out, columns=LINK_COLUMNS, rows=rows)


def long_date(day: date) -> str:
    """30 November 2026."""
    return f"{day.day} {qn.MONTHS[day.month - 1]} {day.year}"


# Fonts --------------------------------------------------------------------------------------

FONTS_DIR = Path(__file__).resolve().parent / "fonts"
FONT, FONT_BOLD, FONT_ITALIC = "DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique"


def register_fonts() -> None:
    """Register DejaVu Sans with ReportLab once per process (at import: the import lock keeps two
    threads from registering twice), and as a family, so that <b> and <i> in Paragraph markup
    pick the bold and the oblique."""
    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    for name in (FONT, FONT_BOLD, FONT_ITALIC):
        pdfmetrics.registerFont(TTFont(name, str(FONTS_DIR / f"{name}.ttf")))
    # No bold oblique is shipped (nothing in a letter is both): <b><i> is bold.
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD, italic=FONT_ITALIC, boldItalic=FONT_BOLD)


register_fonts()


def _code_points(name: str) -> frozenset[int]:
    font = pdfmetrics.getFont(name)
    assert isinstance(font, TTFont)
    return frozenset(font.face.charToGlyph)


# What a name or an address may use: the letters both the regular and the bold have (the bold
# lacks some Arabic and mathematical letters only).
_COVERED = _code_points(FONT) & _code_points(FONT_BOLD)


# Styles -------------------------------------------------------------------------------------

# DejaVu Sans is about 14% wider than Helvetica: at 12 pt on 15 pt lines (16 with Helvetica) the
# cover letter still fits its page with a return address of four lines
# (test_the_cover_letter_fits_its_page_with_a_four_line_return_address).
_BODY = ParagraphStyle("body", fontName=FONT, fontSize=12, leading=15, spaceAfter=6)
_STYLES = {
    "body": _BODY,
    "bold": ParagraphStyle("bold", parent=_BODY, fontName=FONT_BOLD),
    "title": ParagraphStyle("title", parent=_BODY, fontName=FONT_BOLD, fontSize=16, leading=20, spaceAfter=10),
    "heading": ParagraphStyle("heading", parent=_BODY, fontName=FONT_BOLD, fontSize=13, leading=17, spaceBefore=6),
    "question": ParagraphStyle("question", parent=_BODY, fontName=FONT_BOLD, spaceBefore=10, spaceAfter=4),
    "note": ParagraphStyle("note", parent=_BODY, fontName=FONT_ITALIC, spaceAfter=4),
    "cell": ParagraphStyle("cell", parent=_BODY, spaceAfter=0),
    "item": ParagraphStyle("item", parent=_BODY, fontName=FONT_BOLD, spaceBefore=6, spaceAfter=0),
    "address": ParagraphStyle("address", parent=_BODY, fontSize=12, leading=15, spaceAfter=0),
    "return_line": ParagraphStyle("return_line", parent=_BODY, fontSize=7.5, leading=9, spaceAfter=3),
    "code": ParagraphStyle("code", parent=_BODY, fontName=FONT_BOLD, fontSize=20, leading=24, spaceAfter=0),
}


def _p(text: str, style: str = "body") -> Paragraph:
    """A paragraph of plain text (escaped here: never pass markup)."""
    return Paragraph(escape(_printable(text)), _STYLES[style])


# Letters without a decomposition into a base letter and an accent.
_PLAIN = str.maketrans({"Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "ı": "i", "Ħ": "H", "ħ": "h", "ŀ": "l", "Ŀ": "L"})


def _printable(text: str) -> str:
    """`text` composed (NFC: a letter typed as a base and a combining accent becomes one letter)
    in the letters the font has: a letter outside them loses its accent if that helps, else it
    becomes "?" (never a black square, never an empty box)."""
    out = []
    for ch in unicodedata.normalize("NFC", text):
        if ord(ch) not in _COVERED and not ch.isspace():  # a Paragraph makes any space a space
            base = "".join(c for c in unicodedata.normalize("NFKD", ch.translate(_PLAIN)) if not unicodedata.combining(c))
            ch = base if base and all(ord(c) in _COVERED for c in base) else "?"
        out.append(ch)
    return "".join(out)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


# Drawn pieces -------------------------------------------------------------------------------


class _TickBox(Flowable):
    """An empty square to tick."""

    def __init__(self, size: float = BOX_SIZE):
        super().__init__()
        self.width = self.height = size

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        self.canv.setLineWidth(1)
        self.canv.rect(0, 0, self.width, self.height, stroke=1, fill=0)


class _LetterStart(Flowable):
    """Zero-size mark at the start of each letter: the page decorations read whose letter a page
    belongs to (the response code, the page number within the letter) from the document."""

    def __init__(self, response_code: str):
        super().__init__()
        self.response_code = response_code
        self.width = self.height = 0

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return 0, 0

    def draw(self) -> None:
        pass


class _QrCode(Flowable):
    """The link as a QR code, drawn as one filled path of its dark runs: ReportLab's QrCodeWidget
    draws a shape per run through its graphics renderer, a third of a letter's time."""

    def __init__(self, url: str, size: float = QR_SIZE, border: int = 4):
        super().__init__()
        self.url, self.size, self.border = url, size, border
        self.width = self.height = size

    def wrap(self, available_width, available_height):
        return self.size, self.size

    def draw(self) -> None:
        widget = QrCodeWidget(self.url, barLevel="M")
        code = widget.qr
        code.make()
        count = code.getModuleCount()
        box = self.size / (count + 2 * self.border)
        path = self.canv.beginPath()
        for r, row in enumerate(code.modules):
            c = 0
            for dark, run in itertools.groupby(bool(v) for v in row):
                n = len(list(run))
                if dark:
                    path.rect((c + self.border) * box, self.size - (r + self.border + 1) * box, n * box, box)
                c += n
        self.canv.drawPath(path, stroke=0, fill=1)


def _qr_code(url: str, size: float = QR_SIZE) -> Flowable:
    return _QrCode(url, size)


def _table(data: list, style: list[tuple], **kwargs) -> Table:
    """A Table whose own text (none but empty cells: the text is in Paragraphs) is in the letters'
    font too: a Table sets its cells' font, Helvetica unless told, and that font would be in the file."""
    table = Table(data, **kwargs)
    table.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), FONT), *style]))
    return table


def _choices(options: list[tuple[str, str]] | list[list[str]], *, across: bool) -> Table:
    """Tick boxes with their labels: side by side (Yes / No) or one under the other."""
    if across:
        row: list = []
        widths: list[float] = []
        for _, label in options:
            row += [_TickBox(), _p(label, "cell")]
            widths += [8 * mm, max(22 * mm, stringWidth(_printable(label), FONT, 12) + 8 * mm)]
        data, col_widths = [row], widths
    else:
        data, col_widths = [[_TickBox(), _p(label, "cell")] for _, label in options], [8 * mm, TEXT_WIDTH - 8 * mm]
    style = [
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]
    return _table(data, style, colWidths=col_widths, hAlign="LEFT")


def _write_in(cells: list[tuple[str, float, float]]) -> Table:
    """One row of labelled lines to write on: [(label, label width, line width)]; a label after a
    line keeps a gap from it (GAP, inside the label's width)."""
    row: list = []
    widths: list[float] = []
    style: list[tuple] = [
        ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
        ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ("RIGHTPADDING", (0, 0), (-1, -1), 0),
    ]
    for label, label_width, line_width in cells:
        if row:
            style.append(("LEFTPADDING", (len(row), 0), (len(row), 0), GAP))
        row += [_p(label, "cell"), ""]
        widths += [label_width, line_width]
        style.append(("LINEBELOW", (len(row) - 1, 0), (len(row) - 1, 0), 0.75, "black"))
    return _table([row], style, colWidths=widths, rowHeights=[10 * mm], hAlign="LEFT")


def _blank_lines(count: int) -> Table:
    style = [("LINEBELOW", (0, 0), (-1, -1), 0.75, "black")]
    return _table([[""] for _ in range(count)], style, colWidths=[TEXT_WIDTH], rowHeights=[10 * mm] * count, hAlign="LEFT")


# The letter ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Recipient:
    name: str  # "" when not recorded
    address_lines: list[str]  # [] when not recorded


def _recipient(member: WaveMember) -> _Recipient:
    try:
        identity = member.patient.identity
    except ObjectDoesNotExist:
        return _Recipient("", [])
    name = (identity.name or identity.family_name or "").strip()
    return _Recipient(name, _lines(identity.postal_address or ""))


def _window(recipient: _Recipient) -> KeepInFrame:
    """The envelope window: the return address on one small line, then the patient's address (a
    missing name or address is printed as such, for the coordinator who folds the letters)."""
    content: list[Flowable] = [_p(", ".join(_lines(settings.FOLLOWUP_RETURN_ADDRESS)), "return_line")]
    content.append(_p(recipient.name or NAME_NOT_RECORDED, "address" if recipient.name else "bold"))
    if recipient.address_lines:
        content += [_p(line, "address") for line in recipient.address_lines]
    else:
        content.append(_p(ADDRESS_NOT_RECORDED, "bold"))
    return KeepInFrame(WINDOW_WIDTH, WINDOW_HEIGHT, content, mode="shrink")


def _info(member: WaveMember, today: date) -> KeepInFrame:
    content = [
        _p(f"Date: {long_date(today)}"),
        Spacer(1, 4 * mm),
        _p("Your response code:"),
        _code_box(member.response_code),
    ]
    return KeepInFrame(INFO_WIDTH, WINDOW_HEIGHT, content, mode="shrink")


def _code_box(code: str) -> Table:
    style = [
        ("BOX", (0, 0), (-1, -1), 1.5, "black"),
        ("TOPPADDING", (0, 0), (-1, -1), 4),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
        ("LEFTPADDING", (0, 0), (-1, -1), 8),
    ]
    return _table([[_p(code, "code")]], style, colWidths=[60 * mm], hAlign="LEFT")


def _why(recipient: _Recipient, *, reminder: bool) -> list[Flowable]:
    dear = f"Dear {recipient.name}," if recipient.name else "Dear participant,"
    if reminder:
        title = "Reminder: a few questions about your health"
        text = [
            "A few weeks ago we sent you a short questionnaire about your health. "
            "We have not yet received your answers. If you have sent them in the last few days: "
            "thank you, and please ignore this letter.",
        ]
    else:
        title = "A few questions about your health"
        text = [
            "Some time ago you had an examination of the arteries of your heart, and you agreed to "
            "take part in the IVUS-calcium registry. To learn how people are doing in the years after "
            "such an examination, we ask everyone in the registry a few questions about their health "
            "from time to time.",
        ]
    text.append("Your answers matter to us, also if you are well and nothing has happened. It takes about ten minutes.")
    return [_p(title, "title"), _p(dear), *[_p(t) for t in text]]


def _how_to_answer(member: WaveMember, url: str) -> list[Flowable]:
    until = long_date(member.token_expires_on)
    url_size = _fitting_size(url, FONT_BOLD, TEXT_WIDTH - QR_SIZE - 8 * mm, largest=12, smallest=8)
    url_style = ParagraphStyle("url", parent=_STYLES["bold"], fontSize=url_size, leading=url_size + 4)
    online = [
        _p("1. Online (the quickest way)", "heading"),
        _p("Type this address into the internet browser of a computer, tablet or phone:"),
        Paragraph(escape(url), url_style),
        _p(f"or scan the square code with the camera of your phone. This link is for you only. It works until {until}."),
    ]
    style = [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 0),
        ("RIGHTPADDING", (0, 0), (-1, -1), 0),
    ]
    table = _table([[online, _qr_code(url)]], style, colWidths=[TEXT_WIDTH - QR_SIZE - 4 * mm, QR_SIZE + 4 * mm])
    return [
        _p("You can answer in one of two ways. Please answer only once.", "bold"),
        table,
        _p("2. On paper", "heading"),
        _p(
            "Fill in the questionnaire on the next pages and post it back to the address below. "
            "Your response code is on every page of it, so that we know the answers are yours."
        ),
        *[_p(line, "cell") for line in _lines(settings.FOLLOWUP_RETURN_ADDRESS)],
        Spacer(1, 3 * mm),
    ]


def _closing() -> list[Flowable]:
    return [
        _p(
            "If you are a relative or carer and the person this letter is for has died: we are sorry for "
            "your loss. It would help us if you answered the first two questions."
        ),
        _p("Thank you for your help. With kind regards,"),
        _p("The IVUS-calcium registry follow-up team"),
    ]


def _fitting_size(text: str, font: str, width: float, *, largest: float, smallest: float) -> float:
    """The largest font size (in half points) at which `text` fits on one line of `width`."""
    size = largest
    while size > smallest and stringWidth(text, font, size) > width:
        size -= 0.5
    return size


# The questionnaire --------------------------------------------------------------------------


def _questionnaire(definition: dict) -> list[Flowable]:
    story: list[Flowable] = [
        _p(definition.get("title", "Questionnaire"), "title"),
        _p(definition.get("intro", "")),
        _p("Tick a box like this: put a cross in it. Please write clearly, in capital letters.", "note"),
    ]
    numbers = {q["id"]: n for n, q in enumerate(qn.questions(definition), start=1)}
    for q in qn.questions(definition):
        story.append(KeepTogether(_question(definition, q, numbers)))
    story += [
        Spacer(1, 6 * mm),
        _p("Thank you. Please post this questionnaire back to:", "bold"),
        *[_p(line, "cell") for line in _lines(settings.FOLLOWUP_RETURN_ADDRESS)],
    ]
    return story


def _question(definition: dict, q: dict, numbers: dict[str, int]) -> list[Flowable]:
    parts: list[Flowable] = [_p(f"{numbers[q['id']]}. {q['text']}", "question")]
    only_if = q.get("only_if")
    if only_if:
        condition = qn.question(definition, only_if[0])
        label = {code: text for code, text in condition.get("options", [])}.get(only_if[1], only_if[1])
        parts.append(_p(f"Only if you ticked “{label}” at question {numbers[only_if[0]]}.", "note"))
    if q["kind"] == "choice":
        parts.append(_choices(q["options"], across=False))
    elif q["kind"] == "text":
        parts.append(_blank_lines(4))
    elif q["kind"] == "events":
        parts += _events(q)
    else:  # a definition error, not a user's
        raise ValueError(f"unknown question kind {q['kind']!r}")
    return parts


def _events(q: dict) -> list[Flowable]:
    """Yes / No, then for each possible occurrence: when (month and year; for a death also the
    day), the hospital, and the question's extra fields (reason, which)."""
    parts: list[Flowable] = []
    death = q.get("reports") == "death"
    if not q.get("only_if"):  # a conditional question is answered by filling it in
        parts.append(_choices([("yes", "Yes"), ("no", "No")], across=True))
        parts.append(_p("If yes: please fill in as much as you remember.", "note"))
    max_items = q.get("max_items", 1)
    for i in range(max_items):
        if max_items > 1:
            parts.append(_p(ORDINALS[i] if i < len(ORDINALS) else f"Time {i + 1}", "item"))
        if "which" in q.get("item_fields", []):
            parts.append(_choices(q["which"], across=True))
        when = [("Day", 10 * mm, 14 * mm)] if death else []
        when += [("Month", (19 if death else 16) * mm, 18 * mm), ("Year", 15 * mm, 22 * mm)]
        hospital = "Hospital (if any)" if death else "Hospital"
        rest = TEXT_WIDTH - sum(a + b for _, a, b in when)
        label_width = stringWidth(hospital, FONT, 12) + GAP + 3 * mm
        parts.append(_write_in([*when, (hospital, label_width, rest - label_width)]))
        if "reason" in q.get("item_fields", []):
            parts.append(_write_in([("Reason", 18 * mm, TEXT_WIDTH - 18 * mm)]))
    return parts


# The document -------------------------------------------------------------------------------


class _LettersDocument(BaseDocTemplate):
    """Page templates: "cover" (the window, the info beside it, the text below) and "pages"
    (everything after the cover). Each page shows the response code of its letter."""

    def __init__(self, out: BytesIO):
        super().__init__(
            out,
            pagesize=A4,
            leftMargin=MARGIN,
            rightMargin=MARGIN,
            topMargin=25 * mm,
            bottomMargin=20 * mm,
            title="Follow-up letters",
            author="IVUS-calcium registry",
            initialFontName=FONT,  # each page starts in this font: else Helvetica is in the file too
        )
        self.response_code, self.first_page = "", 1
        window = Frame(
            WINDOW_LEFT, PAGE_HEIGHT - WINDOW_TOP - WINDOW_HEIGHT, WINDOW_WIDTH, WINDOW_HEIGHT, 0, 0, 0, 0, id="window"
        )
        info = Frame(INFO_LEFT, PAGE_HEIGHT - WINDOW_TOP - WINDOW_HEIGHT, INFO_WIDTH, WINDOW_HEIGHT, 0, 0, 0, 0, id="info")
        # The cover letter may come closer to the page number (12 mm) than the questionnaire.
        body = Frame(MARGIN, 18 * mm, TEXT_WIDTH, PAGE_HEIGHT - BODY_TOP - 18 * mm, 0, 0, 0, 0, id="body")
        pages = Frame(MARGIN, 20 * mm, TEXT_WIDTH, PAGE_HEIGHT - 45 * mm, 0, 0, 0, 0, id="pages")
        self.addPageTemplates(
            [
                PageTemplate(id="cover", frames=[window, info, body], onPageEnd=self._decorate),
                PageTemplate(id="pages", frames=[pages], onPageEnd=self._decorate),
            ]
        )

    def afterFlowable(self, flowable: Flowable) -> None:
        if isinstance(flowable, _LetterStart):
            self.response_code, self.first_page = flowable.response_code, self.page

    def _decorate(self, canvas, doc) -> None:
        # At the page's end, so that the first page of a letter already knows its code.
        canvas.saveState()
        canvas.setFont(FONT_BOLD, 14)
        canvas.drawString(MARGIN, PAGE_HEIGHT - 17 * mm, STUDY_NAME)
        canvas.setFont(FONT_BOLD, 12)
        canvas.drawRightString(PAGE_WIDTH - MARGIN, PAGE_HEIGHT - 17 * mm, f"Response code: {self.response_code}")
        canvas.setLineWidth(0.5)
        canvas.line(MARGIN, PAGE_HEIGHT - 20 * mm, PAGE_WIDTH - MARGIN, PAGE_HEIGHT - 20 * mm)
        canvas.setFont(FONT, 10)
        canvas.drawRightString(PAGE_WIDTH - MARGIN, 12 * mm, f"Page {self.page - self.first_page + 1}")
        canvas.restoreState()


def _letter(member: WaveMember, *, reminder: bool, today: date) -> list[Flowable]:
    recipient = _recipient(member)
    url = member_link(member)
    return [
        _LetterStart(member.response_code),
        _window(recipient),
        FrameBreak(),
        _info(member, today),
        FrameBreak(),
        NextPageTemplate("pages"),  # a cover letter that runs over continues on a plain page
        *_why(recipient, reminder=reminder),
        *_how_to_answer(member, url),
        *_closing(),
        PageBreak(),
        *_questionnaire(member.wave.questionnaire.definition),
    ]


def wave_letters_pdf(
    wave: Wave, members: Iterable[WaveMember] | None = None, *, reminder: bool = False, today: date | None = None
) -> bytes:
    """One PDF with a letter for each of `members` (default: every member of the wave) in study_id
    order, each starting on a new page; `reminder`: the reminder letter's wording. `today` is the
    letter's date (default: today). ValueError when there is no member to write to."""
    today = today or timezone.localdate()
    if members is None:
        members = wave.members.select_related("patient", "patient__identity", "wave__questionnaire")
    chosen = sorted(members, key=lambda m: m.patient.study_id)
    if not chosen:
        raise ValueError(f"no letters to print for the wave {wave.name!r}")
    story: list[Flowable] = []
    for i, member in enumerate(chosen):
        if i:
            story += [NextPageTemplate("cover"), PageBreak()]
        story += _letter(member, reminder=reminder, today=today)
    out = BytesIO()
    _LettersDocument(out).build(story)
    return out.getvalue()


def member_letter_pdf(member: WaveMember, *, reminder: bool = False, today: date | None = None) -> bytes:
    """The letter of one member (a reprint, a lost letter)."""
    return wave_letters_pdf(member.wave, [member], reminder=reminder, today=today)
