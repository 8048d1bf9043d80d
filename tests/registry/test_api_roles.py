"""Who may call which API endpoint: the whole role x endpoint matrix (session and token
authentication), other sites' patients, and what investigators must never receive."""

import json
from datetime import date

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from registry.models import AuditEntry, ClinicalEvent, FollowUpContact, Patient
from tests.conftest import client_for
from tests.factories import ContactFactory, EventFactory, IdentityFactory, PatientFactory

pytestmark = [pytest.mark.django_db, pytest.mark.time_machine("2026-11-27 12:00 +0000", tick=False)]

PERSONAS = ("coordinator", "clinician", "investigator", "admin_user", "outsider", "anonymous")

ENROLMENT = {"study_id": "ICS-0100", "site": "EMC", "index_date": "2014-05-06", "egfr": 55.5}

# endpoint: (method, url, JSON body); {study_id}, {contact} and {event} are filled in per test.
ENDPOINTS = {
    "list patients": ("get", "/api/patients/", None),
    "enrol patient": ("post", "/api/patients/", ENROLMENT),
    "get patient": ("get", "/api/patients/{study_id}/", None),
    "change patient": ("patch", "/api/patients/{study_id}/", {"egfr": 50, "reason": "new lab"}),
    "withdraw patient": ("post", "/api/patients/{study_id}/withdraw/", {"withdrawn_on": "2020-01-01", "reason": "consent"}),
    "patient history": ("get", "/api/patients/{study_id}/history/", None),
    "list contacts": ("get", "/api/patients/{study_id}/contacts/", None),
    "record contact": ("post", "/api/patients/{study_id}/contacts/", {"contact_date": "2020-01-01", "method": "phone"}),
    "change contact": ("patch", "/api/patients/{study_id}/contacts/{contact}/", {"method": "gp", "reason": "typo"}),
    "delete contact": ("delete", "/api/patients/{study_id}/contacts/{contact}/", {"reason": "duplicate"}),
    "list patient events": ("get", "/api/patients/{study_id}/events/", None),
    "record event": (
        "post",
        "/api/patients/{study_id}/events/",
        {"event_type": "stroke", "event_date": "2018-01-01", "source": "gp"},
    ),
    "change event": ("patch", "/api/patients/{study_id}/events/{event}/", {"event_date": "2016-05-11", "reason": "letter"}),
    "delete event": ("delete", "/api/patients/{study_id}/events/{event}/", {"reason": "duplicate"}),
    "verify event": (
        "post",
        "/api/patients/{study_id}/events/{event}/verify/",
        {"decision": "verified", "source_document": "discharge letter"},
    ),
    "list events": ("get", "/api/events/?verification=pending", None),
    "analysis dataset": ("get", "/api/analysis-dataset/", None),
}

# The authoritative role matrix, written out (not derived from registry.access on purpose).
MATRIX = {
    #                        coordinator clinician investigator admin outsider anonymous
    "list patients": (200, 200, 200, 200, 403, 401),
    "enrol patient": (201, 403, 403, 201, 403, 401),
    "get patient": (200, 200, 200, 200, 403, 401),
    "change patient": (200, 403, 403, 200, 403, 401),
    "withdraw patient": (200, 403, 403, 200, 403, 401),
    "patient history": (200, 200, 403, 200, 403, 401),
    "list contacts": (200, 200, 200, 200, 403, 401),
    "record contact": (201, 403, 403, 201, 403, 401),
    "change contact": (200, 403, 403, 200, 403, 401),
    "delete contact": (204, 403, 403, 204, 403, 401),
    "list patient events": (200, 200, 200, 200, 403, 401),
    "record event": (201, 403, 403, 201, 403, 401),
    "change event": (200, 403, 403, 200, 403, 401),
    "delete event": (204, 403, 403, 204, 403, 401),
    "verify event": (200, 403, 403, 200, 403, 401),
    "list events": (200, 200, 200, 200, 403, 401),
    "analysis dataset": (200, 403, 200, 200, 403, 401),
}
CASES = [
    (endpoint, persona, code) for endpoint, codes in MATRIX.items() for persona, code in zip(PERSONAS, codes, strict=True)
]
PATIENT_ENDPOINTS = [name for name, (_, url, _) in ENDPOINTS.items() if "{study_id}" in url]


@pytest.fixture
def world(site):
    """A patient at site EMC with a contact and a pending event, as the URLs need them."""
    patient = PatientFactory(study_id="ICS-0001", site=site)
    return {
        "study_id": patient.study_id,
        "contact": ContactFactory(patient=patient).pk,
        "event": EventFactory(patient=patient).pk,
    }


def _call(client: APIClient, endpoint: str, world: dict):
    method, url, body = ENDPOINTS[endpoint]
    kwargs = {} if body is None else {"data": body, "format": "json"}
    return getattr(client, method)(url.format(**world), **kwargs)


