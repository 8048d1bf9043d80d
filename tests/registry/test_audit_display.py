"""The audit trail as people read it (issue 14): labels, yes/no, choice labels, user names and
local times, never internal names."""

from datetime import date

import pytest

from registry import services
from registry.audit import audit_for_display
from registry.models import AuditEntry
from tests.factories import EventFactory, PatientFactory

pytestmark = pytest.mark.django_db


def test_the_trail_reads_in_words(coordinator, site, settings):
    settings.TIME_ZONE = "Europe/Amsterdam"
    patient = PatientFactory(study_id="AUD-1", site=site)
    event = EventFactory(patient=patient, event_type="mi", event_date=date(2016, 5, 10), target_vessel=None)
    services.event_update(user=coordinator, event=event, data={"target_vessel": True}, reason="angiogram")
    services.event_verify(user=coordinator, event=event, source_document="letter")

    rows = audit_for_display(AuditEntry.objects.filter(entity="clinicalevent").order_by("id"))

    change, verification = rows
    assert change["what"] == f"Event {event.pk}"
    assert change["changes"] == [{"field": "Involved the study vessel", "old": "—", "new": "yes"}]
    shown = {c["field"]: (c["old"], c["new"]) for c in verification["changes"]}
    assert shown["Verification"] == ("Pending verification", "Verified against source documents")
    assert shown["Verified by"] == ("—", "coordinator")
    assert shown["Verified at"][1][:2] == "20" and "T" not in shown["Verified at"][1]


def test_a_wave_letter_named_by_its_wave_reads_as_written(coordinator, site):
    """A follow-up letter's audit row keeps the wave's name under "wave" (a relation in the model):
    shown as written, not looked up as an id."""
    from followup import services as followup_services
    from registry.models import Patient

    PatientFactory(study_id="AUD-2", site=site)
    followup_services.wave_create(user=coordinator, name="Autumn 2026", patients=Patient.objects.all())

    rows = audit_for_display(AuditEntry.objects.filter(entity="wavemember"))

    assert rows[0]["what"].startswith("Follow-up letter ")
    assert {"field": "Wave", "old": "—", "new": "Autumn 2026"} in rows[0]["changes"]
