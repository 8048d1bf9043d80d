"""The safeguards of issue 13: warnings the way R reports them, HRs that cannot be estimated shown as
such, subgroups by a covariate, cut-offs at the data's precision, the command that printed a
missing CI bound.

R's numbers and warnings: tests/reference/make_warnings_reference.R on edge cohorts cut from the
fixture cohorts by a spec (tests/fixtures/analytics/warnings_<case>.json; R 4.2.2, survival 3.5.3,
cmprsk 2.2.11). Tolerance: relative 1e-6, as the other R fixtures.
"""

import json
import math

import numpy as np
import pandas as pd
import pytest
from django.core.management import call_command

from analytics import charts, survival
from analytics import warnings as safeguards
from analytics.analysis import cutoffs_display, run_analysis
from analytics.fine_gray import fine_gray
from analytics.services import analysis_compute
from registry.models import ClinicalEvent, Patient
from tests.analytics.conftest import FIXTURES, assert_close
from tests.analytics.registry_cohort import registry_cohort

CASES = ["no_events_reference", "no_events_middle", "constant_in_subgroup", "single_level_subgroup", "near_separable"]
NUMBERS = ("coef", "se", "hr", "ci_lower", "ci_upper", "p")


class Case:
    """An edge cohort: R's fixture, the rows it was cut from and our result for its spec."""

    def __init__(self, name: str):
        self.name = name
        self.r = json.loads((FIXTURES / f"warnings_{name}.json").read_text())
        self.rows = pd.read_csv(FIXTURES / f"{self.r['base']}.csv")
        self.result = run_analysis(self.rows, self.r["spec"])

    def rows_of(self, model: str) -> list[dict]:
        result = self.result
        every = [*result["cox"]["univariable"], *result["cox"]["multivariable"]["group"]]
        every += result["cox"]["multivariable"]["continuous"]
        if "competing_risks" in result:
            every += [*result["competing_risks"]["cause_specific"], *result["competing_risks"]["fine_gray"]]
        return [r for r in every if r["model"] == model]

    def warnings_of(self, model: str, code: str) -> list[dict]:
        return [w for w in self.result["warnings"] if w["model"] == model and w["code"] == code]

    def cox_models(self) -> dict[str, dict]:
        return {m: r for m, r in self.r["models"].items() if m.startswith("cox_") and m.count("_") <= 2}


@pytest.fixture(scope="module", params=CASES)
def case(request):
    return Case(request.param)


def _r_message(fit_terms: list[str], flagged: list[str]) -> str:
    """coxph.fit's warning text for these flagged terms, word for word."""
    positions = ",".join(str(fit_terms.index(t) + 1) for t in flagged)
    return f"Loglik converged before variable  {positions} ; coefficient may be infinite. "


# R agreement ----------------------------------------------------------------------------------


def test_cox_rows_are_r_coxph_numbers_with_na_where_r_has_na(case):
    for model, ref in case.cox_models().items():
        rows = case.rows_of(model)
        assert [r["term"] for r in rows] == list(ref["terms"]), model
        for row in rows:
            for key in NUMBERS:
                assert_close(row[key], ref["terms"][row["term"]][key])


def test_coefficient_may_be_infinite_exactly_where_coxph_warns(case):
    for model, ref in case.cox_models().items():
        flagged = [w["term"] for w in case.warnings_of(model, "coefficient_may_be_infinite")]
        assert flagged == ref["infinite_terms"], model
        expected = [_r_message(list(ref["terms"]), flagged)] if flagged else []
        assert [m for m in ref["warnings"] if "Loglik converged" in m] == expected
        assert not case.warnings_of(model, "not_converged") and not any("Ran out" in m for m in ref["warnings"])


def test_collinear_exactly_where_coxph_gives_na(case):
    for model, ref in case.cox_models().items():
        assert [w["term"] for w in case.warnings_of(model, "collinear")] == ref["na_terms"], model
        for row in case.rows_of(model):
            assert row["estimable"] is (row["term"] not in ref["na_terms"] + ref["infinite_terms"])


