"""A pullback's calcium map and arc -> Plotly figures (JSON-ready dicts: data, layout, config).
Pure: no Django; the page passes the dicts to plotly.js (static/vendor/plotly/).

Angles follow :mod:`scoring.detector.geometry`: A-line k of N at 2*pi*k/N from the image's +x axis
towards the top of the image (counter-clockwise as displayed).
"""

import functools
import json
from typing import Any

import numpy as np
import numpy.typing as npt
import plotly.graph_objects as go

MAX_MAP_COLUMNS = 600  # pullback positions drawn in the heatmap (frames are averaged in bins)
CALCIUM_COLOUR = "#d35400"
CURRENT_FRAME_COLOUR = "#1f3b73"


def current_frame_marker() -> dict:
    """A vertical line at the frame viewer's position (mm); the page moves it (shapes[0].x0, x1)."""
    return {
        "type": "line",
        "name": "current frame",
        "xref": "x",
        "yref": "paper",
        "x0": 0,
        "x1": 0,
        "y0": 0,
        "y1": 1,
        "opacity": 1,  # simple_white's shapes are faint (0.3)
        "line": {"color": CURRENT_FRAME_COLOUR, "width": 2},
    }


def _config(filename: str) -> dict:
    # As analytics.charts.figure_config: no logo, no cloud button, a short toolbar.
    return {
        "displaylogo": False,
        "responsive": True,
        "showSendToCloud": False,
        "modeBarButtonsToRemove": ["sendDataToCloud", "select2d", "lasso2d", "toggleSpikelines"],
        "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2},
    }


def _new_figure(trace: Any) -> go.Figure:  # a plotly trace (plotly is untyped)
    # An empty template: plotly would otherwise validate and copy its default template into every
    # figure; _figure puts the page's template in as JSON (two-thirds of the time of a figure).
    return go.Figure(trace, layout={"template": {}})


@functools.cache
def _template_json() -> str:
    return json.dumps(json.loads(go.Figure(layout={"template": "simple_white"}).to_json())["layout"]["template"])


def _figure(fig: go.Figure, filename: str) -> dict:
    fig.update_layout(margin={"l": 60, "r": 20, "t": 40, "b": 50}, height=320)
    out = json.loads(fig.to_json())
    out["layout"]["template"] = json.loads(_template_json())
    return {**out, "config": _config(filename)}


def binned_map(labels: np.ndarray, *, max_columns: int = MAX_MAP_COLUMNS) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of calcium per (frame bin, A-line) and the first frame of each bin.

    A long pullback (2400 frames) is averaged over ``ceil(frames / max_columns)`` frames per
    column, so that the page stays light; a short one keeps one column per frame.
    """
    n_frames = len(labels)
    step = max(1, int(np.ceil(n_frames / max_columns)))
    starts = np.arange(0, n_frames, step)
    sums = np.add.reduceat(labels.astype(np.float32), starts, axis=0)
    counts = np.diff(np.append(starts, n_frames))[:, None]
    return sums / counts, starts


def calcium_map_figure(labels: np.ndarray, *, frame_spacing_mm: float, title: str = "Calcium map") -> dict:
    """Heatmap: pullback position (mm) x angle (degrees), colour = calcium (fraction of the bin)."""
    fractions, starts = binned_map(labels)
    n_alines = labels.shape[1]
    # Percent as uint8: plotly encodes it as a typed array (base64), a few hundred kB at most.
    percent = np.round(fractions.T * 100).astype(np.uint8)
    fig = _new_figure(
        go.Heatmap(
            x=(starts * frame_spacing_mm).astype(np.float32),
            y=(np.arange(n_alines) * 360.0 / n_alines).astype(np.float32),
            z=percent,
            zmin=0,
            zmax=100,
            colorscale=[[0, "#f4f6f8"], [1, CALCIUM_COLOUR]],
            colorbar={"title": {"text": "% calcium"}},
            hovertemplate="%{x:.1f} mm, %{y:.0f}°: %{z}%<extra></extra>",
        )
    )
    fig.update_layout(
        title={"text": title},
        xaxis_title="Pullback position (mm)",
        yaxis={
            "title": {"text": "Angle (degrees, counter-clockwise from 3 o'clock)"},
            "range": [0, 360],
            "tickvals": [0, 90, 180, 270, 360],
        },
        shapes=[current_frame_marker()],
    )
    return _figure(fig, "calcium-map")


def arc_figure(
    arc_deg_per_frame: npt.ArrayLike, *, frame_spacing_mm: float, title: str = "Calcium arc along the pullback"
) -> dict:
    """Line: calcium arc (degrees) per frame against pullback position (mm)."""
    arcs = np.asarray(arc_deg_per_frame, float)
    fig = _new_figure(
        go.Scatter(
            x=(np.arange(len(arcs)) * frame_spacing_mm).astype(np.float32),
            y=arcs.astype(np.float32),
            mode="lines",
            line={"color": CALCIUM_COLOUR, "width": 1.5},
            hovertemplate="%{x:.1f} mm: %{y:.0f}°<extra></extra>",
        )
    )
    fig.update_layout(
        title={"text": title},
        xaxis_title="Pullback position (mm)",
        yaxis={"title": {"text": "Calcium arc (degrees)"}, "range": [0, 360]},
        hovermode="x",  # a click anywhere above a position picks its frame (the frame viewer follows)
        shapes=[current_frame_marker()],
    )
    return _figure(fig, "calcium-arc")
