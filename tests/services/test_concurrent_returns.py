"""Real concurrency on PostgreSQL for the follow-up waves: the patient answering online while a
coordinator types in the same patient's paper questionnaire, and a wave closed while a patient
sends their answers. Each time exactly one return stands, with one set of events and requests."""

from datetime import date

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.roles import COORDINATOR
from followup import services
from followup.models import MemberStatus, QuestionnaireResponse, SourceDocumentRequest, WaveMember
from registry.models import ClinicalEvent, FollowUpContact, Patient
from tests.factories import PatientFactory, UserFactory
from tests.services.concurrency import at_once as _at_once

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

TRIES = 12
NO = dict.fromkeys(["admissions", "chest_pain", "stroke", "pci", "cabg"], "no")


def test_an_online_and_a_paper_return_of_the_same_questionnaire_save_one(site):
    assert connection.vendor == "postgresql"
    coordinator = UserFactory(username="paper-typist", roles=[COORDINATOR])
    for attempt in range(TRIES):
        PatientFactory(study_id=f"RACE-{attempt}", site=site, index_date=date(2015, 1, 1))
    wave = services.wave_create(user=coordinator, name="race", patients=Patient.objects.all())
    today = timezone.localdate().isoformat()
    for member in wave.members.order_by("patient__study_id"):
        answers = {"health": "well", "mi": "yes", "mi_0_year": "2020", "mi_0_hospital": "Isala", **NO}
        paper = Client()
        paper.force_login(coordinator)
        online, typed = _at_once(
            lambda m=member, a=answers: Client().post(reverse("followup_public_form", args=[m.token]), a),
            lambda m=member, a=answers, paper=paper: paper.post(
                reverse("followup_paper_entry", args=[m.response_code]), {**a, "returned_on": today}
            ),
        )
        assert online.status_code in (303, 410) and typed.status_code == 302
        assert QuestionnaireResponse.objects.filter(member=member).count() == 1
        assert ClinicalEvent.objects.filter(patient=member.patient, event_type="mi").count() == 1
        assert SourceDocumentRequest.objects.filter(patient=member.patient).count() == 1
        assert FollowUpContact.objects.filter(patient=member.patient, method="questionnaire_returned").count() == 1
        saved = QuestionnaireResponse.objects.get(member=member)
        # The loser was told: the online page says the link was used; the paper entry goes back to
        # the questionnaire's page, which shows the return that was saved.
        if saved.entered_via == "paper":
            assert online.status_code == 410
        else:
            assert typed["Location"] == reverse("followup_paper_entry", args=[member.response_code])
            assert "Already returned on" in paper.get(typed["Location"]).content.decode()


def test_closing_a_wave_while_a_patient_answers_never_leaves_a_return_marked_no_response(site):
    coordinator = UserFactory(username="closer", roles=[COORDINATOR])
    for attempt in range(TRIES):
        patient = PatientFactory(study_id=f"CLOSE-{attempt}", site=site)
        wave = services.wave_create(
            user=coordinator, name=f"close {attempt}", patients=Patient.objects.filter(pk=patient.pk)
        )
        member = wave.members.get()
        answers = {"health": "well", "mi": "no", **NO}
        _at_once(
            lambda m=member, a=answers: Client().post(reverse("followup_public_form", args=[m.token]), a),
            lambda w=wave: services.wave_close(user=coordinator, wave=w, on=timezone.localdate()),
        )
        member = WaveMember.objects.get(pk=member.pk)
        returned = QuestionnaireResponse.objects.filter(member=member).exists()
        assert member.status == (MemberStatus.RETURNED if returned else MemberStatus.NO_RESPONSE)
