"""The one door to patient data (roles are core.roles').

Every patient lookup goes through `patients_for_user` / `patient_get_for_user`, which also apply the
user's sites. Investigators never see direct identifiers.

Sites are deny-by-default, as a clinical registry expects: a user sees the patients of the sites
listed on their `UserProfile`, every site's only with `all_sites` (or as a superuser), and no
patient at all without a profile or with no site. `user_site_ids` is that rule, once; everything
that scopes patients (pages, API, imports, analysis data, cohort counts, analysis runs) goes
through `patients_of_sites` with its result. Users who existed before this rule were given
`all_sites` by the migration (registry 0005) so that nobody lost access silently; new users get no
site until an admin grants some (the demo and the test factory grant all sites unless told otherwise).
"""

from collections.abc import Iterable

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet
from django.http import Http404

from core.roles import VIEW_PATIENTS, require_role
from registry.models import Patient, Site, UserProfile


def user_site_ids(user: User | AnonymousUser) -> frozenset[int] | None:
    """The ids of the sites whose patients `user` may see; None means every site. Empty for an
    anonymous user, a user without a profile or without sites (deny by default)."""
    if not user.is_authenticated:
        return frozenset()
    if user.is_superuser:
        return None
    try:
        profile = user.registry_profile
    except UserProfile.DoesNotExist:
        return frozenset()
    if profile.all_sites:
        return None
    return frozenset(profile.sites.values_list("pk", flat=True))


def patients_of_sites(site_ids: Iterable[int] | None) -> QuerySet[Patient]:
    """The patients of these sites (None: of every site): the one place a site scope becomes a query."""
    patients = Patient.objects.select_related("site")
    return patients if site_ids is None else patients.filter(site_id__in=sorted(site_ids))


def sites_for_user(user: User | AnonymousUser) -> QuerySet[Site]:
    """The sites a user may see, enrol at and import into."""
    site_ids = user_site_ids(user)
    return Site.objects.all() if site_ids is None else Site.objects.filter(pk__in=sorted(site_ids))


def patients_for_user(user: User | AnonymousUser) -> QuerySet[Patient]:
    """The patients this user may see: those of the user's sites (`user_site_ids`)."""
    require_role(user, VIEW_PATIENTS)
    return patients_of_sites(user_site_ids(user))


def patient_get_for_user(*, user: User | AnonymousUser, study_id: str) -> Patient:
    """One patient by study_id, or 404 when it does not exist or belongs to another site."""
    try:
        return patients_for_user(user).get(study_id=study_id)
    except Patient.DoesNotExist:
        raise Http404(f"No patient {study_id!r}.") from None