def _session_client(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


def _token_client(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.mark.parametrize("auth", ["session", "token"])
@pytest.mark.parametrize(("endpoint", "persona", "expected"), CASES)
def test_role_matrix(request, world, endpoint, persona, expected, auth):
    user = None if persona == "anonymous" else request.getfixturevalue(persona)
    client = _session_client(user) if auth == "session" else _token_client(user)

    response = _call(client, endpoint, world)

    assert response.status_code == expected, response.content
    if expected >= 400 and ENDPOINTS[endpoint][0] != "get":
        assert not AuditEntry.objects.exists()  # a refused write changes nothing


@pytest.mark.parametrize("endpoint", PATIENT_ENDPOINTS)
def test_another_sites_patient_is_404(other_site_coordinator, world, endpoint):
    response = _call(_session_client(other_site_coordinator), endpoint, world)

    assert response.status_code == 404
    assert not AuditEntry.objects.exists()


def test_a_method_the_endpoint_lacks_is_405_for_role_holders_and_403_for_outsiders(coordinator, outsider, world):
    url = f"/api/patients/{world['study_id']}/"
    assert _session_client(coordinator).put(url, {}, format="json").status_code == 405
    assert _session_client(outsider).put(url, {}, format="json").status_code == 403


# Investigators: pseudonymised only ----------------------------------------------------------

SECRETS = (
    "Anna de Vries",
    "MRN4242",
    "1950-02-03",
    "spoke to her daughter",
    "GP letter re Anna",
    "letter-4242.pdf",
    "moved abroad",
)
CONFIDENTIAL_KEYS = {
    "identifiers",
    "name",
    "hospital_number",
    "date_of_birth",
    "notes",
    "source_document",
    "withdrawal_reason",
}


@pytest.fixture
def identified_world(world, site):
    patient = Patient.objects.get(study_id=world["study_id"])
    IdentityFactory(patient=patient, name="Anna de Vries", hospital_number="MRN4242", date_of_birth=date(1950, 2, 3))
    FollowUpContact.objects.filter(pk=world["contact"]).update(notes="spoke to her daughter")
    ClinicalEvent.objects.filter(pk=world["event"]).update(notes="GP letter re Anna", source_document="letter-4242.pdf")
    PatientFactory(study_id="ICS-0002", site=site, withdrawn_on=date(2020, 1, 1), withdrawal_reason="moved abroad")
    return world


def _keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


READABLE_BY_INVESTIGATOR = [
    name
    for name, (method, _, _) in ENDPOINTS.items()
    if method == "get" and MATRIX[name][PERSONAS.index("investigator")] == 200
]


@pytest.mark.parametrize("endpoint", [*READABLE_BY_INVESTIGATOR, "list events unfiltered", "withdrawn patient"])
def test_investigators_get_no_identifiers_and_no_free_text(investigator, identified_world, endpoint):
    extra = {"list events unfiltered": "/api/events/", "withdrawn patient": "/api/patients/ICS-0002/"}
    client = _session_client(investigator)
    response = client.get(extra[endpoint]) if endpoint in extra else _call(client, endpoint, identified_world)

    assert response.status_code == 200
    body = response.content.decode()
    assert not [secret for secret in SECRETS if secret in body]
    assert not CONFIDENTIAL_KEYS & _keys(json.loads(body))


@pytest.mark.parametrize("endpoint", ["get patient", "list contacts", "list patient events"])
def test_clinicians_do_get_identifiers_and_notes(clinician, identified_world, endpoint):
    body = _call(_session_client(clinician), endpoint, identified_world).content.decode()
    assert any(secret in body for secret in SECRETS)


# Tokens -------------------------------------------------------------------------------------


def test_a_token_is_obtained_with_username_and_password(investigator):
    response = APIClient().post(
        "/api/auth/token/", {"username": "investigator", "password": "pw-for-tests-only"}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == {"token": Token.objects.get(user=investigator).key}
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert client.get("/api/patients/").status_code == 200
    assert client.get("/api/analysis-dataset/").status_code == 200
    assert client.post("/api/patients/", ENROLMENT, format="json").status_code == 403


def test_a_wrong_password_gets_no_token(investigator):
    response = APIClient().post("/api/auth/token/", {"username": "investigator", "password": "nope"}, format="json")
    assert response.status_code == 400
    assert not Token.objects.exists()


def test_a_bad_token_is_401(world):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = client.get("/api/patients/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize("url", ["/api/schema/", "/api/docs/"])
@pytest.mark.parametrize(
    ("persona", "expected"),
    [("coordinator", 200), ("clinician", 200), ("investigator", 200), ("admin", 200), ("outsider", 403), (None, 401)],
)
def test_schema_and_docs_need_a_registry_role(personas, url, persona, expected):
    response = client_for(personas[persona] if persona else None).get(url)
    assert response.status_code == expected
