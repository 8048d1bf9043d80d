"""Compare two detector models on annotated pullbacks: per-A-line metrics against the annotations,
ICS agreement between the models (Bland-Altman, ICC) and the pullbacks whose ICS group would
change at the study cut-off. Pure: labels in, numbers and a Plotly figure (a plain dict) out.

The models are called "active" (scoring uses it now) and "candidate" (it might replace it).
Differences are always candidate minus active.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from scoring.detector.postprocess import ics
from scoring.detector.train import aline_metrics

# The study's ICS cut-off: ICS >= 85 is the "high" group (Hoogendoorn et al.). Nothing in the
# registry or analytics defines it as a constant (analytics takes the cut-off per analysis).
ICS_STUDY_CUTOFF = 85.0
MODELS = ("active", "candidate")
LOA_Z = 1.96  # limits of agreement: mean difference +- 1.96 SD (Bland and Altman 1986)


@dataclass(frozen=True)
class AnnotatedPrediction:
    """One annotated pullback: the annotations and both models' labels on its annotated frames.

    ``truth`` and every ``predicted[model]`` are (annotated frames, A-lines) bool of the same
    shape; ``whole_ics[model]`` is the model's ICS of the whole pullback (all frames).
    """

    pullback_id: int
    patient: str
    truth: np.ndarray
    predicted: dict = field(default_factory=dict)
    whole_ics: dict = field(default_factory=dict)


def icc_agreement(y: np.ndarray) -> float | None:
    """ICC(2,1): two-way random effects, absolute agreement, single rater.

    Parameters
    ----------
    y : ndarray, shape (n, k)
        Ratings of n subjects (pullbacks) by k raters (models), e.g. ICS.

    Returns
    -------
    float or None
        None with fewer than two subjects or raters, or when every rating is the same (no
        variance to agree on).

    Notes
    -----
    Shrout and Fleiss (1979), ICC(2,1) = (MSR - MSE) / (MSR + (k-1) MSE + k (MSC - MSE) / n),
    with MSR, MSC and MSE the mean squares of rows, columns and error of the two-way ANOVA.
    """
    y = np.asarray(y, float)
    n, k = y.shape
    if n < 2 or k < 2:
        return None
    grand = y.mean()
    ss_rows = k * ((y.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((y.mean(axis=0) - grand) ** 2).sum()
    ss_err = ((y - grand) ** 2).sum() - ss_rows - ss_cols
    msr, msc, mse = ss_rows / (n - 1), ss_cols / (k - 1), ss_err / ((n - 1) * (k - 1))
    denom = msr + (k - 1) * mse + k * (msc - mse) / n
    return float((msr - mse) / denom) if denom > 1e-12 else None


def bland_altman(reference: npt.ArrayLike, other: npt.ArrayLike) -> dict:
    """Mean difference (other - reference), its SD and the 95% limits of agreement.

    Returns ``{"n", "mean_diff", "sd_diff", "lower", "upper"}``; SD and limits are None with
    fewer than two pairs (Bland and Altman, Lancet 1986).
    """
    diff = np.asarray(other, float) - np.asarray(reference, float)
    mean = float(diff.mean()) if len(diff) else None
    sd = float(diff.std(ddof=1)) if len(diff) > 1 else None
    limits = (mean - LOA_Z * sd, mean + LOA_Z * sd) if mean is not None and sd is not None else (None, None)
    return {"n": len(diff), "mean_diff": mean, "sd_diff": sd, "lower": limits[0], "upper": limits[1]}


def ics_group(value: float, *, cutoff: float = ICS_STUDY_CUTOFF) -> str:
    """The ICS group: "high" when ICS >= cut-off (as in the analyses), else "low"."""
    return "high" if value >= cutoff else "low"


def resample_alines(labels: np.ndarray, n_alines: int) -> np.ndarray:
    """Labels (frames, A) on a grid of ``n_alines`` A-lines: each new A-line takes the label of the
    nearest old one by angle (A-line k of N lies at 360 k / N degrees)."""
    old = labels.shape[1]
    if old == n_alines:
        return labels
    nearest = np.rint(np.arange(n_alines) * old / n_alines).astype(int) % old
    return labels[:, nearest]


def _model_summary(items: Sequence[AnnotatedPrediction], model: str) -> dict:
    pred = np.concatenate([p.predicted[model].ravel() for p in items])
    truth = np.concatenate([p.truth.ravel() for p in items])
    annotated = bland_altman([ics(p.truth) for p in items], [ics(p.predicted[model]) for p in items])
    icc = icc_agreement(np.array([[ics(p.truth), ics(p.predicted[model])] for p in items]))
    return {
        **aline_metrics(pred, truth),
        "ics_mean_diff_vs_annotations": annotated["mean_diff"],
        "ics_icc_vs_annotations": icc,
    }


def _pullback_row(item: AnnotatedPrediction, cutoff: float) -> dict:
    whole = {m: float(item.whole_ics[m]) for m in MODELS}
    groups = {m: ics_group(whole[m], cutoff=cutoff) for m in MODELS}
    return {
        "pullback_id": item.pullback_id,
        "patient": item.patient,
        "annotated_frames": int(item.truth.shape[0]),
        "ics_annotations": ics(item.truth),
        **{f"ics_annotated_{m}": ics(item.predicted[m]) for m in MODELS},
        **{f"ics_{m}": whole[m] for m in MODELS},
        "ics_difference": whole["candidate"] - whole["active"],
        **{f"group_{m}": groups[m] for m in MODELS},
        "group_changes": groups["active"] != groups["candidate"],
    }


def compare_models(items: Sequence[AnnotatedPrediction], *, cutoff: float = ICS_STUDY_CUTOFF) -> dict:
    """Compare the active and the candidate model on annotated pullbacks.

    Parameters
    ----------
    items : sequence of AnnotatedPrediction
        At least one pullback, each with ``predicted`` and ``whole_ics`` for "active" and "candidate".
    cutoff : float
        ICS cut-off of the groups (ICS >= cut-off is "high").

    Returns
    -------
    dict
        ``models``: per model the pooled per-A-line accuracy, precision, recall and F1 over all
        annotated frames, and the mean difference and ICC(2,1) of its annotated-frame ICS against
        the annotations' ICS; ``agreement``: Bland-Altman (candidate - active) and ICC(2,1) of the
        whole-pullback ICS; ``group_changes``: pullbacks (and their patients) whose ICS group
        differs between the models; ``pullbacks``: one row per pullback.

    Notes
    -----
    Per-A-line metrics pool the A-lines of every annotated frame (frames without annotations are
    not truth and are left out). ICS = calcium A-lines / all A-lines x 1000.
    """
    if not items:
        raise ValueError("No annotated pullbacks to compare on.")
    rows = [_pullback_row(item, cutoff) for item in items]
    whole = np.array([[r["ics_active"], r["ics_candidate"]] for r in rows])
    changed = [r for r in rows if r["group_changes"]]
    return {
        "cutoff": cutoff,
        "n_pullbacks": len(rows),
        "n_patients": len({r["patient"] for r in rows}),
        "n_annotated_frames": sum(r["annotated_frames"] for r in rows),
        "models": {m: _model_summary(items, m) for m in MODELS},
        "agreement": {**bland_altman(whole[:, 0], whole[:, 1]), "icc": icc_agreement(whole)},
        "group_changes": {
            "n_pullbacks": len(changed),
            "pullbacks": [r["pullback_id"] for r in changed],
            "n_patients": len({r["patient"] for r in changed}),
            "patients": sorted({r["patient"] for r in changed}),
        },
        "pullbacks": rows,
    }


def bland_altman_figure(comparison: dict, *, active_label: str, candidate_label: str) -> dict:
    """Bland-Altman plot of the whole-pullback ICS (Plotly JSON: data, layout, config).

    x: mean ICS of the two models, y: candidate - active; dashed lines at the mean difference and
    the limits of agreement (when there are two or more pullbacks).
    """
    rows = comparison["pullbacks"]
    agreement = comparison["agreement"]
    means = [(r["ics_active"] + r["ics_candidate"]) / 2 for r in rows]
    differences = [r["ics_difference"] for r in rows]
    data = [
        {
            "type": "scatter",
            "mode": "markers",
            "x": means,
            "y": differences,
            "text": [f"Pullback {r['pullback_id']} ({r['patient']})" for r in rows],
            "name": "Pullbacks",
            "marker": {"color": "#1f4e79", "size": 9},
            "showlegend": False,
            "hovertemplate": "%{text}<br>mean ICS %{x:.1f}, difference %{y:.1f}<extra></extra>",
        }
    ]
    lines = [
        ("Mean difference", agreement["mean_diff"], "#333333"),
        ("Upper limit of agreement", agreement["upper"], "#c0392b"),
        ("Lower limit of agreement", agreement["lower"], "#c0392b"),
    ]
    if agreement["sd_diff"] == 0:  # every difference the same: the limits are the mean line
        lines = [("Mean difference = limits of agreement", agreement["mean_diff"], "#333333")]
    shapes, annotations = [], []
    for label, value, colour in lines:
        if value is None:
            continue
        shapes.append(
            {
                "type": "line",
                "xref": "paper",
                "x0": 0,
                "x1": 1,
                "y0": value,
                "y1": value,
                "line": {"color": colour, "width": 1.5, "dash": "dash"},
            }
        )
        annotations.append(
            {
                "xref": "paper",
                "x": 1,
                "xanchor": "right",
                "y": value,
                "yanchor": "bottom",
                "text": f"{label}: {value:.1f}",
                "showarrow": False,
                "font": {"size": 11, "color": colour},
            }
        )
    spread = max([abs(d) for d in differences] + [abs(v) for _, v, _ in lines if v is not None] + [10.0])
    layout = {
        "title": {"text": f"ICS agreement: {candidate_label} vs {active_label}"},
        "xaxis": {"title": {"text": "Mean ICS of the two models (whole pullback)"}, "zeroline": False},
        "yaxis": {
            "title": {"text": f"ICS difference ({candidate_label} − {active_label})"},
            "range": [-spread * 1.25, spread * 1.25],
        },
        "shapes": shapes,
        "annotations": annotations,
        "height": 380,
        "margin": {"l": 70, "r": 20, "t": 50, "b": 60},
        "plot_bgcolor": "white",
    }
    config = {
        "displaylogo": False,
        "responsive": True,
        "toImageButtonOptions": {"format": "png", "filename": "ics-bland-altman", "scale": 2},
    }
    return {"data": data, "layout": layout, "config": config}
