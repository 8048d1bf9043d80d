"""Analysis results -> Plotly figures (JSON-ready dicts: data, layout, config). Pure: no Django, no
statistics; the page passes the dicts to plotly.js (served from static/vendor/plotly/)."""

import json
import math
from collections.abc import Iterable

import plotly.graph_objects as go

from analytics import warnings as safeguards
from analytics.exports import YEAR_DAYS

COLOURS = ("#1f5f99", "#c0392b", "#2e8b57", "#8e44ad", "#d35400", "#7f8c8d")


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _years(days: Iterable[float]) -> list[float]:
    return [d / YEAR_DAYS for d in days]


def _p_text(p: float | None) -> str:
    if p is None:
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def figure_config(filename: str) -> dict:
    """plotly.js config: the chart's own PNG download (the page adds an SVG button), no logo."""
    return {
        "displaylogo": False,
        "responsive": True,
        "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2, "width": 900, "height": 560},
    }


def km_figure(result: dict, *, cumulative: bool = True, title: str = "", filename: str = "kaplan-meier") -> dict:
    """Kaplan-Meier per group with the 95% CI as a band, as cumulative incidence (1 - S) or
    survival; the step function starts at (0, 0) / (0, 1); the log-rank p in the title."""
    fig = go.Figure()
    for i, g in enumerate(result["groups"]):
        km, colour = result["km"][g["key"]], COLOURS[i % len(COLOURS)]
        x = [0.0, *_years(km["time"])]
        surv = [1.0, *km["survival"]]
        lower = [1.0, *[v if v is not None else 0.0 for v in km["ci_lower"]]]
        upper = [1.0, *[v if v is not None else 0.0 for v in km["ci_upper"]]]
        if cumulative:
            surv, lower, upper = [1 - v for v in surv], [1 - v for v in upper], [1 - v for v in lower]
        band = {
            "x": x,
            "mode": "lines",
            "line": {"width": 0, "shape": "hv"},
            "hoverinfo": "skip",
            "showlegend": False,
            "legendgroup": g["key"],
        }
        fig.add_trace(go.Scatter(y=upper, name=f"{g['label']} upper 95% CI", **band))
        fig.add_trace(
            go.Scatter(y=lower, name=f"{g['label']} 95% CI", fill="tonexty", fillcolor=_rgba(colour, 0.15), **band)
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=surv,
                mode="lines",
                name=f"{g['label']} (n = {g['n']}, events = {g['events']})",
                line={"shape": "hv", "color": colour, "width": 2},
                legendgroup=g["key"],
                hovertemplate="%{x:.2f} years: %{y:.3f}<extra>" + g["label"] + "</extra>",
            )
        )
    measure = "Cumulative incidence (1 - KM)" if cumulative else "Event-free survival (KM)"
    heading = f"{title or measure}, log-rank {_p_text(result['logrank']['p'])}"
    _layout(fig, heading, measure, result)
    return _figure(fig, filename)


def cif_figure(result: dict, *, title: str = "", filename: str = "cumulative-incidence") -> dict:
    """Aalen-Johansen cumulative incidence per group (death competing), Gray's test p in the title."""
    competing = result["competing_risks"]
    fig = go.Figure()
    for i, g in enumerate(result["groups"]):
        cif = competing["cif"][g["key"]]
        fig.add_trace(
            go.Scatter(
                x=[0.0, *_years(cif["time"])],
                y=[0.0, *cif["cif"]],
                mode="lines",
                name=f"{g['label']} (n = {g['n']})",
                line={"shape": "hv", "color": COLOURS[i % len(COLOURS)], "width": 2},
                hovertemplate="%{x:.2f} years: %{y:.3f}<extra>" + g["label"] + "</extra>",
            )
        )
    heading = f"{title or 'Cumulative incidence, death as competing event'}, Gray's test {_p_text(competing['gray']['p'])}"
    _layout(fig, heading, "Cumulative incidence", result)
    return _figure(fig, filename)


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


def _layout(fig: go.Figure, heading: str, measure: str, result: dict) -> None:
    horizon_years = result["spec"]["horizon_days"] / YEAR_DAYS
    fig.update_layout(
        title=heading,
        template="simple_white",
        height=480,
        hovermode="x unified",
        xaxis={"title": "Years since the index procedure", "range": [0, horizon_years], "dtick": 1},
        yaxis={"title": measure, "rangemode": "tozero"},
        legend={"orientation": "h", "y": -0.2},
    )


def _figure(fig: go.Figure, filename: str) -> dict:
    # Through plotly's JSON encoder: plain lists and numbers, whatever plotly keeps internally.
    return {**json.loads(fig.to_json()), "config": figure_config(filename)}
