"""A survival / cumulative-incidence figure as a vector PDF at a journal column's size, drawn with
ReportLab (already a dependency, for the follow-up letters) from the same description and the same
geometry as the page's Plotly figure (analytics.charts.CurveFigure, curve_geometry): curves with
their 95% CI bands, the test's p, the legend above the plot, and the numbers at risk under the
time axis, each count centred on its year's tick.

Plotly draws PNG and SVG in the browser; a PDF needs a server (plotly.js has no PDF export, and
turning its SVG into PDF would need svglib or cairo, neither installed). Text is Bitstream Vera
(shipped with ReportLab, embedded in the file), which has ≥, ≤, – and −, unlike the PDF base fonts.
"""

import io
import math
from pathlib import Path

import reportlab
from reportlab.lib.colors import HexColor
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from analytics.charts import CurveFigure, CurveGeometry, FigureSize, curve_geometry

FONT = "Vera"
PT_PER_PX = 72 / 96  # a CSS pixel is 1/96 inch, a point 1/72
# Plotly's dash styles as on/off lengths in line widths.
DASH_PATTERNS = {
    "solid": (),
    "dash": (4.5, 4.5),
    "dot": (1, 1.5),
    "dashdot": (4.5, 2, 1, 2),
    "longdash": (8, 4),
    "longdashdot": (8, 2, 1, 2),
}
LINE_PX = 2.0
TICK_PX = 5.0


def _register_font() -> None:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT, str(Path(reportlab.__file__).parent / "fonts" / "Vera.ttf")))


def curve_pdf(cf: CurveFigure, size: FigureSize, *, title: str = "") -> bytes:
    """The figure as a one-page PDF exactly `size.width_mm` wide (height as the layout needs)."""
    _register_font()
    geo = curve_geometry(cf, size)
    width = float(size.width_px or 0)
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=(width * PT_PER_PX, geo.height * PT_PER_PX), pageCompression=1)
    canvas.setTitle(title or cf.title)
    canvas.setCreator("IVUS-calcium registry")
    # Draw in CSS pixels from the top left, as Plotly lays the figure out.
    canvas.translate(0, geo.height * PT_PER_PX)
    canvas.scale(PT_PER_PX, -PT_PER_PX)
    frame = _Frame(cf, geo, width)
    _draw_curves(canvas, cf, frame)
    _draw_axes(canvas, cf, geo, frame)
    _draw_legend(canvas, cf, geo, frame)
    _draw_at_risk(canvas, cf, geo, frame)
    _text(canvas, cf.test, 2, geo.line * 0.8, geo.font)
    canvas.showPage()
    canvas.save()
    return out.getvalue()


class _Frame:
    """The plot area and the data -> pixel mapping (y from 0 to a round maximum, as Plotly's "tozero")."""

    def __init__(self, cf: CurveFigure, geo: CurveGeometry, width: float) -> None:
        self.left, self.right = geo.left, width - geo.right
        self.top, self.bottom = geo.top, geo.top + geo.plot_height
        self.x_max = cf.x_max
        highest = max([v for c in cf.curves for v in [*c.y, *(c.upper or [])] if v is not None], default=1.0)
        self.y_step = _nice_step(highest)
        self.y_max = max(self.y_step, math.ceil(highest / self.y_step - 1e-9) * self.y_step)

    def x(self, years: float) -> float:
        return self.left + (self.right - self.left) * min(years, self.x_max) / self.x_max

    def y(self, value: float) -> float:
        return self.bottom - (self.bottom - self.top) * value / self.y_max


def _nice_step(highest: float) -> float:
    """A tick step of 1, 2, 2.5 or 5 times a power of ten giving 3 to 6 ticks up to `highest`."""
    magnitude = 10.0 ** math.floor(math.log10(max(highest, 1e-9)))
    return next(m * magnitude for m in (0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0) if highest / (m * magnitude) <= 6)


def _step_points(frame: _Frame, xs: list[float], ys: list[float]) -> list[tuple[float, float]]:
    """A step function ("hv"): along to the next time, then up or down to its value."""
    points = [(frame.x(xs[0]), frame.y(ys[0]))]
    for x, y_before, y in zip(xs[1:], ys[:-1], ys[1:], strict=True):
        points += [(frame.x(x), frame.y(y_before)), (frame.x(x), frame.y(y))]
    return points


def _draw_curves(canvas: Canvas, cf: CurveFigure, frame: _Frame) -> None:
    canvas.saveState()
    clip = canvas.beginPath()
    clip.rect(frame.left, frame.top, frame.right - frame.left, frame.bottom - frame.top)
    canvas.clipPath(clip, stroke=0, fill=0)
    for curve in cf.curves:
        if curve.lower is None or curve.upper is None:
            continue
        band = _step_points(frame, curve.x, curve.upper) + _step_points(frame, curve.x, curve.lower)[::-1]
        canvas.setFillColor(HexColor(curve.colour), alpha=0.15)
        _polygon(canvas, band, fill=1, stroke=0)
    for curve in cf.curves:
        canvas.setStrokeColor(HexColor(curve.colour))
        canvas.setLineWidth(LINE_PX)
        canvas.setDash([v * LINE_PX for v in DASH_PATTERNS.get(curve.dash, ())])
        _polyline(canvas, _step_points(frame, curve.x, curve.y))
    canvas.restoreState()


