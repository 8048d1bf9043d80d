"""Shared fixtures: named personas per role (incl. another site's coordinator and an outsider
without any role; all but the other site's coordinator have all sites), a tmp MEDIA_ROOT for
every test, and a patient with a bit of history."""

import pytest
from django.test import Client

from core.roles import ADMIN, CLINICIAN, COORDINATOR, INVESTIGATOR
from tests.factories import PatientFactory, SiteFactory, UserFactory


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def site(db):
    return SiteFactory(code="EMC", name="Erasmus MC")


@pytest.fixture
def other_site(db):
    return SiteFactory(code="OTH", name="Other hospital")


@pytest.fixture
def coordinator(db):
    return UserFactory(username="coordinator", roles=[COORDINATOR])


@pytest.fixture
def clinician(db):
    return UserFactory(username="clinician", roles=[CLINICIAN])


@pytest.fixture
def investigator(db):
    return UserFactory(username="investigator", roles=[INVESTIGATOR])


@pytest.fixture
def admin_user(db):
    return UserFactory(username="registry-admin", roles=[ADMIN])


@pytest.fixture
def outsider(db):
    """Logged in, but without any registry role."""
    return UserFactory(username="outsider", roles=[])


@pytest.fixture
def other_site_coordinator(db, other_site):
    return UserFactory(username="other-coordinator", roles=[COORDINATOR], sites=[other_site])


@pytest.fixture
def personas(coordinator, clinician, investigator, admin_user, outsider):
    return {
        "coordinator": coordinator,
        "clinician": clinician,
        "investigator": investigator,
        "admin": admin_user,
        "outsider": outsider,
    }


@pytest.fixture
def patient(site):
    return PatientFactory(study_id="ICS-0001", site=site)


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client
