"""Analysis results -> Plotly figures (JSON-ready dicts: data, layout, config). Pure: no Django, no
statistics; the page passes the dicts to plotly.js (served from static/vendor/plotly/).

The Kaplan-Meier and cumulative-incidence figures carry their numbers-at-risk table inside the
figure, under the time axis (one annotation per group and year, at the year's tick), and come
with journal-sized layouts (`exports`: single column 85 mm, double column 175 mm) that the page's
PNG/SVG downloads and the server's PDF (analytics.figure_pdf) draw. Labels come from
analytics.dictionary.
"""

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import plotly.graph_objects as go

from analytics import dictionary
from analytics import warnings as safeguards
from analytics.exports import YEAR_DAYS, at_risk_days, numbers_at_risk, p_text

COLOURS = ("#1f5f99", "#c0392b", "#2e8b57", "#8e44ad", "#d35400", "#7f8c8d")
# Line styles by group, as the study's Fig. 3 (ICS < 85 dashed blue, ICS >= 85 solid red): readable in grey too.
DASHES = ("dash", "solid", "dot", "dashdot", "longdash", "longdashdot")
FONT_FAMILY = "Arial, Helvetica, sans-serif"
MM_PER_INCH = 25.4
CSS_DPI = 96  # an SVG (CSS) pixel is 1/96 inch
PRINT_DPI = 300


@dataclass(frozen=True)
class FigureSize:
    """A figure size: the page's (responsive width) or a journal column's."""

    key: str
    label: str
    width_mm: float | None
    font_px: float
    plot_aspect: float = 0.62  # plot area height / width (journal sizes)
    screen_plot_px: float = 340  # plot area height on the page

    @property
    def width_px(self) -> int | None:
        return None if self.width_mm is None else round(self.width_mm / MM_PER_INCH * CSS_DPI)

    @property
    def print_width_px(self) -> int | None:
        """Pixels across at 300 dpi (1004 for 85 mm)."""
        return None if self.width_mm is None else round(self.width_mm / MM_PER_INCH * PRINT_DPI)


SCREEN = FigureSize("screen", "screen", None, 12)
# Text at 7.5 pt (single) and 8.25 pt (double) when printed at the column's width.
JOURNAL_SIZES = (
    FigureSize("single", "single column", 85, 10, plot_aspect=0.7),
    FigureSize("double", "double column", 175, 11, plot_aspect=0.45),
)


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _years(days: Iterable[float]) -> list[float]:
    return [d / YEAR_DAYS for d in days]


def _p_text(p: float | None) -> str:
    return "p = n/a" if p is None else f"p {p_text(p)}" if p < 0.001 else f"p = {p_text(p)}"


def figure_config(filename: str) -> dict:
    """plotly.js config: no logo, no cloud or link buttons, a short toolbar (the page offers its
    own downloads; static/js/analytics_run.js takes the toolbar out of the Tab order)."""
    return {
        "displaylogo": False,
        "responsive": True,
        "showSendToCloud": False,
        "modeBarButtonsToRemove": [
            "sendDataToCloud",
            "select2d",
            "lasso2d",
            "autoScale2d",
            "toggleSpikelines",
            "hoverClosestCartesian",
            "hoverCompareCartesian",
        ],
        "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2},
    }


# Curves with numbers at risk: one description, drawn by Plotly here and by ReportLab in figure_pdf ----


@dataclass
class Curve:
    label: str  # the group's label, as the legend says it
    short: str  # as the at-risk table says it
    colour: str
    dash: str
    x: list[float]  # years
    y: list[float]
    lower: list[float] | None = None  # 95% CI band
    upper: list[float] | None = None


@dataclass
class CurveFigure:
    """What a survival/incidence figure shows, independent of the drawing library."""

    title: str  # the page's heading (journal sizes leave it to the caption)
    test: str  # "Log-rank p = 0.008"
    x_title: str
    y_title: str
    x_max: float  # years
    percent: bool  # y axis as percentages
    curves: list[Curve]
    at_risk_years: list[int]
    at_risk: list[list[int]]  # per curve, the patients at risk at each year
    hover: dict[str, Any] = field(default_factory=dict)


