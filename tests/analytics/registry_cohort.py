"""A synthetic registry in the database (registry.synthetic rows, bulk-inserted): for the
analytics web/API/dataset tests and benchmarks/analytics_dataset_benchmark.py."""

from datetime import date

from registry.models import ClinicalEvent, FollowUpContact, Patient, Site
from registry.synthetic import synthetic_cohort

_FLAG = {"1": True, "0": False, "": None}


def registry_cohort(
    n: int, *, seed: int = 1, site_code: str = "EMC", prefix: str = "SYN", today: date = date(2026, 11, 27)
) -> list[Patient]:
    """`n` synthetic patients with their last contact and events (some pending), in bulk."""
    site, _ = Site.objects.get_or_create(code=site_code, defaults={"name": f"Hospital {site_code}"})
    patient_rows, event_rows = synthetic_cohort(n, seed=seed, today=today, prefix=prefix)
    patients = Patient.objects.bulk_create([_patient(row, site) for row in patient_rows], batch_size=2000)
    by_id = {p.study_id: p for p in patients}
    FollowUpContact.objects.bulk_create(
        [
            FollowUpContact(
                patient=by_id[r["study_id"]],
                contact_date=date.fromisoformat(r["last_contact_date"]),
                method="registry_import",
            )
            for r in patient_rows
        ],
        batch_size=2000,
    )
    ClinicalEvent.objects.bulk_create(
        [
            ClinicalEvent(
                patient=by_id[e["study_id"]],
                event_type=e["event_type"],
                event_date=date.fromisoformat(e["event_date"]),
                target_vessel=_FLAG[e["target_vessel"]],
                source="registry_import",
                verification="verified" if e["verified"] == "1" else "pending",
            )
            for e in event_rows
        ],
        batch_size=2000,
    )
    return patients


def _patient(row: dict, site: Site) -> Patient:
    flags = (
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
    return Patient(
        study_id=row["study_id"],
        site=site,
        sex=row["sex"],
        age_at_index=float(row["age_at_index"]),
        index_date=date.fromisoformat(row["index_date"]),
        presentation=row["presentation"],
        index_treatment=row["index_treatment"],
        study_vessel=row["study_vessel"],
        vessel_revascularized=_FLAG[row["vessel_revascularized"]],
        **{f: _FLAG[row[f]] for f in flags},
        egfr=float(row["egfr"]) if row["egfr"] else None,
        ics_imported=float(row["ics"]),
        ics_imported_source="synthetic",
    )
