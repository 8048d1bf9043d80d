"""lifelines against our own estimators (analytics/survival.py, analytics/fine_gray.py): agreement
with R on the committed reference cohorts, and speed on 5,000 patients. The numbers behind
docs/statistics-library.md.

    .venv/bin/pip install -r requirements-dev.txt   # lifelines is a dev-only pin, for this script
    .venv/bin/python benchmarks/lifelines_comparison.py [--patients 5000] [--json OUT.json]

Agreement: for every estimator, the largest relative (and absolute) difference from R 4.2.2 (survival 3.5.3,
cmprsk 2.2.11) over the five cohorts of tests/fixtures/analytics (both endpoints, both groupings
where the fixtures have them), the same numbers the R agreement tests compare. Speed: the best of
several calls on the 5,000 synthetic patients of benchmarks/analytics_benchmark.py (two ICS groups,
revascularization with death competing, the study's five covariates), each library called the way
it is meant to be (arrays for ours, a DataFrame for lifelines' regression), inputs prepared first.
"""

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from analytics_benchmark import synthetic_rows  # noqa: E402
from lifelines import AalenJohansenFitter, CoxPHFitter, KaplanMeierFitter  # noqa: E402
from lifelines.statistics import logrank_test, multivariate_logrank_test, proportional_hazard_test  # noqa: E402
from lifelines.utils import concordance_index  # noqa: E402

from analytics import survival  # noqa: E402
from analytics.fine_gray import fine_gray  # noqa: E402
from tests.analytics.conftest import COHORTS, Cohort  # noqa: E402

# lifelines' Newton-Raphson stops at |step| < 1e-7 by default; this runs it to R's optimum.
CONVERGED = {"precision": 1e-15, "r_precision": 0}


def differences(ours: object, r: object) -> tuple[float, float]:
    """Largest |a - r| / |r| over the finite, non-zero R values, and largest |a - r| over the finite
    ones (where R has NA, NaN here is not a difference)."""
    a = np.atleast_1d(np.asarray(ours, dtype=float))
    b = np.atleast_1d(np.array([np.nan if v is None else v for v in np.atleast_1d(r)], dtype=float))
    finite = np.isfinite(a) & np.isfinite(b)
    keep = finite & (b != 0)
    rel = float(np.max(np.abs(a[keep] - b[keep]) / np.abs(b[keep]))) if keep.any() else 0.0
    return rel, float(np.max(np.abs(a[finite] - b[finite]))) if finite.any() else 0.0


