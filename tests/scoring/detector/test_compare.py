"""Comparing two detector models (pure): per-A-line metrics, ICC(2,1), Bland-Altman, ICS group
changes at the study cut-off and the Bland-Altman figure, against values computed by hand."""

import numpy as np
import pytest

from scoring.detector import compare
from scoring.detector.compare import AnnotatedPrediction, bland_altman, compare_models, icc_agreement


def _item(pullback_id: int, patient: str, *, active: float, candidate: float, truth=None, predicted=None):
    truth = np.zeros((2, 4), bool) if truth is None else truth
    predicted = predicted or {"active": truth, "candidate": truth}
    return AnnotatedPrediction(pullback_id, patient, truth, predicted, {"active": active, "candidate": candidate})


def test_icc_equals_the_hand_computed_shrout_fleiss_value():
    # n=3 pullbacks, k=2 models: MSR = 21/2, MSC = 1.5, MSE = 0.5;
    # ICC(2,1) = (10.5 - 0.5) / (10.5 + 0.5 + 2 (1.5 - 0.5) / 3) = 6/7.
    assert icc_agreement(np.array([[1.0, 2.0], [3.0, 3.0], [5.0, 7.0]])) == pytest.approx(6 / 7, abs=1e-12)


def test_icc_is_one_for_identical_ratings_and_none_without_variance_or_subjects():
    assert icc_agreement(np.array([[10.0, 10.0], [200.0, 200.0], [50.0, 50.0]])) == pytest.approx(1.0)
    assert icc_agreement(np.array([[3.0, 3.0], [3.0, 3.0]])) is None
    assert icc_agreement(np.array([[3.0, 4.0]])) is None


def test_bland_altman_gives_mean_difference_and_limits_of_agreement():
    # differences 1, 0, 2: mean 1, SD 1, limits 1 -+ 1.96
    assert bland_altman([1.0, 3.0, 5.0], [2.0, 3.0, 7.0]) == pytest.approx(
        {"n": 3, "mean_diff": 1.0, "sd_diff": 1.0, "lower": -0.96, "upper": 2.96}
    )
    assert bland_altman([4.0], [6.0]) == {"n": 1, "mean_diff": 2.0, "sd_diff": None, "lower": None, "upper": None}


def test_pooled_aline_metrics_against_the_annotations():
    truth = np.array([[1, 0, 0, 0], [0, 1, 1, 0]], bool)
    active = np.array([[1, 1, 0, 0], [0, 1, 0, 0]], bool)  # tp 2 of 3 predicted, 3 true; 6 of 8 right
    result = compare_models(
        [_item(1, "P1", active=10.0, candidate=10.0, truth=truth, predicted={"active": active, "candidate": truth})]
    )
    assert result["models"]["active"] == pytest.approx(
        {
            "accuracy": 0.75,
            "precision": 2 / 3,
            "recall": 2 / 3,
            "f1": 2 / 3,
            "ics_mean_diff_vs_annotations": (3 - 3) / 8 * 1000,
            "ics_icc_vs_annotations": None,
        }
    )
    assert result["models"]["candidate"]["accuracy"] == 1.0 and result["models"]["candidate"]["f1"] == 1.0
    row = result["pullbacks"][0]
    assert row["ics_annotations"] == pytest.approx(375.0) and row["ics_annotated_active"] == pytest.approx(375.0)
    assert (result["n_pullbacks"], result["n_patients"], result["n_annotated_frames"]) == (1, 1, 2)


def test_group_changes_count_pullbacks_and_their_patients_at_85():
    items = [
        _item(1, "P1", active=84.9, candidate=85.0),  # low -> high (85 is high)
        _item(2, "P1", active=100.0, candidate=90.0),  # high both
        _item(3, "P2", active=10.0, candidate=200.0),  # low -> high
        _item(4, "P1", active=85.0, candidate=84.99),  # high -> low
        _item(5, "P3", active=0.0, candidate=0.0),
    ]
    result = compare_models(items)
    assert compare.ICS_STUDY_CUTOFF == 85.0 and result["cutoff"] == 85.0
    assert result["group_changes"] == {"n_pullbacks": 3, "pullbacks": [1, 3, 4], "n_patients": 2, "patients": ["P1", "P2"]}
    assert [(r["group_active"], r["group_candidate"]) for r in result["pullbacks"][:4]] == [
        ("low", "high"),
        ("high", "high"),
        ("low", "high"),
        ("high", "low"),
    ]
    diffs = np.array([0.1, -10.0, 190.0, -0.01, 0.0])
    assert result["agreement"]["mean_diff"] == pytest.approx(diffs.mean())
    assert result["agreement"]["upper"] == pytest.approx(diffs.mean() + 1.96 * diffs.std(ddof=1))


def test_identical_models_agree_perfectly():
    result = compare_models([_item(1, "P1", active=40.0, candidate=40.0), _item(2, "P2", active=300.0, candidate=300.0)])
    assert result["agreement"]["icc"] == pytest.approx(1.0)
    assert (result["agreement"]["mean_diff"], result["agreement"]["lower"], result["agreement"]["upper"]) == (0, 0, 0)
    assert result["group_changes"]["n_pullbacks"] == 0


def test_resampling_takes_the_nearest_aline_by_angle():
    labels = np.array([[1, 0, 0, 1]], bool)  # 4 A-lines at 0, 90, 180, 270 degrees
    assert compare.resample_alines(labels, 8).astype(int).tolist() == [[1, 1, 0, 0, 0, 0, 1, 1]]
    assert compare.resample_alines(labels, 4) is labels


def test_no_pullbacks_is_an_error():
    with pytest.raises(ValueError, match="No annotated pullbacks"):
        compare_models([])


def test_the_bland_altman_figure_has_human_labels_and_the_agreement_lines():
    result = compare_models([_item(1, "P1", active=40.0, candidate=50.0), _item(2, "P2", active=300.0, candidate=280.0)])
    figure = compare.bland_altman_figure(result, active_label="active (default)", candidate_label="candidate (site)")
    assert figure["data"][0]["x"] == [45.0, 290.0] and figure["data"][0]["y"] == [10.0, -20.0]
    layout = figure["layout"]
    assert layout["xaxis"]["title"]["text"] == "Mean ICS of the two models (whole pullback)"
    assert layout["yaxis"]["title"]["text"] == "ICS difference (candidate (site) − active (default))"
    assert [s["y0"] for s in layout["shapes"]] == pytest.approx(
        [-5.0, -5.0 + 1.96 * np.std([10, -20], ddof=1), -5.0 - 1.96 * np.std([10, -20], ddof=1)]
    )
    assert [a["text"].split(":")[0] for a in layout["annotations"]] == [
        "Mean difference",
        "Upper limit of agreement",
        "Lower limit of agreement",
    ]
