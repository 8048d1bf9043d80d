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
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import reportlab
from reportlab.lib.colors import HexColor
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from analytics.charts import COLOURS, CurveFigure, CurveGeometry, FigureSize, curve_geometry

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


# The spline and the subgroup forest (issue 13) --------------------------------------------------------
# Drawn from the layout that the PNG and SVG downloads use (analytics.charts_extra: its width, height,
# margins, ticks and texts), so that the PDF is the same figure.

BOLD = "Vera-Bold"
GREY = "#555555"


def _register_fonts() -> None:
    _register_font()
    if BOLD not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(BOLD, str(Path(reportlab.__file__).parent / "fonts" / "VeraBd.ttf")))


def _page(layout: Mapping[str, Any], title: str) -> tuple[Canvas, io.BytesIO]:
    """A canvas of the layout's size, drawing in CSS pixels from the top left."""
    _register_fonts()
    out = io.BytesIO()
    width, height = float(layout["width"]), float(layout["height"])
    canvas = Canvas(out, pagesize=(width * PT_PER_PX, height * PT_PER_PX), pageCompression=1)
    canvas.setTitle(title)
    canvas.setCreator("IVUS-calcium registry")
    canvas.translate(0, height * PT_PER_PX)
    canvas.scale(PT_PER_PX, -PT_PER_PX)
    return canvas, out


def _finished(canvas: Canvas, out: io.BytesIO) -> bytes:
    canvas.showPage()
    canvas.save()
    return out.getvalue()


class _Box:
    """The plot area of a layout (pixels) and a linear or log (base 10) data -> pixel mapping per axis."""

    def __init__(self, layout: Mapping[str, Any]) -> None:
        margin = layout["margin"]
        self.left, self.right = float(margin["l"]), float(layout["width"]) - float(margin["r"])
        self.top, self.bottom = float(margin["t"]), float(layout["height"]) - float(margin["b"])

    @staticmethod
    def _fraction(value: float, low: float, high: float, log: bool) -> float:
        if log:
            value = math.log10(max(value, 1e-12))
        return (value - low) / (high - low) if high != low else 0.5

    def x(self, value: float, low: float, high: float, *, log: bool = False) -> float:
        return self.left + (self.right - self.left) * self._fraction(value, low, high, log)

    def y(self, value: float, low: float, high: float, domain: tuple[float, float], *, log: bool = False) -> float:
        """`domain`: the axis's share of the plot height, from the bottom (Plotly's yaxis.domain)."""
        span = self.bottom - self.top
        d_low, d_high = self.bottom - span * domain[0], self.bottom - span * domain[1]
        return d_low + (d_high - d_low) * self._fraction(value, low, high, log)


def _finite(values: list[Any]) -> list[float]:
    return [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v) and v > 0]


def spline_pdf(figure: Mapping[str, Any], size: FigureSize) -> bytes:
    """The spline figure (analytics.charts_extra.spline_figure) at `size`: the HR curve with its 95% CI
    band on a log axis, the reference point and HR = 1 line, the rug of patients, the tests and the legend."""
    layout = figure["exports"][size.key]["layout"]
    upper, lower, line, reference, rug = figure["data"]
    canvas, out = _page(layout, "Hazard ratio by ICS")
    box, font = _Box(layout), float(layout["font"]["size"])
    x_low, x_high = (float(v) for v in layout["xaxis"]["range"])
    bounds = _finite([*upper["y"], *lower["y"], 1.0])
    pad = 0.05 * (math.log10(max(bounds)) - math.log10(min(bounds)) or 1.0)
    y_low, y_high = math.log10(min(bounds)) - pad, math.log10(max(bounds)) + pad
    domain = (float(layout["yaxis"]["domain"][0]), float(layout["yaxis"]["domain"][1]))

    def point(x: float, y: float) -> tuple[float, float]:
        return box.x(x, x_low, x_high), box.y(y, y_low, y_high, domain, log=True)

    canvas.saveState()
    clip = canvas.beginPath()
    clip.rect(box.left, box.y(0, 0, 1, domain), box.right - box.left, box.y(1, 0, 1, domain) - box.y(0, 0, 1, domain))
    canvas.clipPath(clip, stroke=0, fill=0)
    band = [(x, y) for x, y in zip(upper["x"], upper["y"], strict=True) if _finite([y])]
    band += [(x, y) for x, y in zip(lower["x"], lower["y"], strict=True) if _finite([y])][::-1]
    if band:
        canvas.setFillColor(HexColor(COLOURS[0]), alpha=0.18)
        _polygon(canvas, [point(x, y) for x, y in band], fill=1, stroke=0)
    canvas.setStrokeColor(HexColor(GREY))
    canvas.setLineWidth(1.5)
    canvas.setDash([2, 3])
    canvas.line(box.left, point(x_low, 1.0)[1], box.right, point(x_low, 1.0)[1])
    canvas.setDash([])
    canvas.setStrokeColor(HexColor(COLOURS[0]))
    canvas.setLineWidth(LINE_PX)
    curve = [point(x, y) for x, y in zip(line["x"], line["y"], strict=True) if _finite([y])]
    if curve:
        _polyline(canvas, curve)
    canvas.restoreState()
    _diamond(canvas, *point(float(reference["x"][0]), 1.0), font * 0.5)
    rug_top, rug_bottom = box.y(1, 0, 1, (0.0, 0.07)), box.y(0, 0, 1, (0.0, 0.07))
    canvas.setStrokeColor(HexColor(GREY))
    canvas.setLineWidth(1)
    for x in rug["x"]:
        canvas.line(box.x(float(x), x_low, x_high), rug_top, box.x(float(x), x_low, x_high), rug_bottom)
    _spline_axes(canvas, layout, box, font, (x_low, x_high), point)
    _text(canvas, str(layout["title"]["text"]), box.left, font * 1.2, font)
    _spline_legend(canvas, [upper, lower, line, reference], box, font)
    return _finished(canvas, out)


