"""Data for 0004 and the ICS source list.

Sites become deny-by-default (registry.access): so that no existing user loses access, every user
without a profile, or whose profile has no site (which meant "all sites"), gets `all_sites`; a
profile's one site is copied into `sites`. Reversed: a profile keeps its first site (by code); a
profile with no site at all would see every site under the old rule.

`Patient.ics_imported_source` becomes a choice from a list (registry.models.IcsSource): every
other value is mapped to the list, "other source" when it says nothing recognisable; each
changed patient gets one more row version and an audit entry keeping the old value. Not reversed
(the old free text stays in the audit trail).
"""

from django.conf import settings
from django.db import migrations
from django.db.models import F

# (code, label) as in registry.models.IcsSource when this migration was written.
ICS_SOURCES = (
    ("registry import", "Registry import"),
    ("study core lab", "Study core lab"),
    ("earlier scoring software", "Earlier scoring software"),
    ("synthetic", "Synthetic data (demo and tests)"),
    ("other source", "Other source"),
)
REASON = "source of the imported ICS mapped to the list of sources (registry migration 0005)"


def ics_source_code(value: str) -> str:
    """The list's code for a free-text ICS source ("" stays "")."""
    text = " ".join(value.split()).casefold()
    if not text:
        return ""
    for code, label in ICS_SOURCES:
        if text in (code, label.casefold()):
            return code
    if "core lab" in text or "corelab" in text:
        return "study core lab"
    if "scoring" in text or "software" in text or "reader" in text:
        return "earlier scoring software"
    if "import" in text:
        return "registry import"
    if "synthetic" in text:
        return "synthetic"
    return "other source"


def profiles_forward(apps, schema_editor):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    UserProfile = apps.get_model("registry", "UserProfile")
    for profile in UserProfile.objects.all():
        if profile.site_id is None:
            profile.all_sites = True
            profile.save(update_fields=["all_sites"])
        else:
            profile.sites.add(profile.site_id)
    UserProfile.objects.bulk_create(
        [UserProfile(user=user, all_sites=True) for user in User.objects.filter(registry_profile__isnull=True)]
    )


def profiles_backward(apps, schema_editor):
    UserProfile = apps.get_model("registry", "UserProfile")
    for profile in UserProfile.objects.all():
        first = None if profile.all_sites else profile.sites.order_by("code").first()
        profile.site = first
        profile.save(update_fields=["site"])


def ics_sources_forward(apps, schema_editor):
    Patient = apps.get_model("registry", "Patient")
    AuditEntry = apps.get_model("registry", "AuditEntry")
    codes = {code for code, _ in ICS_SOURCES}
    for patient in Patient.objects.exclude(ics_imported_source="").exclude(ics_imported_source__in=codes).iterator():
        old, new = patient.ics_imported_source, ics_source_code(patient.ics_imported_source)
        Patient.objects.filter(pk=patient.pk).update(ics_imported_source=new, version=F("version") + 1)
        AuditEntry.objects.create(
            user=None,
            username="system",
            action="update",
            entity="patient",
            object_id=str(patient.pk),
            patient=patient,
            changes={"ics_imported_source": [old, new]},
            reason=REASON,
        )


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("registry", "0004_user_sites"),
    ]

    operations = [
        migrations.RunPython(profiles_forward, profiles_backward),
        migrations.RunPython(ics_sources_forward, migrations.RunPython.noop),
    ]
