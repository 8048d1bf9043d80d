"""Figures of the issue-13 analyses: the spline HR curve of the ICS and the subgroup forest plot
(the study's Fig. 3b/c as hazard ratios). Pure: results in, JSON-ready Plotly figures out (data,
layout, config), drawn by static/js/analytics_run.js like the figures of analytics.charts.

Both use a log HR axis labelled with plain numbers (0.5, 1, 2), never Plotly's SI prefixes.
"""

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any

from analytics import dictionary
from analytics import warnings as safeguards
from analytics.charts import CHAR_EM, COLOURS, JOURNAL_SIZES, FigureSize, export_entry, figure_config

GREY = "#555"
_TICK_MANTISSAS = (1, 2, 5)
FONT = {"family": "Arial, Helvetica, sans-serif"}


def page_parts(result: Mapping[str, Any], *, filename_prefix: str) -> dict[str, Any]:
    """What the result page shows of the optional analyses: their figures (for the page's figure
    JSON), the texts of the spline and RMST paragraphs and tables, the forest's rows, and the
    warnings of each (by its `model`)."""
    warnings: dict[str, list[Mapping[str, Any]]] = {name: [] for name in ("spline", "rmst", "subgroup_forest")}
    for w in result.get("warnings") or []:
        if w.get("model") in warnings:
            warnings[w["model"]].append(w)
    parts: dict[str, Any] = {"figures": result_figures(result, filename_prefix=filename_prefix), "warnings": warnings}
    if result.get("spline"):
        parts["spline"] = spline_text(result["spline"], result["spec"].get("covariates") or [])
    if result.get("rmst"):
        parts["rmst_rows"] = rmst_rows(result)
    if result.get("subgroup_forest"):
        forest = result["subgroup_forest"]
        parts["forest_rows"] = forest_rows(forest)
        drawn = parts["figures"].get("subgroup_forest")
        parts["forest_sizes"] = [s for s in JOURNAL_SIZES if drawn and s.key in drawn["exports"]]
        parts["forest_exposure"] = exposure_text(forest["exposure"], dictionary.grouping_context(result)["cutoffs"])
    return parts


def spline_text(spline: Mapping[str, Any], covariates: list[str]) -> dict[str, str]:
    """The spline's description in words and its p-values as the tables show them."""
    knots = ", ".join(plain_number(round(k, 2)) for k in spline["knots"]) or "none"
    return {
        "knots": knots,
        "boundary": " and ".join(plain_number(round(k, 2)) for k in spline["boundary_knots"]),
        "covariates": ", ".join(dictionary.variable_label(c) for c in covariates) or "none",
        "p_overall": _p(spline["p_overall"]),
        "p_nonlinear": _p(spline["p_nonlinear"]) if spline.get("p_nonlinear") is not None else "not applicable (1 df)",
        "reference": plain_number(spline["reference"]),
    }