class Worst:
    """The largest relative and absolute differences per (estimator, library) over all cohorts."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], float] = {}
        self.absolute: dict[tuple[str, str], float] = {}

    def add(self, estimator: str, library: str, ours: object, r: object) -> None:
        key = (estimator, library)
        rel, absolute = differences(ours, r)
        self.values[key] = max(self.values.get(key, 0.0), rel)
        self.absolute[key] = max(self.absolute.get(key, 0.0), absolute)


def _cox_frame(data: pd.DataFrame, name: str, terms: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {"T": data[f"{name}_days"].to_numpy(float), "E": (data[f"{name}_status"] == 1).to_numpy(int)}
        | {t: data[t].to_numpy(float) for t in terms}
    )


def _lifelines_cox(frame: pd.DataFrame, options: dict | None = None) -> CoxPHFitter:
    return CoxPHFitter().fit(frame, "T", "E", fit_options=options)


def agreement() -> Worst:
    worst = Worst()
    for cohort_name in COHORTS:
        cohort = Cohort(cohort_name)
        for kind in ("fatal", "non_fatal"):
            _km_and_logrank(worst, cohort, kind)
            _cox_zph_concordance(worst, cohort, kind)
        _competing(worst, cohort)
    _fine_gray(worst)
    return worst


def _km_and_logrank(worst: Worst, cohort: Cohort, kind: str) -> None:
    name, ref = cohort.endpoint(kind)
    df = cohort.df
    time_, event = df[f"{name}_days"].to_numpy(float), (df[f"{name}_status"] == 1).to_numpy()
    for key, r in ref["km"].items():
        mask = (df["group"] == key).to_numpy()
        km = survival.kaplan_meier(time_[mask], event[mask])
        worst.add("km_survival", "ours", km.survival, r["surv"])
        worst.add("km_ci_log", "ours", np.r_[km.ci_lower, km.ci_upper], np.r_[r["lower"], r["upper"]])
        kmf = KaplanMeierFitter().fit(time_[mask], event[mask])
        worst.add("km_survival", "lifelines", kmf.survival_function_at_times(r["time"]).to_numpy(), r["surv"])
        ci = kmf.confidence_interval_survival_function_.reindex(r["time"]).to_numpy()
        worst.add("km_ci_log", "lifelines", np.r_[ci[:, 0], ci[:, 1]], np.r_[r["lower"], r["upper"]])
    for col, key in (("group", "logrank"), ("quartile", "logrank_quartiles")):
        groups = df[col].to_numpy()
        ours = survival.logrank_test(time_, event, groups)
        worst.add("logrank", "ours", [ours["statistic"], ours["p"]], [ref[key]["chisq"], ref[key]["p"]])
        theirs = multivariate_logrank_test(time_, groups, event)
        worst.add("logrank", "lifelines", [theirs.test_statistic, theirs.p_value], [ref[key]["chisq"], ref[key]["p"]])


def _cox_rows(worst: Worst, estimator: str, fit: survival.CoxFit, frame: pd.DataFrame, ref: dict) -> None:
    terms = list(ref["terms"])
    r = [ref["terms"][t][k] for k in ("coef", "se", "p") for t in terms] + [ref["loglik"][1]]
    worst.add(estimator, "ours", [*fit.coef, *fit.se, *fit.p, fit.loglik[1]], r)
    for library, options in (("lifelines", None), ("lifelines converged", CONVERGED)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence warnings of the cohorts with an infinite HR
            cph = _lifelines_cox(frame, options)
        s = cph.summary.loc[terms]
        worst.add(estimator, library, [*s["coef"], *s["se(coef)"], *s["p"], cph.log_likelihood_], r)


def _cox_zph_concordance(worst: Worst, cohort: Cohort, kind: str) -> None:
    name, ref = cohort.endpoint(kind)
    for model, first in (("multi_group", "ics_high"), ("multi_continuous", "ics_per_100")):
        if ref[f"cox_{model}"]["warnings"]:
            continue  # an infinite coefficient: R's value is wherever its loglik stopped moving
        terms = [first, *cohort.covariates]
        data = cohort.df.dropna(subset=terms)
        frame = _cox_frame(data, name, terms)
        fit = survival.cox_ph(frame["T"], frame["E"] == 1, frame[terms].to_numpy(), terms=terms)
        _cox_rows(worst, "cox_efron", fit, frame, ref[f"cox_{model}"])
        zref = ref[f"zph_{model}"]
        zph = survival.cox_zph(fit)
        worst.add("cox_zph", "ours", [r["statistic"] for r in zph["terms"]], [zref[t]["chisq"] for t in terms])
        cph = _lifelines_cox(frame, CONVERGED)
        test = proportional_hazard_test(cph, frame, time_transform="km").summary
        worst.add("cox_zph", "lifelines", test.loc[terms, "test_statistic"].to_numpy(), [zref[t]["chisq"] for t in terms])
        if model == "multi_continuous":
            cref = ref["concordance_multi_continuous"]
            ours = survival.concordance_index(frame["T"], frame["E"] == 1, fit.linear_predictor)["c_index"]
            worst.add("concordance", "ours", ours, cref)
            # lifelines: a higher score is a longer survival, so the negated linear predictor
            worst.add("concordance", "lifelines", concordance_index(frame["T"], -fit.linear_predictor, frame["E"]), cref)
    for term in ("ics_high", "ics_per_100"):
        uref = ref["cox_uni"][term]
        if uref["warnings"]:
            continue
        frame = _cox_frame(cohort.df.dropna(subset=[term]), name, [term])
        fit = survival.cox_ph(frame["T"], frame["E"] == 1, frame[[term]].to_numpy(), terms=[term])
        _cox_rows(worst, "cox_efron", fit, frame, uref)


def _competing(worst: Worst, cohort: Cohort) -> None:
    name, ref = cohort.endpoint("non_fatal")
    df = cohort.df
    time_, status = df[f"{name}_days"].to_numpy(float), df[f"{name}_status"].to_numpy(int)
    for key, r in ref["cif"].items():
        mask = (df["group"] == key).to_numpy()
        est = survival.cumulative_incidence(time_[mask], status[mask])
        worst.add("cif", "ours", est.cif, r["cif"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Tied event times were detected ... randomly jittered"
            ajf = AalenJohansenFitter(seed=0, calculate_variance=False).fit(time_[mask], status[mask], event_of_interest=1)
        curve = ajf.cumulative_density_.iloc[:, 0]
        at = np.searchsorted(curve.index.to_numpy(), r["time"], side="right") - 1
        worst.add("cif", "lifelines", curve.to_numpy()[np.maximum(at, 0)] * (at >= 0), r["cif"])
    for col, key in (("group", "gray"), ("quartile", "gray_quartiles")):
        gray = survival.gray_test(time_, status, df[col].to_numpy())
        worst.add("gray", "ours", gray["statistic"], ref[key]["statistic"])


def _fine_gray(worst: Worst) -> None:
    fixtures = ROOT / "tests" / "fixtures" / "analytics"
    for key, ref in json.loads((fixtures / "finegray.json").read_text()).items():
        if ref is None:
            continue
        cohort, endpoint, _ = key.split("/")
        df = pd.read_csv(fixtures / f"{cohort}.csv").assign(ics_per_100=lambda d: d["ics"] / 100)
        fit = fine_gray(df[f"{endpoint}_days"], df[f"{endpoint}_status"], df[ref["terms"]], terms=ref["terms"])
        worst.add(
            "fine_gray", "ours", [*fit.coef, *np.ravel(fit.var), fit.loglik], [*ref["coef"], *ref["var"], ref["loglik"]]
        )


# Speed -------------------------------------------------------------------------------------------


def best_ms(fn: Callable[[], object], budget_s: float = 1.0) -> float:
    """Best of up to 25 calls (at least 3) within about `budget_s` seconds, in ms."""
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < 3 or (len(times) < 25 and time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * min(times)


def speed(n: int) -> dict[str, dict[str, float]]:
    df = synthetic_rows(n)
    time_ = df["revascularization_days"].to_numpy(float)
    status = df["revascularization_status"].to_numpy(int)
    event = status == 1
    high = (df["ics"] >= df["ics"].median()).to_numpy()
    groups = np.where(high, "high", "low")
    terms = ["ics_per_100", "age_at_index", "acs", "egfr", "diabetes", "prior_cabg"]
    x = np.column_stack([df["ics"] / 100, df[terms[1:]].astype(float)])
    frame = pd.DataFrame({"T": time_, "E": event.astype(int)} | {t: x[:, i] for i, t in enumerate(terms)})
    fit = survival.cox_ph(time_, event, x, terms=terms)
    cph = _lifelines_cox(frame, CONVERGED)
    lp = fit.linear_predictor

    def km_ours() -> None:
        for g in (high, ~high):
            survival.kaplan_meier(time_[g], event[g])

    def km_lifelines() -> None:
        for g in (high, ~high):
            KaplanMeierFitter().fit(time_[g], event[g])

    def cif_ours() -> None:
        for g in (high, ~high):
            survival.cumulative_incidence(time_[g], status[g])

    def cif_lifelines() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for g in (high, ~high):
                AalenJohansenFitter(seed=0, calculate_variance=False).fit(time_[g], status[g], event_of_interest=1)

    cases: dict[str, dict[str, Callable[[], object]]] = {
        "km (2 groups)": {"ours": km_ours, "lifelines": km_lifelines},
        "logrank": {
            "ours": lambda: survival.logrank_test(time_, event, groups),
            "lifelines": lambda: logrank_test(time_[high], time_[~high], event[high], event[~high]),
        },
        "cox_efron (6 terms)": {
            "ours": lambda: survival.cox_ph(time_, event, x, terms=terms),
            "lifelines": lambda: _lifelines_cox(frame),
            "lifelines converged": lambda: _lifelines_cox(frame, CONVERGED),
        },
        "concordance": {
            "ours": lambda: survival.concordance_index(time_, event, lp),
            "lifelines": lambda: concordance_index(time_, -lp, event),
        },
        "cox_zph": {
            "ours": lambda: survival.cox_zph(fit),
            "lifelines": lambda: proportional_hazard_test(cph, frame, time_transform="km"),
        },
        "cif (2 groups)": {"ours": cif_ours, "lifelines": cif_lifelines},
        "gray": {"ours": lambda: survival.gray_test(time_, status, groups)},
        "fine_gray (1 term)": {"ours": lambda: fine_gray(time_, status, x[:, :1], terms=terms[:1])},
    }
    return {case: {library: best_ms(fn) for library, fn in fns.items()} for case, fns in cases.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument("--json", type=Path, help="write the numbers here as JSON too")
    args = parser.parse_args()
    worst = agreement()
    print("Largest relative (absolute) difference from R over the reference cohorts (- : no such estimator):")
    estimators = dict.fromkeys(e for e, _ in worst.values)
    libraries = ("ours", "lifelines", "lifelines converged")
    print(f"  {'estimator':<14}" + "".join(f"{lib:>22}" for lib in libraries))
    for e in estimators:
        cells = [(worst.values[e, lib], worst.absolute[e, lib]) if (e, lib) in worst.values else None for lib in libraries]
        print(f"  {e:<14}" + "".join(f"{f'{c[0]:.1e} ({c[1]:.0e})':>22}" if c else f"{'-':>22}" for c in cells))
    timings = speed(args.patients)
    print(f"\nSpeed on {args.patients:,} patients, best call in ms (- : no such estimator):")
    print(f"  {'estimator':<20}" + "".join(f"{lib:>22}" for lib in libraries))
    for case, by_library in timings.items():
        cells = [by_library.get(lib) for lib in libraries]
        print(f"  {case:<20}" + "".join(f"{c:>22.2f}" if c is not None else f"{'-':>22}" for c in cells))
    if args.json:
        agreement_json = {f"{e}/{lib}": [v, worst.absolute[e, lib]] for (e, lib), v in worst.values.items()}
        args.json.write_text(
            json.dumps({"agreement": agreement_json, "speed_ms": timings, "patients": args.patients}, indent=1)
        )


if __name__ == "__main__":
    main()