def test_the_ph_test_and_c_index_are_r_s_with_na_terms_left_out(case):
    ref = case.r["models"]["cox_multivariable_continuous"]
    ph = case.result["ph_test"]
    assert [r["term"] for r in ph["terms"]] == [t for t in ref["zph"] if t != "GLOBAL"]
    for row in ph["terms"]:
        assert_close([row["statistic"], row["p"]], [ref["zph"][row["term"]]["chisq"], ref["zph"][row["term"]]["p"]])
    assert_close([ph["global_statistic"], ph["global_p"]], [ref["zph"]["GLOBAL"]["chisq"], ref["zph"]["GLOBAL"]["p"]])
    assert_close(case.result["c_index"], ref["concordance"])


def test_fine_gray_is_crr_and_says_when_crr_did_not_converge(case):
    for model in ("fine_gray_group", "fine_gray_continuous"):
        if model not in case.r["models"]:
            continue
        ref = case.r["models"][model]
        for row in case.rows_of(model):
            assert_close([row["coef"], row["se"]], [ref["terms"][row["term"]]["coef"], ref["terms"][row["term"]]["se"]])
            assert row["converged"] is ref["converged"]
        assert bool(case.warnings_of(model, "not_converged")) is (not ref["converged"])


def test_cox_ph_iterates_as_coxph(case):
    """Iterations and loglik of every fit, and coxph's own words when it runs out of iterations."""
    data = case.result  # the same patients as R's: checked through n below
    assert data["n"] == case.r["n"] and data["cox"]["n_complete_cases"] == case.r["n_complete"]
    frame = _model_frame(case)
    for model, ref in case.r["models"].items():
        if not model.startswith("cox_"):
            continue
        terms = list(ref["terms"])
        max_iter = 2 if model.endswith("iter_max_2") else 20
        complete = frame.dropna(subset=terms) if "multivariable" in model else frame
        event = complete["status"] == 1
        fit = survival.cox_ph(complete["time"], event, complete[terms].to_numpy(float), terms=terms, max_iter=max_iter)
        assert fit.iterations == ref["iter"] and fit.n_events == ref["nevent"], model
        assert_close(fit.loglik, ref["loglik"])
        for row in fit.table():
            ours = [v if math.isfinite(v) else math.nan for v in (row[k] for k in NUMBERS)]  # inf: R's Inf, JSON null
            assert_close(ours, [ref["terms"][row["term"]][k] for k in NUMBERS])
        assert fit.converged is not ("Ran out of iterations and did not converge" in ref["warnings"])
        warned = safeguards.fit_warnings(
            model,
            terms=terms,
            converged=fit.converged,
            iterations=fit.iterations,
            possibly_infinite=fit.possibly_infinite,
            infinite_unnamed=fit.infinite_unnamed,
        )
        assert bool([w for w in warned if w["code"] == "not_converged"]) is (not fit.converged)


def _model_frame(case: Case) -> pd.DataFrame:
    """The case's patients with R's columns: group indicators, ics_per_100, time, status."""
    from analytics import cohort_data

    frame = cohort_data.apply_filters(cohort_data.analysis_frame(case.rows), case.r["spec"]["cohort"]["filters"])
    frame = frame[frame["ics"].notna()].copy()
    labels, keys, _ = cohort_data.ics_groups(frame["ics"], case.r["spec"]["grouping"]["cutoff"])
    terms = ["ics_high"] if len(keys) == 2 else [f"group_{k}" for k in keys[1:]]
    for term, key in zip(terms, keys[1:], strict=True):
        frame[term] = (labels == key).astype(float)
    frame["ics_per_100"] = frame["ics"] / 100
    endpoint = case.r["spec"]["endpoint"]
    frame["time"], frame["status"] = frame[f"{endpoint}_days"], frame[f"{endpoint}_status"]
    return frame


def test_step_halving_retraces_r():
    """30 patients with Cauchy covariates on which coxph halves its step 5 times (iter 12)."""
    ref = json.loads((FIXTURES / "warnings_step_halving.json").read_text())
    data = ref["data"]
    X = np.column_stack([data["x1"], data["x2"]])
    fit = survival.cox_ph(data["time"], data["event"], X, terms=["x1", "x2"])
    assert fit.iterations == ref["model"]["iter"] == 12 and fit.converged
    for row in fit.table():
        assert_close([row[k] for k in NUMBERS], [ref["model"]["terms"][row["term"]][k] for k in NUMBERS])


