"""factory_boy factories for registry rows (synthetic data only), and a shared check on rendered pages."""

import re
from datetime import date

import factory
from django.contrib.auth.models import Group, User

from registry.models import ClinicalEvent, FollowUpContact, Patient, PatientIdentity, Site, UserProfile


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"S{n:02d}")
    name = factory.LazyAttribute(lambda o: f"Hospital {o.code}")


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    study_id = factory.Sequence(lambda n: f"ICS-{n:04d}")
    site = factory.SubFactory(SiteFactory, code="EMC")
    sex = "M"
    age_at_index = 65.5
    index_date = date(2015, 3, 2)
    presentation = "stable"
    index_treatment = "PCI"
    study_vessel = "LAD"
    vessel_revascularized = True
    hypertension = True
    diabetes = False
    egfr = 78.0


class IdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PatientIdentity

    patient = factory.SubFactory(PatientFactory)
    name = factory.Sequence(lambda n: f"Jan Jansen {n}")
    hospital_number = factory.Sequence(lambda n: f"MRN{n:07d}")
    date_of_birth = date(1950, 1, 31)


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FollowUpContact

    patient = factory.SubFactory(PatientFactory)
    contact_date = date(2017, 6, 1)
    method = "phone"
    vital_status = "alive"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return _with_follow_up_summary(super()._create(model_class, *args, **kwargs))


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClinicalEvent

    patient = factory.SubFactory(PatientFactory)
    event_type = "mi"
    event_date = date(2016, 5, 10)
    target_vessel = True
    source = "hospital_record"
    verification = "pending"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return _with_follow_up_summary(super()._create(model_class, *args, **kwargs))


def _with_follow_up_summary(row):
    # The factories write rows directly; the services keep the patient's stored follow-up
    # summary up to date, so do what they do.
    from registry.services import follow_up_refresh

    follow_up_refresh([row.patient_id])
    return row


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-for-tests-only")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        for name in extracted or ():
            self.groups.add(Group.objects.get_or_create(name=name)[0])

    @factory.post_generation
    def sites(self, create, extracted, **kwargs):
        """`sites=[site, ...]`: the user's sites (an empty list: no site); not given: all sites."""
        set_user_sites(self, sites=extracted)


def set_user_sites(user: User, *, sites=None) -> UserProfile:
    """Give `user` these sites only (None: all sites), on the profile the user object holds."""
    try:
        profile = user.registry_profile
    except UserProfile.DoesNotExist:
        profile = UserProfile.objects.create(user=user)
    profile.all_sites = sites is None
    profile.save(update_fields=["all_sites"])
    profile.sites.set(sites or [])
    return profile


EXTERNAL_ASSET = re.compile(r"""(?:src|href)\s*=\s*["'](?:https?:)?//""", re.IGNORECASE)


def assert_no_external_assets(html: str) -> None:
    """Everything works offline: no script, style sheet or image is loaded from another host (a
    CDN). Checked on the attributes that load things, not on any text: a random CSRF token may
    well contain the letters "cdn"."""
    match = EXTERNAL_ASSET.search(html)
    assert match is None, html[max(0, match.start() - 80) : match.end() + 80]