def km_curves(result: dict, *, cumulative: bool = True, title: str = "") -> CurveFigure:
    """Kaplan-Meier per group with the 95% CI band, as cumulative incidence (1 - S) or survival;
    the step function starts at (0, 0) / (0, 1)."""
    result = dictionary.label_result(result)
    endpoint = result["endpoint_label"]
    curves = []
    for i, g in enumerate(result["groups"]):
        km = result["km"][g["key"]]
        surv = [1.0, *km["survival"]]
        lower = [1.0, *[v if v is not None else 0.0 for v in km["ci_lower"]]]
        upper = [1.0, *[v if v is not None else 0.0 for v in km["ci_upper"]]]
        if cumulative:
            surv, lower, upper = [1 - v for v in surv], [1 - v for v in upper], [1 - v for v in lower]
        curves.append(
            Curve(
                g["label"],
                _short(g, result),
                COLOURS[i % len(COLOURS)],
                DASHES[i % len(DASHES)],
                [0.0, *_years(km["time"])],
                surv,
                lower,
                upper,
            )
        )
    measure = "cumulative incidence (1 − Kaplan-Meier)" if cumulative else "event-free survival (Kaplan-Meier)"
    test = f"Log-rank {_p_text(result['logrank']['p'])}"
    return CurveFigure(
        title=f"{title or endpoint}: {measure}, {test[0].lower()}{test[1:]}",
        test=test,
        x_title="Years since the index procedure",
        y_title=f"Cumulative incidence of {_lower(endpoint)}" if cumulative else f"{endpoint}-free survival",
        x_max=result["spec"]["horizon_days"] / YEAR_DAYS,
        percent=True,
        curves=curves,
        **_at_risk(result, [result["km"][g["key"]] for g in result["groups"]]),
    )


def cif_curves(result: dict, *, title: str = "") -> CurveFigure:
    """Aalen-Johansen cumulative incidence per group (death competing)."""
    result = dictionary.label_result(result)
    competing = result["competing_risks"]
    endpoint = result["endpoint_label"]
    curves = [
        Curve(
            g["label"],
            _short(g, result),
            COLOURS[i % len(COLOURS)],
            DASHES[i % len(DASHES)],
            [0.0, *_years(competing["cif"][g["key"]]["time"])],
            [0.0, *competing["cif"][g["key"]]["cif"]],
        )
        for i, g in enumerate(result["groups"])
    ]
    test = f"Gray's test {_p_text(competing['gray']['p'])}"
    return CurveFigure(
        title=f"{title or endpoint}: cumulative incidence, death as competing event, {test}",
        test=test,
        x_title="Years since the index procedure",
        y_title=f"Cumulative incidence of {_lower(endpoint)}",
        x_max=result["spec"]["horizon_days"] / YEAR_DAYS,
        percent=True,
        curves=curves,
        **_at_risk(result, [competing["cif"][g["key"]] for g in result["groups"]]),
    )


def _short(group: dict, result: dict) -> str:
    return dictionary.group_short_label(group["key"], **dictionary.grouping_context(result))


def _lower(endpoint: str) -> str:
    """ "POCE" stays, "Myocardial infarction" -> "myocardial infarction" inside a sentence."""
    return endpoint if endpoint.isupper() else endpoint[:1].lower() + endpoint[1:]


def _at_risk(result: dict, estimates: list[dict]) -> dict[str, Any]:
    days = at_risk_days(result)
    return {"at_risk_years": [round(d / YEAR_DAYS) for d in days], "at_risk": [numbers_at_risk(e, days) for e in estimates]}


def km_figure(result: dict, *, cumulative: bool = True, title: str = "", filename: str = "kaplan-meier") -> dict:
    """Kaplan-Meier per group with the 95% CI as a band and the numbers at risk under the time
    axis, as cumulative incidence or survival; the log-rank p in the title."""
    return curve_figure(km_curves(result, cumulative=cumulative, title=title), filename=filename)


def cif_figure(result: dict, *, title: str = "", filename: str = "cumulative-incidence") -> dict:
    """Aalen-Johansen cumulative incidence per group (death competing), Gray's test p in the title,
    numbers at risk under the time axis."""
    return curve_figure(cif_curves(result, title=title), filename=filename)


def export_entry(size: FigureSize, layout: dict) -> dict:
    """A figure's download at a journal size, as static/js/analytics_run.js draws it: the layout (its
    width and height in CSS pixels), the PNG's scale to 300 dpi and the size in mm for the SVG."""
    return {
        "label": f"{size.label} ({size.width_mm:g} mm)",
        "width": layout["width"],
        "height": layout["height"],
        "scale": size.print_width_px / layout["width"] if size.print_width_px else 1,
        "width_mm": size.width_mm,
        "height_mm": round(layout["height"] * MM_PER_INCH / CSS_DPI, 1),
        "layout": layout,
    }