# What was seen (issue 13) ---------------------------------------------------------------------


def test_an_hr_against_a_group_without_events_is_not_estimable_and_keeps_r_s_number():
    """Tertiles with no TVR in t1: was HR 2.7e8 with CI "0.000 - -" shown as a result."""
    case = Case("no_events_reference")
    row = case.rows_of("cox_univariable_group")[0]
    assert row["term"] == "group_t2" and not safeguards.estimable(row)
    assert safeguards.not_estimable_text(row, case.result["warnings"]) == "not estimable (no events in ICS tertile 1 (< 61))"
    assert (
        safeguards.not_estimable_text(row) == "not estimable (no events in ICS tertile 1 (< 61))"
    )  # the row's own warnings
    assert_close(row["hr"], case.r["models"]["cox_univariable_group"]["terms"]["group_t2"]["hr"])  # R's, kept
    assert row["hr"] > 1e8 and row["ci_upper"] is None
    for fine_gray_row in case.rows_of("fine_gray_group"):
        assert not safeguards.estimable(fine_gray_row)  # was HR 46761 with p < 0.001
    assert {"code": "no_events_in_group", "message": "no events in ICS tertile 1 (< 61)", "model": None, "term": None} in (
        case.result["warnings"]
    )
    assert all(set(w) == {"code", "message", "model", "term"} for w in case.result["warnings"])
    json.dumps(case.result, allow_nan=False)


def test_only_the_term_of_the_group_without_events_is_not_estimable():
    case = Case("no_events_middle")
    rows = {r["term"]: r for r in case.rows_of("cox_univariable_group")}
    assert not rows["group_t2"]["estimable"] and rows["group_t3"]["estimable"]
    assert safeguards.not_estimable_text(rows["group_t2"]) == "not estimable (no events in ICS tertile 2 (58 to < 133))"
    assert safeguards.hr_cell(rows["group_t3"], "9.99") == "9.99"
    cell = safeguards.hr_cell(rows["group_t2"], "1e8")
    assert cell == "not estimable (no events in ICS tertile 2 (58 to < 133))" and any(
        "no events in ICS tertile 2" in w for w in cell.warnings
    )
    assert safeguards.p_cell(rows["group_t2"], "0.998") == ""


def test_a_subgroup_by_a_covariate_drops_it_and_keeps_every_other_result():
    """Subgroups by diabetes (a default covariate): were "singular matrix" in both panels, KM gone."""
    case = Case("single_level_subgroup")
    result = analysis_compute(case.rows, {"endpoint": "poce", "subgroup": "diabetes"})
    panels = {p["label"]: p for p in result["subgroups"]}
    assert set(panels) == {"diabetes = yes", "diabetes = no"} and not any("error" in p for p in panels.values())
    for panel in panels.values():
        sub = panel["result"]
        assert sub["spec"]["covariates"] == ["age_at_index", "acs", "egfr", "prior_cabg"]
        assert sub["warnings"][0]["code"] == "covariate_dropped_in_subgroup" and sub["warnings"][0]["term"] == "diabetes"
        assert sub["km"] and sub["logrank"]["p"] is not None and sub["ph_test"]["global_p"] is not None
        assert not [w for w in sub["warnings"] if w["code"] in ("collinear", "singular")]
    yes = panels["diabetes = yes"]["result"]
    for model in ("cox_multivariable_group", "cox_multivariable_continuous"):
        ref = case.r["models"][f"{model}_dropped"]  # R without diabetes on the diabetes = yes patients
        rows = [*yes["cox"]["multivariable"]["group"], *yes["cox"]["multivariable"]["continuous"]]
        for row in (r for r in rows if r["model"] == model):
            assert_close([row[k] for k in NUMBERS], [ref["terms"][row["term"]][k] for k in NUMBERS])


def test_a_single_level_subgroup_run_directly_gives_na_as_r_and_the_rest():
    case = Case("single_level_subgroup")  # diabetes = yes, diabetes still a covariate
    (diabetes,) = [r for r in case.result["cox"]["multivariable"]["group"] if r["term"] == "diabetes"]
    assert diabetes["coef"] is None and not diabetes["estimable"]
    assert safeguards.not_estimable_text(diabetes) == "not estimable (constant or collinear in these data)"
    assert case.result["km"] and case.result["logrank"]["p"] is not None


