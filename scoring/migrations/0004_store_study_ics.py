from django.conf import settings
from django.db import migrations
from django.db.models import OuterRef, Q, Subquery


def store_study_ics(apps, schema_editor):
    """Patient.study_ics / study_ics_source of every existing patient (the rule of
    scoring.selectors.study_ics_annotations and study_source_text, as of this migration)."""
    Patient = apps.get_model("registry", "Patient")
    ScoringRun = apps.get_model("scoring", "ScoringRun")
    runs = (
        ScoringRun.objects.filter(
            pullback__patient=OuterRef("pk"),
            is_current=True,
            status="succeeded",
            pullback__qc_status="included",
        )
        .filter(Q(pullback__study_override=True) | Q(pullback__length_mm__gte=settings.PULLBACK_MIN_LENGTH_MM))
        .order_by(
            "-pullback__study_override",
            "-pullback__length_mm",
            "pullback__created_at",
            "pullback__pk",
        )
    )
    rows = (
        Patient.objects.annotate(
            chosen_ics=Subquery(runs.values("ics")[:1]),
            chosen_pullback=Subquery(runs.values("pullback_id")[:1]),
            chosen_override=Subquery(runs.values("pullback__study_override")[:1]),
            chosen_version=Subquery(runs.values("model_version")[:1]),
        )
        .filter(chosen_ics__isnull=False)
        .only("pk")
    )
    changed = []
    for p in rows.iterator():
        how = "reviewer's choice" if p.chosen_override else "longest analyzable"
        p.study_ics = p.chosen_ics
        p.study_ics_source = f"study pullback #{p.chosen_pullback} ({how}, model {p.chosen_version})"
        changed.append(p)
    Patient.objects.bulk_update(changed, ["study_ics", "study_ics_source"], batch_size=1000)


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0008_study_ics"),
        ("scoring", "0003_job_heartbeat"),
    ]

    operations = [migrations.RunPython(store_study_ics, migrations.RunPython.noop)]
