"""Roles and the one door to patient data.

Roles are Django groups. Every view and API endpoint states which roles it admits; every
patient lookup goes through `patients_for_user` / `patient_get_for_user`, which also apply a
user's optional site restriction. Investigators never see direct identifiers.
"""

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.http import Http404

from registry.models import Patient

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


def user_site_id(user: User) -> int | None:
    profile = getattr(user, "registry_profile", None) if user.is_authenticated else None
    return profile.site_id if profile is not None else None


def patients_for_user(user: User):
    """The patients this user may see: all, or those of the user's site."""
    require_role(user, VIEW_PATIENTS)
    patients = Patient.objects.select_related("site")
    site_id = user_site_id(user)
    return patients if site_id is None else patients.filter(site_id=site_id)


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
