"""Study IDs are plain identifiers and the ICS source must not start like a spreadsheet formula:
the same rule and message in the services, the enrolment form and the API (the CSV import is in
test_import.py)."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from registry import services
from registry.models import Patient, Site
from tests.conftest import client_for

STUDY_ID_RULE = (
    "A study ID may contain only letters A-Z, digits 0-9, hyphens (-), underscores (_) and full stops (.), "
    "and must start with a letter or digit"
)
ICS_SOURCE_RULE = "must be one of registry import, study core lab, earlier scoring software, synthetic, other source"

pytestmark = pytest.mark.django_db


def test_the_service_refuses_a_formula_as_study_id_and_as_ics_source(coordinator, site):
    data = {
        "study_id": "=cmd|' /C calc'!A0",
        "site": site,
        "index_date": date(2020, 2, 3),
        "ics_imported": 10.0,
        "ics_imported_source": "@SUM(1+1)",
    }
    with pytest.raises(ValidationError) as refused:
        services.patient_create(user=coordinator, data=data)

    assert refused.value.message_dict == {
        "study_id": [f'{STUDY_ID_RULE} (it starts with "=")'],
        "ics_imported_source": [f"{ICS_SOURCE_RULE} (got @SUM(1+1))"],
    }
    assert not Patient.objects.exists()


def test_the_enrolment_form_shows_the_rule_next_to_the_study_id(coordinator, site):
    response = client_for(coordinator).post(
        "/patients/new/", {"study_id": "ICS 0501", "site": site.pk, "index_date": "2020-02-03"}
    )

    assert response.status_code == 200
    assert list(response.context["form"].errors["study_id"]) == [f"{STUDY_ID_RULE} (it contains a space)"]
    assert not Patient.objects.exists()


def test_the_api_answers_400_with_the_rule_for_study_id_and_ics_source(coordinator, site):
    client = APIClient()
    client.force_login(coordinator)
    payload = {
        "study_id": "+SUM(1+1)",
        "site": "EMC",
        "index_date": "2014-05-06",
        "ics_imported": 12,
        "ics_imported_source": "study core lab",
    }

    bad_study_id = client.post("/api/patients/", payload, format="json")
    bad_source = client.post(
        "/api/patients/",
        payload | {"study_id": "ICS-0001", "ics_imported_source": '=HYPERLINK("http://example.org")'},
        format="json",
    )

    assert (bad_study_id.status_code, bad_source.status_code) == (400, 400)
    assert bad_study_id.json() == {"study_id": [f'{STUDY_ID_RULE} (it starts with "+")']}
    assert bad_source.json() == {"ics_imported_source": [f'{ICS_SOURCE_RULE} (got =HYPERLINK("http://example.org"))']}
    assert not Patient.objects.exists()


def test_the_admin_refuses_a_formula_as_site_code(admin_user):
    admin_user.is_staff = True
    admin_user.is_superuser = True
    admin_user.save()

    response = client_for(admin_user).post("/admin/registry/site/add/", {"code": "+SUM(1+1)", "name": "Formula hospital"})

    assert response.status_code == 200
    assert list(response.context["adminform"].form.errors["code"]) == [
        "A site code may contain only letters A-Z, digits 0-9, hyphens (-), underscores (_) and full stops (.), "
        'and must start with a letter or digit (it starts with "+")'
    ]
    assert not Site.objects.filter(name="Formula hospital").exists()
    assert (
        client_for(admin_user).post("/admin/registry/site/add/", {"code": "RDAM.2", "name": "Rotterdam"}).status_code == 302
    )