def rmst_rows(result: Mapping[str, Any]) -> list[dict[str, str]]:
    """The RMST table: one row per group, then one per difference against the first group."""
    rmst = result["rmst"]
    variable = result["spec"]["grouping"]["variable"]
    cutoffs = dictionary.grouping_context(result)["cutoffs"]

    def label(key: str) -> str:
        return dictionary.group_label(key, variable=variable, cutoffs=cutoffs)

    def days(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    rows = [
        {"what": label(g["group"]), "n": str(g["n"]), "value": days(g["rmst"]), "se": days(g["se"]), "ci": ""}
        for g in rmst["groups"]
    ]
    for d in rmst["differences"]:
        ci = "-" if d["ci_lower"] is None else f"{d['ci_lower']:.1f} to {d['ci_upper']:.1f}"
        what = f"Difference: {label(d['group'])} minus {label(d['reference'])}"
        rows.append({"what": what, "n": "", "value": days(d["difference"]), "se": "", "ci": ci})
    return rows


def result_figures(result: Mapping[str, Any], *, filename_prefix: str) -> dict[str, dict[str, Any]]:
    """The figures of the optional analyses a result has, by the name the page's charts ask for."""
    figures = {}
    if result.get("spline"):
        figures["spline"] = spline_figure(result["spline"], filename=f"{filename_prefix}-ics-spline")
    forest = result.get("subgroup_forest")
    if forest and any(row["levels"] for row in forest["variables"]):
        figures["subgroup_forest"] = forest_figure(
            forest, cutoffs=dictionary.grouping_context(result)["cutoffs"], filename=f"{filename_prefix}-subgroups"
        )
    return figures


def log_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Tick values for a log axis from `low` to `high` (always 1), with plain-number texts: 1, 2, 5
    x 10^k (powers of ten only when that gives more than nine); for a narrow range, evenly spaced
    round numbers."""
    low, high = max(low, 1e-6), min(high, 1e6)
    for mantissas in (_TICK_MANTISSAS, (1, 1.5, 2, 3, 5, 7)):
        values = sorted(
            {round(m * 10.0**e, 9) for e in range(-6, 7) for m in mantissas if low / 1.01 <= m * 10.0**e <= high * 1.01}
            | {1.0}
        )
        if len(values) >= 3:
            break
    else:
        step = 10.0 ** math.floor(math.log10((high - low) / 2 or 0.1))
        values = sorted({round(k * step, 9) for k in range(math.ceil(low / step), math.floor(high / step) + 1)} | {1.0})
    if len(values) > 9:
        values = [v for v in values if math.log10(v).is_integer()]
    return values, [plain_number(v) for v in values]


def plain_number(value: float) -> str:
    """0.05 -> "0.05", 1000.0 -> "1000": no exponent, no SI prefix."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _hr_text(row: Mapping[str, Any]) -> str:
    return f"{row['hr']:.2f} ({row['ci_lower']:.2f}-{row['ci_upper']:.2f})"


def _p(p: float | None) -> str:
    if p is None:
        return "n/a"
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


# Spline ------------------------------------------------------------------------------------------


def spline_figure(spline: Mapping[str, Any], *, filename: str) -> dict[str, Any]:
    """The HR of the ICS against the reference ICS with its 95% CI band (log axis) and, under it,
    a rug of the model's patients (one tick per ICS value, its hover the number of patients)."""
    curve = spline["curve"]
    x = [p["ics"] for p in curve]
    lower, upper = [p["ci_lower"] for p in curve], [p["ci_upper"] for p in curve]
    band = {"x": x, "mode": "lines", "line": {"width": 0}, "hoverinfo": "skip", "showlegend": False}
    data: list[dict[str, Any]] = [
        {**band, "y": upper, "name": "upper 95% CI"},
        {**band, "y": lower, "name": "95% CI", "fill": "tonexty", "fillcolor": "rgba(31,95,153,0.18)", "showlegend": True},
        {
            "x": x,
            "y": [p["hr"] for p in curve],
            "mode": "lines",
            "name": "Hazard ratio",
            "line": {"color": COLOURS[0], "width": 2},
            "customdata": [[lo, hi] for lo, hi in zip(lower, upper, strict=True)],
            "hovertemplate": "ICS %{x}: HR %{y:.2f} (95% CI %{customdata[0]:.2f}-%{customdata[1]:.2f})<extra></extra>",
        },
        {
            "x": [spline["reference"]],
            "y": [1.0],
            "mode": "markers",
            "name": f"Reference (ICS {plain_number(spline['reference'])})",
            "marker": {"color": GREY, "size": 8, "symbol": "diamond"},
            "hovertemplate": "Reference ICS %{x}: HR 1<extra></extra>",
        },
        _rug_trace(spline.get("rug") or []),
    ]
    finite = [v for v in [*lower, *upper] if v is not None and v > 0 and math.isfinite(v)]
    ticks, texts = log_ticks(min(finite, default=0.5), max(finite, default=2.0))
    tests = f"p overall {_p(spline['p_overall'])}"
    if spline.get("p_nonlinear") is not None:
        tests += f", p non-linear {_p(spline['p_nonlinear'])}"
    layout = {
        "title": {"text": f"Hazard ratio by ICS (natural spline, {spline['df']} df): {tests}"},
        "template": "simple_white",
        "font": FONT,
        "height": 460,
        "hovermode": "closest",
        "xaxis": {"title": {"text": "ICS"}, "range": [0, spline["boundary_knots"][1]], "anchor": "y2"},
        "yaxis": {
            "title": {"text": f"Hazard ratio (vs ICS {plain_number(spline['reference'])})"},
            "type": "log",
            "tickvals": ticks,
            "ticktext": texts,
            "domain": [0.12, 1.0],
        },
        "yaxis2": {"domain": [0.0, 0.07], "visible": False, "range": [0, 1], "fixedrange": True},
        "shapes": [
            {"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 1, "y1": 1, "line": {"dash": "dot", "color": GREY}}
        ],
        "legend": {"orientation": "h", "y": -0.2},
        "margin": {"l": 70, "r": 20},
    }
    exports = {size.key: export_entry(size, _spline_layout(layout, data, tests, size)) for size in JOURNAL_SIZES}
    return {"data": data, "layout": layout, "config": figure_config(filename), "exports": exports}


def _legend_rows(names: list[str], font: float, width: float) -> int:
    """How many rows a horizontal legend of `names` takes at `width` (each entry its text and a sample)."""
    rows, used = 1, 0.0
    for name in names:
        entry = _text_px(name, font) + 5 * font  # Plotly's sample (40 px) and gaps
        if used and used + entry > width:
            rows, used = rows + 1, 0.0
        used += entry
    return rows


def _spline_layout(page: Mapping[str, Any], data: list[dict[str, Any]], tests: str, size: FigureSize) -> dict[str, Any]:
    """The spline figure at a journal column's width: the tests top left instead of the title (the
    caption names the figure), the plot as wide as the column allows, the legend under the ICS axis."""
    font = size.font_px
    width = float(size.width_px or 0)
    margin = {"l": round(font * 6.5), "r": round(font), "t": round(font * 2), "autoexpand": False}
    plot_height = (width - margin["l"] - margin["r"]) * size.plot_aspect
    names = [t["name"] for t in data if t.get("showlegend", True)]
    rows = _legend_rows(names, font, width - margin["l"] - margin["r"])
    margin["b"] = round(font * 5.5 + rows * font * 2.1)  # the ICS axis, its title, the legend
    layout = copy.deepcopy(dict(page))
    layout.pop("hovermode", None)
    layout |= {
        "width": round(width),
        "height": round(plot_height + margin["t"] + margin["b"]),
        "margin": margin,
        "font": {**FONT, "size": font, "color": "#000"},
        "title": {
            "text": tests,
            "font": {"size": font},
            "x": 0,
            "xref": "paper",
            "xanchor": "left",
            "y": 1,
            "yref": "container",
            "yanchor": "top",
            "pad": {"t": 2},
        },
        "legend": {
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "y": -(font * 2.8) / plot_height,
            "yanchor": "top",
            "font": {"size": font},
        },
    }
    layout["yaxis"]["title"] = {"text": page["yaxis"]["title"]["text"], "font": {"size": font}}
    layout["xaxis"]["title"] = {"text": "ICS", "font": {"size": font}, "standoff": 4}
    return layout


def _rug_trace(rug: list[Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "x": [r["ics"] for r in rug],
        "y": [0.5] * len(rug),
        "yaxis": "y2",
        "mode": "markers",
        "name": "Patients (rug)",
        "marker": {"symbol": "line-ns-open", "size": 14, "color": GREY, "line": {"width": 1}},
        "customdata": [r["n"] for r in rug],
        "hovertemplate": "ICS %{x}: %{customdata} patient(s)<extra></extra>",
        "showlegend": False,
    }


# Subgroup forest -------------------------------------------------------------------------------------


def forest_rows(forest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The forest's rows top to bottom: per variable a heading (with the interaction p), then its
    levels (with n, events and the HR, or why there is none)."""
    rows: list[dict[str, Any]] = []
    for variable in forest["variables"]:
        name = variable["variable"]
        p = variable["p_interaction"]
        rows.append(
            {"heading": True, "text": dictionary.variable_label(name), "right": f"p interaction {_p(p)}", "level": None}
        )
        for level in variable["levels"]:
            text = f"{dictionary.level_label(name, level['level'])} (n = {level['n']}, events = {level['events']})"
            why = safeguards.forest_level_text(level)
            rows.append({"heading": False, "text": text, "right": why or _hr_text(level), "level": None if why else level})
    return rows


def exposure_text(exposure: str, cutoffs: Sequence[float | str]) -> str:
    """ "ICS ≥ 85 vs ICS < 85" or "ICS (per 100 units)"."""
    return dictionary.exposure_text(exposure, cutoffs=cutoffs)


def forest_figure(forest: Mapping[str, Any], *, cutoffs: Sequence[float | str], filename: str) -> dict[str, Any]:
    """Forest plot of the ICS HR per subgroup level (log axis, 95% CI bars), the subgroup and level
    names on the left, HR (95% CI) and each variable's interaction p on the right (Fig. 3b/c)."""
    rows = forest_rows(forest)
    y = list(range(len(rows), 0, -1))  # top to bottom
    points = [(yy, r["level"]) for yy, r in zip(y, rows, strict=True) if r["level"] is not None]
    data = [
        {
            "x": [lv["hr"] for _, lv in points],
            "y": [yy for yy, _ in points],
            "mode": "markers",
            "marker": {"color": COLOURS[0], "size": 9, "symbol": "square"},
            "error_x": {
                "type": "data",
                "symmetric": False,
                "array": [lv["ci_upper"] - lv["hr"] for _, lv in points],
                "arrayminus": [lv["hr"] - lv["ci_lower"] for _, lv in points],
                "color": COLOURS[0],
            },
            "customdata": [_hr_text(lv) for _, lv in points],
            "hovertemplate": "HR %{customdata}<extra></extra>",
            "showlegend": False,
        }
    ]
    bounds = [v for _, lv in points for v in (lv["ci_lower"], lv["ci_upper"]) if v and math.isfinite(v)]
    low, high = min([*bounds, 1.0]), max([*bounds, 1.0])
    ticks, texts = log_ticks(low, high)
    annotations = [
        {
            "xref": "paper",
            "x": 1.02,
            "y": yy,
            "yref": "y",
            "xanchor": "left",
            "showarrow": False,
            "text": f"<b>{r['right']}</b>" if r["heading"] else r["right"],
        }
        for yy, r in zip(y, rows, strict=True)
    ]
    layout = {
        "title": {"text": f"Subgroups: hazard ratio of {exposure_text(forest['exposure'], cutoffs)}"},
        "template": "simple_white",
        "font": FONT,
        "height": max(260, 30 * len(rows) + 130),
        "xaxis": {
            "type": "log",
            "title": {"text": "Hazard ratio (95% CI)"},
            "tickvals": ticks,
            "ticktext": texts,
            "range": [math.log10(low) - 0.05, math.log10(high) + 0.05],
        },
        "yaxis": {
            "tickvals": y,
            "ticktext": [f"<b>{r['text']}</b>" if r["heading"] else r["text"] for r in rows],
            "range": [0.3, len(rows) + 0.7],
            "showline": False,
            "ticks": "",
        },
        "shapes": [
            {"type": "line", "yref": "paper", "x0": 1, "x1": 1, "y0": 0, "y1": 1, "line": {"dash": "dot", "color": GREY}}
        ],
        "annotations": annotations,
        "margin": {"l": 320, "r": 230},
    }
    exports = {}
    for size in JOURNAL_SIZES:
        sized = _forest_layout(layout, rows, size)
        if sized is not None:
            exports[size.key] = export_entry(size, sized)
    return {"data": data, "layout": layout, "config": figure_config(filename), "exports": exports}


MIN_FOREST_PLOT_PX = 150  # the narrowest forest (its HR axis) worth printing


def _text_px(text: str, font: float, *, bold: bool = False) -> float:
    return len(text) * font * CHAR_EM * (1.1 if bold else 1.0)


def _forest_layout(page: Mapping[str, Any], rows: list[dict[str, Any]], size: FigureSize) -> dict[str, Any] | None:
    """The forest plot at a journal column's width, margins as wide as its texts at the column's font
    size; None when the texts leave the HR axis too little room (a long subgroup name in a single column)."""
    font = size.font_px
    width = float(size.width_px or 0)
    left = max(_text_px(r["text"], font, bold=r["heading"]) for r in rows) + font
    right = max(_text_px(r["right"], font, bold=r["heading"]) for r in rows) + font
    if width - left - right < MIN_FOREST_PLOT_PX:
        return None
    row_px = font * 1.9
    margin = {"l": round(left), "r": round(right), "t": round(font * 2.5), "b": round(font * 4), "autoexpand": False}
    layout = copy.deepcopy(dict(page))
    layout |= {
        "width": round(width),
        "height": round(row_px * (len(rows) + 0.4) + margin["t"] + margin["b"]),
        "margin": margin,
        "font": {**FONT, "size": font, "color": "#000"},
    }
    layout["title"] = {"text": page["title"]["text"], "font": {"size": font}, "x": 0, "xanchor": "left", "xref": "paper"}
    layout["xaxis"]["title"] = {"text": page["xaxis"]["title"]["text"], "font": {"size": font}}
    for note in layout["annotations"]:
        note["x"] = 1.0
        note["xshift"] = font * 0.6
    return layout
