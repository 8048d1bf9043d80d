"""Synthetic analysis data sets (one row per patient, the columns of
registry.selectors.analysis_columns()) for the R reference fixtures.

Run from the repository root: `python tests/reference/make_cohorts.py tests/fixtures/analytics`.
Deterministic (fixed seeds); endpoint times and statuses come from registry.follow_up, the
registry's own derivation. Writes <name>.csv per cohort and cohorts.json (what R computes on each).
"""

import json
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from registry import follow_up  # noqa: E402 - pure module, no Django

BASELINE_FLAGS = (
    "hypertension",
    "hypercholesterolemia",
    "statin",
    "diabetes",
    "family_history",
    "smoking",
    "prior_mi",
    "prior_pci",
    "prior_cabg",
    "prior_stroke",
    "prior_pad",
)
BASE_COLUMNS = (
    "study_id",
    "site",
    "sex",
    "age_at_index",
    "index_date",
    *BASELINE_FLAGS,
    "egfr",
    "renal_impairment",
    "presentation",
    "acs",
    "index_treatment",
    "study_vessel",
    "vessel_revascularized",
    "ics",
    "ics_source",
    "last_contact_date",
    "follow_up_days",
)

# name -> (n, seed, options); cutoff and endpoints are what make_reference.R analyses.
COHORTS = {
    "study_408": dict(n=408, seed=1, cutoff="median", day_step=1, missing=0.0),
    "ties_40": dict(n=40, seed=2, cutoff="median", day_step=90, missing=0.0),
    "small_group_90": dict(n=90, seed=3, cutoff=250, day_step=1, missing=0.0),
    "no_tvr_in_low_120": dict(n=120, seed=4, cutoff="median", day_step=1, missing=0.0, no_tvr_low=True, non_fatal="tvr"),
    "missing_1500": dict(n=1500, seed=5, cutoff="median", day_step=7, missing=0.12),
}
ENDPOINTS = {"fatal": "poce", "non_fatal": "revascularization"}
COVARIATES = ["age_at_index", "acs", "egfr", "diabetes", "prior_cabg"]


def make_cohort(*, n, seed, day_step, missing, no_tvr_low=False, **_):
    rng = np.random.default_rng(seed)
    age = np.round(np.clip(rng.normal(65, 10, n), 18, 110), 1)
    ics = np.round(np.clip(rng.gamma(1.3, 80, n) + 0.9 * (age - 65), 0, 503))
    flags = {
        f: rng.random(n) < p
        for f, p in zip(BASELINE_FLAGS, (0.6, 0.55, 0.57, 0.2, 0.37, 0.4, 0.25, 0.26, 0.04, 0.05, 0.1), strict=True)
    }
    flags["prior_stroke"] |= rng.random(n) < ics / 3000
    egfr = np.round(np.clip(rng.normal(80 - 0.3 * (age - 65), 18, n), 5, 150))
    acs = rng.random(n) < 0.45 - ics / 2000
    treatment = rng.choice(["PCI", "CABG", "conservative"], n, p=[0.82, 0.05, 0.13])
    vessel = rng.choice(["LAD", "LCX", "RCA", "LM"], n, p=[0.64, 0.145, 0.19, 0.025])
    revasc = (treatment != "conservative") & (rng.random(n) < 0.92)
    sex = rng.choice(["M", "F"], n, p=[0.725, 0.275]).astype(object)
    lin = 0.004 * (ics - 85) + 0.03 * (age - 65) + 0.4 * acs - 0.01 * (egfr - 80)
    index = [date(2008, 1, 1) + timedelta(days=int(d)) for d in rng.integers(0, 3650, n)]
    median_ics = np.median(ics)
    rows = []
    for i in range(n):
        events = []
        for kind, rate in (("death", 0.02), ("stroke", 0.005), ("mi", 0.015), ("revascularization", 0.045)):
            years = rng.exponential(1 / (rate * np.exp(lin[i])))
            days = int(np.ceil(years * 365.25 / day_step) * day_step) - (day_step if rng.random() < 0.03 else 0)
            tv = bool(rng.random() < 0.5) if kind in ("mi", "revascularization") else None
            if no_tvr_low and ics[i] < median_ics:
                tv = False if tv is not None else None
            verification = "pending" if rng.random() < 0.05 else "verified"
            events.append(follow_up.Event(kind, index[i] + timedelta(days=max(days, 0)), verification, tv))
        contact_days = int(np.floor(rng.uniform(200, 4000) / day_step) * day_step)
        contacts = [follow_up.Contact(index[i] + timedelta(days=contact_days), "alive")]
        last = follow_up.last_contact_date(contacts, events)
        outcomes = follow_up.endpoint_outcomes(index_date=index[i], last_contact=last, events=events)
        row = {
            "study_id": f"SYN-{seed}-{i + 1:05d}",
            "site": "SYN",
            "sex": sex[i],
            "age_at_index": age[i],
            "index_date": index[i].isoformat(),
            **{f: flags[f][i] for f in BASELINE_FLAGS},
            "egfr": egfr[i],
            "renal_impairment": egfr[i] < 60,
            "presentation": "ACS" if acs[i] else "stable",
            "acs": acs[i],
            "index_treatment": treatment[i],
            "study_vessel": vessel[i],
            "vessel_revascularized": revasc[i],
            "ics": ics[i],
            "ics_source": "synthetic",
            "last_contact_date": last.isoformat(),
            "follow_up_days": (last - index[i]).days,
        }
        for name, outcome in outcomes.items():
            row[f"{name}_days"], row[f"{name}_status"] = outcome.duration_days, outcome.status
        rows.append(row)
    df = pd.DataFrame(rows)
    if missing:
        _blank(df, rng, missing)
    return df