def test_a_model_that_cannot_be_fitted_never_takes_the_rest_of_the_result_with_it():
    rows = pd.read_csv(FIXTURES / "study_408.csv").assign(egfr=np.nan)  # no complete case for the adjusted models
    result = run_analysis(rows, {"endpoint": "revascularization"})
    assert result["cox"]["n_complete_cases"] == 0
    for model in ("cox_multivariable_group", "cox_multivariable_continuous"):
        (failed,) = [w for w in result["warnings"] if w["model"] == model and w["code"] == "singular"]
        assert "no events" in failed["message"] and "egfr" in failed["message"]
    assert all(r["hr"] is None and not r["estimable"] for r in result["cox"]["multivariable"]["group"])
    assert result["ph_test"]["global_p"] is None and result["c_index"] is None
    assert [w["code"] for w in result["warnings"] if w["model"] == "ph_test"] == ["singular"]
    assert result["km"]["low"]["survival"] and result["logrank"]["p"] > 0 and result["competing_risks"]["gray"]["p"] > 0
    assert all(r["estimable"] for r in result["cox"]["univariable"])
    json.dumps(result, allow_nan=False)


def test_cutoffs_are_shown_at_the_data_s_precision():
    """Were printed as 59.99999999999999 and 141.99999999999994."""
    whole = pd.Series([10.0, 60.0, 142.0, 300.0])
    assert cutoffs_display([59.99999999999999, 141.99999999999994], whole) == ["60", "142"]
    # Rounded up: "ICS >= 53" picks the same whole-number ICS values as ICS >= 52.67 (a tertile).
    assert cutoffs_display([52.666666666666664, 59.5], whole) == ["53", "60"]
    assert cutoffs_display([12.25, 7.0000000001], pd.Series([1.5, 2.25, 3.0])) == ["12.25", "7.00"]
    result = run_analysis(pd.read_csv(FIXTURES / "study_408.csv"), {"grouping": {"variable": "ics", "cutoff": "tertiles"}})
    assert result["cutoffs"] == [52.66666666666666, 121.33333333333331] and result["cutoffs_display"] == ["53", "122"]


def test_fewer_than_ten_events_per_parameter_is_a_warning():
    case = Case("constant_in_subgroup")  # 11 events
    (low,) = case.warnings_of("cox_multivariable_group", "low_events_per_variable")
    assert low["message"] == "11 events for 6 parameters (1.8 per parameter; fewer than 10)" and low["term"] is None
    assert not safeguards.events_per_variable_warning("m", events=20, parameters=2)


def test_rows_of_results_stored_before_the_safeguards_are_judged_by_their_numbers():
    assert safeguards.estimable({"hr": 2.0, "ci_lower": 1.0, "ci_upper": 4.0, "possibly_infinite": False})
    assert not safeguards.estimable({"hr": 3.7e8, "ci_lower": 0.0, "ci_upper": None, "possibly_infinite": True})
    assert safeguards.not_estimable_text({"term": "ics_high", "possibly_infinite": True}, []) == (
        "not estimable (coefficient may be infinite)"
    )


def test_the_forest_plot_leaves_out_what_is_not_estimable_with_a_note_and_plain_ticks():
    case = Case("no_events_reference")
    fig = charts.hazard_ratio_figure(case.result)
    assert not any(name.startswith("group_") for name in fig["data"][0]["y"])
    assert len(fig["data"][0]["y"]) == 12  # ics_per_100 univariable + two adjusted models of 6, less 2 group terms
    (note,) = fig["layout"]["annotations"]
    assert (
        note["text"].startswith("Left out:")
        and "group_t2 (univariable): not estimable (no events in ICS tertile 1 (< 61))" in note["text"]
    )
    axis = fig["layout"]["xaxis"]
    assert axis["type"] == "log" and "1" in axis["ticktext"]
    assert not any("μ" in t or "e" in t for t in axis["ticktext"])
    assert [float(t.replace(",", "")) for t in axis["ticktext"]] == pytest.approx(axis["tickvals"])


