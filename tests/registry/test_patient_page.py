"""The patient page at a glance (issue 14): a header with the ICS that counts, its source and rule,
its group at the study's cut-off and its registry percentile; sections with a bar to reach them; a
timeline picture of contacts, events and pullbacks; help next to the numbers."""

import re
from datetime import date

import pytest

from tests.conftest import client_for
from tests.factories import ContactFactory, EventFactory, PatientFactory
from tests.scoring.pullback_files import make_pullback

pytestmark = pytest.mark.django_db


def _page(user, patient) -> str:
    response = client_for(user).get(f"/patients/{patient.study_id}/")
    assert response.status_code == 200
    return response.content.decode()


def _marks(html: str) -> list[tuple[str, str]]:
    """(class, tooltip) of every mark of the timeline picture."""
    return re.findall(r'<a href="#[\w-]+" class="tl-mark ([\w -]+)" tabindex="-1"><title>([^<]*)</title>', html)


def test_the_header_says_which_ics_counts_its_group_at_85_and_its_percentile(site, coordinator):
    for value in (10.0, 50.0, 90.0, 300.0):
        PatientFactory(site=site, ics_imported=value)
    patient = PatientFactory(site=site, study_id="ICS-0501", ics_imported=12.0, ics_imported_source="study core lab")
    pullback = make_pullback(patient, length_mm=48, ics=120)
    html = _page(coordinator, patient)
    assert 'id="patient-ics">120.0<' in html and 'id="ics-group">High: at or above 85<' in html
    assert "80th percentile of the 5 patients with an ICS (registry median 90.0)" in html
    assert f"Study pullback #{pullback.pk} (longest analyzable, model default-test)" in html
    assert "The longest scored pullback of at least 40 mm that passed quality control counts." in html
    assert "The imported ICS is kept but not used." in html
    assert "Imported ICS: 12.0 (Study core lab): kept, but the study pullback's ICS counts." in html
    for topic in ("ics", "group", "percentile", "study_pullback"):  # a "?" next to each number
        assert f'id="help-{topic}"' in html
    assert "calcium all round in every frame" in html and "at least 40 mm long (as in the study)" in html


def test_sections_and_the_timeline_picture(site, coordinator, investigator):
    patient = PatientFactory(site=site, study_id="ICS-0502", index_date=date(2015, 3, 2))
    contact = ContactFactory(patient=patient, contact_date=date(2017, 6, 1))
    event = EventFactory(patient=patient, event_date=date(2016, 5, 10), verification="pending")
    death = EventFactory(
        patient=patient, event_type="death", event_date=date(2019, 1, 5), verification="verified", target_vessel=None
    )
    pullback = make_pullback(patient, length_mm=50, ics=25, acquisition_date=date(2015, 3, 2))
    html = _page(coordinator, patient)
    nav = re.search(r'<nav class="section-nav".*?</nav>', html, re.S).group(0)
    assert re.findall(r'href="#(\w+)"', nav) == ["summary", "follow_up", "events", "imaging", "history"]
    assert 'Events <span class="count">(2)</span>' in nav and 'Imaging <span class="count">(1)</span>' in nav
    for section in ("summary", "follow_up", "events", "imaging", "history"):
        assert f'<section class="patient-section{" audit" if section == "history" else ""}" id="{section}"' in html
    assert "contacts 1, events 2, pullbacks 1" in html  # the picture's text alternative
    assert _marks(html) == [
        ("tl-contact", "2017-06-01: Phone, vital status alive"),
        ("tl-event tl-pending", "2016-05-10: Myocardial infarction (to verify)"),
        ("tl-death tl-verified", "2019-01-05: Death (verified)"),
        ("tl-pullback tl-study", f"2015-03-02: Pullback #{pullback.pk}, 50.0 mm, ICS 25.0 (study pullback)"),
    ]
    # Each mark links to its row.
    for anchor in (f"contact-{contact.pk}", f"event-{event.pk}", f"event-{death.pk}", f"pullback-{pullback.pk}"):
        assert f'href="#{anchor}"' in html and f'id="{anchor}"' in html
    # Investigators get no audit trail and no link to it.
    html = _page(investigator, patient)
    assert 'href="#history"' not in html and 'id="history"' not in html and 'href="#imaging"' in html


def test_a_patient_without_an_ics_is_told_how_to_get_one(site, clinician):
    patient = PatientFactory(site=site, study_id="ICS-0503")
    html = _page(clinician, patient)
    assert 'id="patient-ics" class="muted">none yet<' in html and 'id="ics-group"' not in html
    assert "No ICS yet: upload a pullback of at least 40 mm, or import an ICS." in html
    assert "No clinical events recorded." in html and "No follow-up contacts yet." in html


def test_a_reported_death_waiting_for_verification_is_said_next_to_the_status(site, coordinator):
    reported = PatientFactory(site=site, study_id="ICS-0504", index_date=date(2012, 1, 10))
    ContactFactory(patient=reported, contact_date=date(2013, 1, 10))  # long ago: lost to follow-up
    EventFactory(patient=reported, event_type="death", event_date=date(2014, 2, 1), target_vessel=None)
    quiet = PatientFactory(site=site, study_id="ICS-0505", index_date=date(2012, 1, 10))
    ContactFactory(patient=quiet, contact_date=date(2013, 1, 10))
    listing = client_for(coordinator).get("/patients/?sort=study_id").content.decode()
    rows = {m[0]: m[1] for m in re.findall(r">(ICS-050[45])</a></td>(.*?)</tr>", listing, re.S)}
    assert "badge-lost" in rows["ICS-0504"] and "death reported, to verify" in rows["ICS-0504"]
    assert "badge-lost" in rows["ICS-0505"] and "death reported" not in rows["ICS-0505"]
    assert '<a class="badge badge-pending" href="#events">death reported, to verify</a>' in _page(coordinator, reported)
    assert "death reported, to verify" not in _page(coordinator, quiet)