def _polygon(canvas: Canvas, points: list[tuple[float, float]], *, fill: int, stroke: int) -> None:
    path = canvas.beginPath()
    path.moveTo(*points[0])
    for point in points[1:]:
        path.lineTo(*point)
    path.close()
    canvas.drawPath(path, fill=fill, stroke=stroke)


def _polyline(canvas: Canvas, points: list[tuple[float, float]]) -> None:
    path = canvas.beginPath()
    path.moveTo(*points[0])
    for point in points[1:]:
        path.lineTo(*point)
    canvas.drawPath(path, fill=0, stroke=1)


def _draw_axes(canvas: Canvas, cf: CurveFigure, geo: CurveGeometry, frame: _Frame) -> None:
    canvas.setStrokeColor(HexColor("#000000"))
    canvas.setLineWidth(1)
    canvas.setDash([])
    canvas.line(frame.left, frame.bottom, frame.right, frame.bottom)
    canvas.line(frame.left, frame.bottom, frame.left, frame.top)
    for year in cf.at_risk_years:
        x = frame.x(year)
        canvas.line(x, frame.bottom, x, frame.bottom + TICK_PX)
        _text(canvas, str(year), x, frame.bottom + TICK_PX + geo.font * 1.1, geo.font, anchor="middle")
    _text(
        canvas,
        cf.x_title,
        (frame.left + frame.right) / 2,
        frame.bottom + 2 * geo.font + 8 + geo.font,
        geo.font,
        anchor="middle",
    )
    steps = round(frame.y_max / frame.y_step)
    for i in range(steps + 1):
        value = i * frame.y_step
        y = frame.y(value)
        canvas.line(frame.left - TICK_PX, y, frame.left, y)
        label = f"{value:.0%}" if cf.percent else f"{value:g}"
        _text(canvas, label, frame.left - TICK_PX - 3, y + geo.font * 0.35, geo.font, anchor="end")
    lines = geo.y_title.split("<br>")
    middle = (frame.top + frame.bottom) / 2
    for i, text in enumerate(lines):
        # Rotated a quarter turn; the last line nearest the tick labels.
        x = frame.left - TICK_PX - 3 - geo.font * 0.56 * 4 - 6 - geo.line * (len(lines) - 1 - i)
        canvas.saveState()
        canvas.translate(x, middle)
        canvas.rotate(-90)
        _text(canvas, text, 0, 0, geo.font, anchor="middle")
        canvas.restoreState()


def _draw_legend(canvas: Canvas, cf: CurveFigure, geo: CurveGeometry, frame: _Frame) -> None:
    """Entries left to right in rows above the plot, as charts.curve_geometry counted them."""
    sample = 3 * geo.font
    row_height = geo.line + 4
    rows: list[list[int]] = [[]]
    used = 0.0
    for i, curve in enumerate(cf.curves):
        entry = pdfmetrics.stringWidth(curve.label, FONT, geo.font) + sample + 5 + 1.5 * geo.font
        if rows[-1] and used + entry > frame.right - frame.left:
            rows.append([])
            used = 0.0
        rows[-1].append(i)
        used += entry
    for r, members in enumerate(rows):
        y = frame.top - 4 - row_height * (len(rows) - r - 0.5)
        x = frame.left
        for i in members:
            curve = cf.curves[i]
            canvas.setStrokeColor(HexColor(curve.colour))
            canvas.setLineWidth(LINE_PX)
            canvas.setDash([v * LINE_PX for v in DASH_PATTERNS.get(curve.dash, ())])
            canvas.line(x, y, x + sample, y)
            _text(canvas, curve.label, x + sample + 5, y + geo.font * 0.35, geo.font)
            x += pdfmetrics.stringWidth(curve.label, FONT, geo.font) + sample + 5 + 1.5 * geo.font
    canvas.setDash([])


def _draw_at_risk(canvas: Canvas, cf: CurveFigure, geo: CurveGeometry, frame: _Frame) -> None:
    baseline = geo.font * 0.35  # from a row's middle to the text's baseline
    _text(canvas, "Number at risk", 2, frame.bottom + geo.row_offset(-1) + baseline, geo.font)
    for i, (curve, counts) in enumerate(zip(cf.curves, cf.at_risk, strict=True)):
        y = frame.bottom + geo.row_offset(i) + baseline
        colour = HexColor(curve.colour)
        _text(canvas, curve.short, frame.left - geo.right, y, geo.font, anchor="end", colour=colour)
        for year, n in zip(cf.at_risk_years, counts, strict=True):
            _text(canvas, str(n), frame.x(year), y, geo.font, anchor="middle", colour=colour)


def _text(
    canvas: Canvas, text: str, x: float, y: float, size: float, *, anchor: str = "start", colour: object = None
) -> None:
    """Text with its baseline at y (pixels from the top), upright although the page is flipped."""
    canvas.saveState()
    canvas.translate(x, y)
    canvas.scale(1, -1)
    canvas.setFillColor(colour or HexColor("#000000"))
    canvas.setFont(FONT, size)
    draw = {"start": canvas.drawString, "middle": canvas.drawCentredString, "end": canvas.drawRightString}[anchor]
    draw(0, 0, text)
    canvas.restoreState()