def curve_figure(cf: CurveFigure, *, filename: str) -> dict:
    """The Plotly figure of `cf`: the page's layout, and one layout per journal size in `exports`."""
    exports = {size.key: export_entry(size, curve_layout(cf, size)) for size in JOURNAL_SIZES}
    return {
        "data": _curve_traces(cf),
        "layout": curve_layout(cf, SCREEN),
        "config": figure_config(filename),
        "exports": exports,
    }


def _curve_traces(cf: CurveFigure) -> list[dict]:
    traces: list[dict] = []
    for curve in cf.curves:
        band: dict[str, Any] = {"type": "scatter", "x": curve.x, "mode": "lines", "line": {"width": 0, "shape": "hv"}}
        band |= {"hoverinfo": "skip", "showlegend": False, "legendgroup": curve.label}
        if curve.lower is not None and curve.upper is not None:
            traces.append({**band, "y": curve.upper, "name": f"{curve.label} upper 95% CI"})
            traces.append(
                {
                    **band,
                    "y": curve.lower,
                    "name": f"{curve.label} 95% CI",
                    "fill": "tonexty",
                    "fillcolor": _rgba(curve.colour, 0.15),
                }
            )
        traces.append(
            {
                "type": "scatter",
                "x": curve.x,
                "y": curve.y,
                "mode": "lines",
                "name": curve.label,
                "line": {"shape": "hv", "color": curve.colour, "width": 2, "dash": curve.dash},
                "legendgroup": curve.label,
                "hovertemplate": "%{x:.2f} years: %{y:.1%}<extra>" + curve.label + "</extra>",
            }
        )
    return traces


@dataclass(frozen=True)
class CurveGeometry:
    """Where the parts of a curve figure go, in CSS pixels (shared by Plotly and the PDF)."""

    font: float
    line: float  # one line of text (legend row, at-risk row)
    left: float
    right: float  # also how far the at-risk labels stand left of the axis (room for a centred count)
    top: float
    bottom: float
    plot_height: float
    at_risk_top: float  # from the plot's bottom edge down to the table's header line
    y_title: str  # wrapped with <br> when longer than the axis
    legend_rows: int

    @property
    def height(self) -> float:
        return self.top + self.plot_height + self.bottom

    def row_offset(self, i: int) -> float:
        """Distance below the plot's bottom edge of the middle of at-risk row i (-1: the header)."""
        return self.at_risk_top + self.line * (i + 1.5)


SCREEN_WIDTH_PX = 860  # the page's chart width, for laying out the legend (the chart itself is responsive)
CHAR_EM = 0.56  # average character width in a sans-serif font, in font sizes


def curve_geometry(cf: CurveFigure, size: FigureSize) -> CurveGeometry:
    """Margins wide enough for the axis titles, the legend (in rows above the plot) and the
    at-risk table with its group labels; text widths estimated from the character count."""
    font = size.font_px
    line = round(1.45 * font, 1)
    count_half = 0.3 * font * max((len(str(n)) for row in cf.at_risk for n in row), default=1)
    right = count_half + 8
    width = size.width_px or SCREEN_WIDTH_PX
    # The axis' length for wrapping its title: the page's plot height, or a first guess at a column's.
    axis_px = size.screen_plot_px if size.width_mm is None else size.plot_aspect * (width - 90 - right)
    y_title = _wrapped(cf.y_title, axis_px / (CHAR_EM * font))
    left = max(
        CHAR_EM * font * 4 + 10 + line * (y_title.count("<br>") + 1) + 4,  # tick labels ("100%"), the title
        CHAR_EM * font * max((len(c.short) for c in cf.curves), default=0) + right + 4,
        CHAR_EM * font * len("Number at risk") + 4,
    )
    # Legend entries at 0.6 em a character: wide enough for the PDF's font (Vera) too.
    legend_rows = _rows([0.6 * font * len(c.label) + 3.5 * font + 10 for c in cf.curves], width - left - right)
    at_risk_top = 2 * font + 8 + 1.3 * font + 4  # tick labels and the axis title
    top = (1.6 if size.width_mm is None else 1.2) * line + legend_rows * (line + 4) + 8
    bottom = at_risk_top + line * (len(cf.curves) + 1) + 4
    plot_height = axis_px if size.width_mm is None else round(size.plot_aspect * (width - left - right))
    return CurveGeometry(font, line, left, right, top, bottom, plot_height, at_risk_top, y_title, legend_rows)