def _blank(df, rng, fraction):
    """Missing baseline values, as the registry has them (None / empty string)."""
    n = len(df)
    for col in ("age_at_index", "egfr", "diabetes", "hypertension", "smoking", "vessel_revascularized"):
        df[col] = df[col].astype(object)
        df.loc[rng.random(n) < fraction / 2, col] = None
    df["renal_impairment"] = [None if pd.isna(e) else e < 60 for e in df["egfr"]]
    gone = rng.random(n) < fraction / 2
    df.loc[gone, "presentation"] = ""
    df["acs"] = df["acs"].astype(object)
    df.loc[gone, "acs"] = None
    df.loc[rng.random(n) < fraction / 4, "sex"] = ""
    df["ics"] = df["ics"].astype(object)
    df.loc[rng.random(n) < fraction / 4, "ics"] = None


def to_csv(df, path):
    """Booleans as 1/0, missing as an empty field (R reads it as NA)."""
    out = df.copy()
    for col in out.columns:
        if out[col].map(lambda v: isinstance(v, (bool, np.bool_))).any():
            out[col] = out[col].map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else int(bool(v)))
    out.to_csv(path, index=False)


def main(out_dir):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name, options in COHORTS.items():
        df = make_cohort(**options)
        to_csv(df, out / f"{name}.csv")
        endpoints = {**ENDPOINTS, "non_fatal": options.get("non_fatal", ENDPOINTS["non_fatal"])}
        manifest[name] = {"cutoff": options["cutoff"], "endpoints": endpoints, "covariates": COVARIATES}
    (out / "cohorts.json").write_text(json.dumps(manifest, indent=1) + "\n")
    # The same for R, which has no JSON reader without extra packages.
    pd.DataFrame(
        [
            {
                "name": k,
                "cutoff": v["cutoff"],
                "fatal": v["endpoints"]["fatal"],
                "non_fatal": v["endpoints"]["non_fatal"],
                "covariates": ";".join(v["covariates"]),
            }
            for k, v in manifest.items()
        ]
    ).to_csv(out / "cohorts.csv", index=False)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/analytics")
