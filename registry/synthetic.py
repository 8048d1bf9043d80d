"""Synthetic registry cohorts (no real patient data), for the demo and for tests.

`synthetic_cohort(n, seed=..., today=...)` returns rows in the CSV interchange format
(patients.csv and events.csv columns) for `n` patients: baseline characteristics with the
prevalences of the study's Table 1, an ICS that rises with age, and events whose hazard
rises with the ICS. Deterministic for a given seed and `today`.
"""

import csv
import io
import math
import random
from datetime import date, timedelta

from registry.variables import BASELINE_FLAGS

PATIENT_COLUMNS = (
    "study_id",
    "sex",
    "age_at_index",
    "index_date",
    *BASELINE_FLAGS,
    "egfr",
    "presentation",
    "index_treatment",
    "study_vessel",
    "vessel_revascularized",
    "ics",
    "last_contact_date",
)
EVENT_COLUMNS = ("study_id", "event_type", "event_date", "target_vessel", "verified")

# Prevalences from Table 1 of the study (whole cohort).
_PREVALENCE = {
    "hypertension": 0.637,
    "hypercholesterolemia": 0.554,
    "statin": 0.571,
    "diabetes": 0.206,
    "family_history": 0.373,
    "smoking": 0.404,
    "prior_mi": 0.255,
    "prior_pci": 0.261,
    "prior_cabg": 0.039,
    "prior_stroke": 0.054,
    "prior_pad": 0.103,
}
# Yearly hazards at ICS 0; the hazard ratio per 100 ICS units is about 1.2 (the study's aHR).
_YEARLY_HAZARD = {"death": 0.025, "stroke": 0.008, "mi": 0.02, "revascularization": 0.06}
_HR_PER_100_ICS = 1.2


def _flag(rng: random.Random, p: float, missing: float = 0.02) -> str:
    if rng.random() < missing:
        return ""
    return "1" if rng.random() < p else "0"


def synthetic_cohort(n: int, *, seed: int, today: date, prefix: str = "DEMO") -> tuple[list[dict], list[dict]]:
    """Patients and events rows (strings, CSV-ready) for `n` synthetic patients."""
    rng = random.Random(seed)
    patients, events = [], []
    # Index procedures from 2008 (as in the study) until a year ago, so that the demo has patients
    # whose 6-year follow-up is still running (overdue, active) next to completed ones.
    first, last = date(2008, 1, 1), today - timedelta(days=400)
    for i in range(1, n + 1):
        study_id = f"{prefix}-{i:05d}"
        index_date = first + timedelta(days=rng.randrange((last - first).days))
        age = min(90.0, max(30.0, rng.gauss(65, 10)))
        ics = max(0.0, min(1000.0, rng.lognormvariate(math.log(60 + 1.5 * (age - 45)), 0.9) - 10))
        presentation = "ACS" if rng.random() < 0.436 else "stable"
        treatment = rng.choices(["PCI", "CABG", "conservative"], [0.819, 0.047, 0.135])[0]
        row = {
            "study_id": study_id,
            "sex": "M" if rng.random() < 0.725 else "F",
            "age_at_index": f"{age:.1f}",
            "index_date": index_date.isoformat(),
            **{name: _flag(rng, p) for name, p in _PREVALENCE.items()},
            "egfr": "" if rng.random() < 0.03 else f"{min(150.0, max(10.0, rng.gauss(78, 20))):.0f}",
            "presentation": presentation,
            "index_treatment": treatment,
            "study_vessel": rng.choices(["LAD", "LCX", "RCA", "LM"], [0.642, 0.145, 0.189, 0.025])[0],
            "vessel_revascularized": "1" if treatment != "conservative" and rng.random() < 0.87 else "0",
            "ics": f"{ics:.0f}",
        }
        patient_events, last_contact = _follow_up(rng, index_date=index_date, ics=ics, today=today)
        row["last_contact_date"] = last_contact.isoformat()
        patients.append(row)
        events += [{"study_id": study_id, **e} for e in patient_events]
    return patients, events


def _follow_up(rng: random.Random, *, index_date: date, ics: float, today: date) -> tuple[list[dict], date]:
    """Events within follow-up (first of each kind; nothing after death) and the last contact."""
    max_days = (today - index_date).days
    # Some patients are lost: follow-up ends years before today.
    # Most are followed until recently (some overdue: no contact for over a year); some are lost.
    if rng.random() > 0.12:
        followed_days = max_days - rng.randrange(0, min(540, max_days))
    else:
        followed_days = rng.randrange(30, max(31, max_days - 800))
    scale = _HR_PER_100_ICS ** (ics / 100)
    times = {kind: rng.expovariate(h * scale / 365.25) for kind, h in _YEARLY_HAZARD.items()}
    death_day = times["death"] if times["death"] <= followed_days else None
    rows = []
    for kind, t in sorted(times.items(), key=lambda kv: kv[1]):
        day = int(t)
        if day > followed_days or (death_day is not None and day > death_day):
            continue
        event_date = index_date + timedelta(days=day)
        target = "" if kind in ("death", "stroke") else ("1" if rng.random() < 0.5 else "0")
        rows.append(
            {
                "event_type": kind,
                "event_date": event_date.isoformat(),
                "target_vessel": target,
                "verified": "1" if rng.random() < 0.85 else "0",
            }
        )
    end_day = int(death_day) if death_day is not None else followed_days
    return rows, index_date + timedelta(days=end_day)


def to_csv(columns: tuple[str, ...], rows: list[dict]) -> str:
    """Rows as CSV text with a header row, in the interchange format."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