def _wrapped(text: str, max_chars: float) -> str:
    """`text` in two lines (at the space nearest its middle) when longer than `max_chars`."""
    if len(text) <= max_chars or " " not in text:
        return text
    middle = len(text) / 2
    cut = min((i for i, ch in enumerate(text) if ch == " "), key=lambda i: abs(i - middle))
    return f"{text[:cut]}<br>{text[cut + 1 :]}"


def _rows(widths: list[float], available: float) -> int:
    """How many rows a horizontal legend of entries this wide takes."""
    rows, used = 1, 0.0
    for w in widths:
        if used and used + w > available:
            rows, used = rows + 1, 0.0
        used += w
    return rows


def curve_layout(cf: CurveFigure, size: FigureSize) -> dict:
    """The Plotly layout of `cf` at `size`: axes, the test's p (in the title on the page, top left
    at journal sizes), the legend in rows above the plot, and the at-risk table as annotations
    in the bottom margin."""
    geo = curve_geometry(cf, size)
    axis = {"showline": True, "linecolor": "#000", "ticks": "outside", "showgrid": False, "zeroline": False}
    axis |= {"tickfont": {"size": geo.font}, "automargin": False}
    layout: dict[str, Any] = {
        "font": {"family": FONT_FAMILY, "size": geo.font, "color": "#000"},
        "paper_bgcolor": "#fff",
        "plot_bgcolor": "#fff",
        "margin": {"l": geo.left, "r": geo.right, "t": geo.top, "b": geo.bottom, "autoexpand": False},
        "height": round(geo.height),
        "showlegend": True,
        "legend": {
            "orientation": "h",
            "x": 0,
            "y": 1,
            "xanchor": "left",
            "yanchor": "bottom",
            "font": {"size": geo.font},
            "tracegroupgap": 0,  # each group's band and line are one legend group; no gap between groups
        },
        "xaxis": {
            **axis,
            "title": {"text": cf.x_title, "font": {"size": geo.font}, "standoff": 4},
            "range": [0, cf.x_max],
            "tickmode": "array",
            "tickvals": cf.at_risk_years,
            "ticktext": [str(y) for y in cf.at_risk_years],
        },
        "yaxis": {
            **axis,
            "title": {"text": geo.y_title, "font": {"size": geo.font}},
            "rangemode": "tozero",
            "tickformat": ".0%" if cf.percent else "",
        },
        "annotations": _at_risk_annotations(cf, geo),
    }
    if size.width_mm is None:
        title = {"text": cf.title, "x": 0, "xanchor": "left", "xref": "paper", "y": 1, "yanchor": "top", "yref": "container"}
        layout |= {"hovermode": "x unified", "title": {**title, "pad": {"t": 6}, "font": {"size": geo.font * 1.15}}}
    else:
        layout["width"] = size.width_px
        # Top left of the figure, above the legend: from the plot's top edge up by the top margin.
        layout["annotations"].append(
            _note(cf.test, x=0, y=1, xanchor="left", yanchor="top", yshift=geo.top - 2, font=geo.font)
        )
    return layout


def _note(text: str, **where: Any) -> dict:
    font = where.pop("font")
    colour = where.pop("colour", "#000")
    return {
        "text": text,
        "xref": "paper",
        "yref": "paper",
        "showarrow": False,
        "font": {"size": font, "color": colour},
        **where,
    }


def _at_risk_annotations(cf: CurveFigure, geo: CurveGeometry) -> list[dict]:
    """ "Number at risk", then per group its label (left of the axis) and its counts, each centred
    on its year's tick (xref "x": the same x as the tick label above it)."""
    notes = [
        _note(
            "Number at risk",
            x=0,
            y=0,
            xanchor="left",
            yanchor="middle",
            xshift=-geo.left + 2,
            yshift=-geo.row_offset(-1),
            font=geo.font,
        )
    ]
    for i, (curve, counts) in enumerate(zip(cf.curves, cf.at_risk, strict=True)):
        row = {"y": 0, "yanchor": "middle", "yshift": -geo.row_offset(i), "font": geo.font, "colour": curve.colour}
        # The label right-aligned left of the axis, clear of the year-0 count centred on it.
        notes.append(_note(curve.short, x=0, xanchor="right", xshift=-geo.right, **row))
        notes += [
            {**_note(str(n), x=year, xanchor="center", **row), "xref": "x"}
            for year, n in zip(cf.at_risk_years, counts, strict=True)
        ]
    return notes