def _diamond(canvas: Canvas, x: float, y: float, r: float) -> None:
    canvas.setFillColor(HexColor(GREY))
    _polygon(canvas, [(x, y - r), (x + r, y), (x, y + r), (x - r, y)], fill=1, stroke=0)


def _spline_axes(
    canvas: Canvas,
    layout: Mapping[str, Any],
    box: _Box,
    font: float,
    x_range: tuple[float, float],
    point: Callable[[float, float], tuple[float, float]],
) -> None:
    canvas.setStrokeColor(HexColor("#000000"))
    canvas.setLineWidth(1)
    canvas.line(box.left, box.bottom, box.right, box.bottom)
    step = _nice_step(x_range[1])
    for i in range(int(x_range[1] // step) + 1):
        x = box.x(i * step, *x_range)
        canvas.line(x, box.bottom, x, box.bottom + TICK_PX)
        _text(canvas, f"{i * step:g}", x, box.bottom + TICK_PX + font * 1.1, font, anchor="middle")
    _text(canvas, "ICS", (box.left + box.right) / 2, box.bottom + TICK_PX + font * 2.6, font, anchor="middle")
    main_bottom = box.y(0, 0, 1, (float(layout["yaxis"]["domain"][0]), 1.0))
    canvas.line(box.left, main_bottom, box.left, box.top)
    for value, label in zip(layout["yaxis"]["tickvals"], layout["yaxis"]["ticktext"], strict=True):
        y = point(x_range[0], float(value))[1]
        if box.top - 0.5 <= y <= main_bottom + 0.5:
            canvas.line(box.left - TICK_PX, y, box.left, y)
            _text(canvas, str(label), box.left - TICK_PX - 3, y + font * 0.35, font, anchor="end")
    canvas.saveState()
    canvas.translate(box.left - TICK_PX - 3 - font * 0.56 * 4 - 6, (box.top + main_bottom) / 2)
    canvas.rotate(-90)
    _text(canvas, str(layout["yaxis"]["title"]["text"]), 0, 0, font, anchor="middle")
    canvas.restoreState()


def _spline_legend(canvas: Canvas, traces: list[Mapping[str, Any]], box: _Box, font: float) -> None:
    """The legend in rows under the ICS axis title: band, curve and reference point."""
    upper, band, line, reference = traces
    entries: list[tuple[str, str]] = [
        (str(reference["name"]), "diamond"),
        (str(line["name"]), "line"),
        (str(band["name"]), "band"),
    ]
    x, y = box.left, box.bottom + TICK_PX + font * 4.6
    sample = 3 * font
    for name, kind in entries:
        entry = pdfmetrics.stringWidth(name, FONT, font) + sample + 5 + 1.5 * font
        if x > box.left and x + entry > box.right:
            x, y = box.left, y + font * 2.1
        if kind == "diamond":
            _diamond(canvas, x + sample / 2, y - font * 0.35, font * 0.45)
        elif kind == "line":
            canvas.setStrokeColor(HexColor(COLOURS[0]))
            canvas.setLineWidth(LINE_PX)
            canvas.line(x, y - font * 0.35, x + sample, y - font * 0.35)
        else:
            canvas.setFillColor(HexColor(COLOURS[0]), alpha=0.18)
            canvas.rect(x, y - font * 0.8, sample, font * 0.9, stroke=0, fill=1)
        _text(canvas, name, x + sample + 5, y, font)
        x += entry


def forest_pdf(figure: Mapping[str, Any], size: FigureSize) -> bytes:
    """The subgroup forest plot (analytics.charts_extra.forest_figure) at `size`: per level the HR and
    its 95% CI on a log axis, the subgroup and level names on the left, HR (95% CI) and each variable's
    interaction p on the right."""
    layout = figure["exports"][size.key]["layout"]
    canvas, out = _page(layout, str(layout["title"]["text"]))
    box, font = _Box(layout), float(layout["font"]["size"])
    x_low, x_high = (float(v) for v in layout["xaxis"]["range"])
    y_low, y_high = (float(v) for v in layout["yaxis"]["range"])

    def px(x: float) -> float:
        return box.x(x, x_low, x_high, log=True)

    def py(y: float) -> float:
        return box.y(y, y_low, y_high, (0.0, 1.0))

    canvas.setStrokeColor(HexColor(GREY))
    canvas.setLineWidth(1.5)
    canvas.setDash([2, 3])
    canvas.line(px(1.0), box.top, px(1.0), box.bottom)
    canvas.setDash([])
    (points,) = figure["data"]
    error = points["error_x"]
    canvas.setStrokeColor(HexColor(COLOURS[0]))
    canvas.setFillColor(HexColor(COLOURS[0]))
    canvas.setLineWidth(LINE_PX)
    cap = font * 0.4
    for hr, y, plus, minus in zip(points["x"], points["y"], error["array"], error["arrayminus"], strict=True):
        low, high, middle = px(hr - minus), px(hr + plus), py(float(y))
        canvas.line(max(low, box.left), middle, min(high, box.right), middle)
        for end in (low, high):
            if box.left <= end <= box.right:
                canvas.line(end, middle - cap, end, middle + cap)
        half = font * 0.45
        canvas.rect(px(hr) - half, middle - half, 2 * half, 2 * half, stroke=0, fill=1)
    _forest_texts(canvas, layout, box, font, py)
    canvas.setStrokeColor(HexColor("#000000"))
    canvas.setLineWidth(1)
    canvas.line(box.left, box.bottom, box.right, box.bottom)
    for value, label in zip(layout["xaxis"]["tickvals"], layout["xaxis"]["ticktext"], strict=True):
        x = px(float(value))
        if box.left - 0.5 <= x <= box.right + 0.5:
            canvas.line(x, box.bottom, x, box.bottom + TICK_PX)
            _text(canvas, str(label), x, box.bottom + TICK_PX + font * 1.1, font, anchor="middle")
    x_title = str(layout["xaxis"]["title"]["text"])
    _text(canvas, x_title, (box.left + box.right) / 2, box.bottom + TICK_PX + font * 2.8, font, anchor="middle")
    _text(canvas, str(layout["title"]["text"]), box.left, font * 1.3, font)
    return _finished(canvas, out)


def _forest_texts(canvas: Canvas, layout: Mapping[str, Any], box: _Box, font: float, py: Callable[[float], float]) -> None:
    """The row names left of the plot and the annotations right of it (bold where Plotly's are <b>)."""
    for y, text in zip(layout["yaxis"]["tickvals"], layout["yaxis"]["ticktext"], strict=True):
        _rich_text(canvas, str(text), box.left - font * 0.6, py(float(y)) + font * 0.35, font, anchor="end")
    for note in layout["annotations"]:
        x = box.right + float(note.get("xshift", 0))
        _rich_text(canvas, str(note["text"]), x, py(float(note["y"])) + font * 0.35, font)


def _rich_text(canvas: Canvas, text: str, x: float, y: float, size: float, *, anchor: str = "start") -> None:
    bold = text.startswith("<b>") and text.endswith("</b>")
    plain = text.removeprefix("<b>").removesuffix("</b>") if bold else text
    canvas.saveState()
    canvas.translate(x, y)
    canvas.scale(1, -1)
    canvas.setFillColor(HexColor("#000000"))
    canvas.setFont(BOLD if bold else FONT, size)
    draw = {"start": canvas.drawString, "middle": canvas.drawCentredString, "end": canvas.drawRightString}[anchor]
    draw(0, 0, plain)
    canvas.restoreState()