def test_log_ticks_read_as_ordinary_numbers():
    ticks = charts._log_ticks([0.004], [120.0])
    assert [charts._plain(t) for t in ticks] == ["0.01", "0.1", "1", "10", "100"]
    assert [charts._plain(t) for t in charts._log_ticks([0.6], [1.8])] == ["0.5", "1", "2"]
    assert charts._plain(20000.0) == "20,000"


# The command -----------------------------------------------------------------------------------


def _registry_without_tvr_below(cutoff: float) -> None:
    """A synthetic registry in which no patient with ICS < `cutoff` had a revascularization."""
    registry_cohort(150, seed=5)
    ClinicalEvent.objects.filter(patient__ics_imported__lt=cutoff, event_type="revascularization").delete()
    assert Patient.objects.filter(ics_imported__lt=cutoff).exists()


@pytest.mark.django_db
def test_the_command_prints_not_estimable_and_the_warnings_instead_of_crashing(tmp_path, capsys):
    """A group without TVR: was a TypeError formatting the missing CI bound."""
    _registry_without_tvr_below(85)
    spec = {"endpoint": "tvr", "grouping": {"variable": "ics", "cutoff": 85}}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    call_command("run_analysis", str(tmp_path / "spec.json"), "--out", str(tmp_path / "result.json"))
    out = capsys.readouterr().out
    assert "HR ics_high = not estimable (no events in ICS < 85)" in out
    assert "[coefficient_may_be_infinite] Cox, univariable, ICS groups, ics_high: Loglik converged before variable 1;" in out
    assert "[no_events_in_group] no events in ICS < 85" in out
    result = json.loads((tmp_path / "result.json").read_text())
    (row,) = [r for r in result["cox"]["univariable"] if r["term"] == "ics_high"]
    assert row["ci_upper"] is None and math.isfinite(row["hr"]) and row["estimable"] is False


def test_fine_gray_reports_its_iterations():
    time = np.array([1.0, 2, 3, 4, 5, 6])
    fit = fine_gray(time, np.array([1, 0, 1, 2, 1, 0]), np.array([0.0, 1, 0, 1, 1, 0]), terms=["x"])
    assert fit.converged and 1 <= fit.iterations <= 10


# The page ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_page_shows_not_estimable_next_to_the_hr_with_its_warnings(investigator):
    from analytics.services import analysis_run
    from tests.conftest import client_for

    _registry_without_tvr_below(85)
    spec = {"endpoint": "tvr", "grouping": {"variable": "ics", "cutoff": 85}, "subgroup": "diabetes"}
    run = analysis_run(spec=spec, user=investigator)
    page = client_for(investigator).get(f"/analytics/runs/{run.pk}/").content.decode()
    cell = 'not estimable (no events in ICS &lt; 85) <details class="warning-marker">'
    assert cell in page
    assert "Cox, univariable, ICS groups, ICS ≥ 85: Loglik converged before variable 1; coefficient may be infinite" in page
    assert 'id="hr-left-out"' in page and "ICS ≥ 85 (univariable): not estimable (no events in ICS &lt; 85)" in page
    assert "Warnings in Diabetes" in page and "Diabetes mellitus is left out of the adjusted models" in page
    csv_text = client_for(investigator).get(f"/analytics/runs/{run.pk}/tables/cox.csv").content.decode()
    assert "not estimable (no events in ICS < 85),,,," in csv_text


def test_a_row_without_a_finite_ci_from_a_model_that_did_not_converge_says_so():
    not_converged = safeguards.warning("not_converged", "did not converge in 21 iterations", model="m")
    row = {"model": "m", "term": "prior_cabg", "hr": 7700.0, "ci_lower": 0.0, "ci_upper": None, "estimable": False}
    assert safeguards.not_estimable_text(row, [not_converged]) == "not estimable (did not converge in 21 iterations)"


def test_what_changed_between_runs_shows_not_estimable_not_the_number():
    from analytics.selectors import key_numbers

    numbers = key_numbers(Case("no_events_reference").result)
    assert numbers["HR group_t2 (univariable)"] == "not estimable (no events in ICS tertile 1 (< 61))"
    assert numbers["p group_t2 (univariable)"] is None and isinstance(numbers["HR ics_per_100 (univariable)"], float)