def hazard_ratio_figure(result: dict, *, filename: str = "hazard-ratios") -> dict:
    """Forest plot of the Cox hazard ratios (univariable and both adjusted models), log x axis with
    plain-number ticks (0.1, 1, 10). A row that is not estimable (analytics.warnings) is left out
    and listed with its reason in a note under the plot, never drawn as 3.7e8."""
    rows, left_out = forest_rows(result)
    names = [name for name, _ in rows][::-1]
    hr = [r["hr"] for _, r in rows][::-1]
    fig = go.Figure(
        go.Scatter(
            x=hr,
            y=names,
            mode="markers",
            marker={"color": COLOURS[0], "size": 8},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [r["ci_upper"] - r["hr"] for _, r in rows][::-1],
                "arrayminus": [r["hr"] - r["ci_lower"] for _, r in rows][::-1],
            },
            hovertemplate="%{y}: HR %{x:.2f}<extra></extra>",
        )
    )
    fig.add_vline(x=1, line={"dash": "dot", "color": "#555"})
    ticks = _log_ticks([r["ci_lower"] for _, r in rows], [r["ci_upper"] for _, r in rows])
    height = max(320, 28 * len(rows) + 120)
    fig.update_layout(
        title="Hazard ratios (95% CI)",
        xaxis={"type": "log", "title": "Hazard ratio", "tickvals": ticks, "ticktext": [_plain(t) for t in ticks]},
        template="simple_white",
        height=height + 18 * len(left_out),
        margin={"l": 260, "b": 70 + 18 * len(left_out)},
    )
    if left_out:
        note = "Left out:<br>" + "<br>".join(left_out)
        under = {"xref": "paper", "yref": "paper", "x": 0, "y": 0, "yshift": -50, "xanchor": "left", "yanchor": "top"}
        fig.add_annotation(text=note, showarrow=False, align="left", **under)
    return _figure(fig, filename)


def forest_rows(result: dict) -> tuple[list[tuple[str, dict]], list[str]]:
    """The forest plot's (name, row) pairs, and what it leaves out: "group_t2 (univariable): not
    estimable (no events in ICS tertile 1 (< 61))" per row that is not estimable."""
    found = result.get("warnings", [])
    models = [("univariable", result["cox"]["univariable"])]
    models += [
        ("Model 1", result["cox"]["multivariable"]["group"]),
        ("Model 2", result["cox"]["multivariable"]["continuous"]),
    ]
    # A labelled result (analytics.dictionary.label_result) names the terms in words: "ICS ≥ 85".
    rows = [(f"{r.get('label') or r['term']} ({model})", r) for model, model_rows in models for r in model_rows]
    left_out = [f"{name}: {safeguards.not_estimable_text(r, found)}" for name, r in rows if not safeguards.estimable(r)]
    return [(name, r) for name, r in rows if safeguards.estimable(r)], left_out


def _log_ticks(lower: list[float], upper: list[float]) -> list[float]:
    """Tick values for a log axis from the smallest lower to the largest upper bound (1 always in):
    1, 2, 5 per decade over at most two decades, else the powers of ten."""
    lo, hi = min([*lower, 1.0]), max([*upper, 1.0])
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    steps = (1, 2, 5) if last - first <= 2 else (1,)
    ticks = [m * 10.0**e for e in range(first, last + 1) for m in steps]
    return [t for t in ticks if lo / 1.5 <= t <= hi * 1.5 or t == 1]


def _plain(value: float) -> str:
    """A tick as an ordinary number: 0.05, 0.1, 1, 10, 1,000 (never 10μ or 1e+03)."""
    if value >= 1:
        return f"{value:,.0f}"
    return f"{value:.{-math.floor(math.log10(value) + 1e-9)}f}"


def _figure(fig: go.Figure, filename: str) -> dict:
    # Through plotly's JSON encoder: plain lists and numbers, whatever plotly keeps internally.
    return {**json.loads(fig.to_json()), "config": figure_config(filename)}


def named_curves(result: dict, name: str) -> CurveFigure | None:
    """The curve figure the result page calls `name` (km_cumulative, km_survival, cif,
    subgroup_<i>), or None when the result has no such figure."""
    result = dictionary.label_result(result)
    if name in ("km_cumulative", "km_survival"):
        return km_curves(result, cumulative=name == "km_cumulative")
    if name == "cif":
        return cif_curves(result) if "competing_risks" in result else None
    panels = result.get("subgroups") or []
    index = name.removeprefix("subgroup_")
    if name.startswith("subgroup_") and index.isascii() and index.isdigit() and int(index) < len(panels):
        panel = panels[int(index)]
        return km_curves(panel["result"], title=panel["label"]) if "result" in panel else None
    return None
