"""Roles and the one door to patient data.

Roles are Django groups. Every view and API endpoint states which roles it admits; every
patient lookup goes through `patients_for_user` / `patient_get_for_user`, which also apply the
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
from django.core.exceptions import PermissionDenied
from django.http import Http404

from registry.models import Patient, Site, UserProfile

COORDINATOR = "coordinator"
CLINICIAN = "clinician"
INVESTIGATOR = "investigator"
ADMIN = "admin"
ROLES = (COORDINATOR, CLINICIAN, INVESTIGATOR, ADMIN)

# Who may do what. Views and the API use these tuples, and the role-matrix tests read them too.
VIEW_PATIENTS = (COORDINATOR, CLINICIAN, INVESTIGATOR, ADMIN)
EDIT_REGISTRY = (COORDINATOR, ADMIN)
SEE_IDENTIFIERS = (COORDINATOR, CLINICIAN, ADMIN)
SEE_AUDIT = (COORDINATOR, CLINICIAN, ADMIN)
IMPORT_EXPORT = (COORDINATOR, ADMIN)
ANALYSIS_DATA = (COORDINATOR, INVESTIGATOR, ADMIN)


def user_roles(user: User | AnonymousUser) -> frozenset[str]:
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_registry_roles", None)
    if cached is None:
        names = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        if user.is_superuser:
            names.add(ADMIN)
        cached = frozenset(names)
        user._registry_roles = cached
    return cached


def has_role(user: User | AnonymousUser, roles: tuple[str, ...]) -> bool:
    return bool(user_roles(user) & set(roles))


def can_see_identifiers(user: User | AnonymousUser) -> bool:
    return has_role(user, SEE_IDENTIFIERS)


def require_role(user: User | AnonymousUser, roles: tuple[str, ...]) -> None:
    if not has_role(user, roles):
        raise PermissionDenied("Your role does not allow this.")


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


def patients_of_sites(site_ids: Iterable[int] | None):
    """The patients of these sites (None: of every site): the one place a site scope becomes a query."""
    patients = Patient.objects.select_related("site")
    return patients if site_ids is None else patients.filter(site_id__in=sorted(site_ids))


def sites_for_user(user: User):
    """The sites a user may see, enrol at and import into."""
    site_ids = user_site_ids(user)
    return Site.objects.all() if site_ids is None else Site.objects.filter(pk__in=sorted(site_ids))


def patients_for_user(user: User):
    """The patients this user may see: those of the user's sites (`user_site_ids`)."""
    require_role(user, VIEW_PATIENTS)
    return patients_of_sites(user_site_ids(user))


def patient_get_for_user(*, user: User, study_id: str):
    """One patient by study_id, or 404 when it does not exist or belongs to another site."""
    try:
        return patients_for_user(user).get(study_id=study_id)
    except Patient.DoesNotExist:
        raise Http404(f"No patient {study_id!r}.") from None


def roles_context(request) -> dict:
    """Template context: the user's roles, for showing only the actions they may take."""
    roles = user_roles(request.user)
    return {
        "user_roles": roles,
        "can_edit": bool(roles & set(EDIT_REGISTRY)),
        "can_see_identifiers": bool(roles & set(SEE_IDENTIFIERS)),
        "can_see_audit": bool(roles & set(SEE_AUDIT)),
        "can_import_export": bool(roles & set(IMPORT_EXPORT)),
        "can_get_analysis_data": bool(roles & set(ANALYSIS_DATA)),
    }
