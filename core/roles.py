"""Roles: who may do what, in one place.

Roles are Django groups (created after every migrate). Every view and API endpoint states which
roles it admits with the tuples below; services check them again with `require_role`. The
role-matrix tests read the same tuples. Which *patients* a user may see is the registry's door
(registry.access), on top of these roles.
"""

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db.models.signals import post_migrate
from django.dispatch import receiver

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
# Follow-up waves, letters, returned questionnaires and source-document requests.
FOLLOW_UP_WAVES = (COORDINATOR, ADMIN)


def user_roles(user: User | AnonymousUser) -> frozenset[str]:
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_core_roles", None)
    if cached is None:
        names = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        if user.is_superuser:
            names.add(ADMIN)
        cached = frozenset(names)
        user._core_roles = cached  # type: ignore[attr-defined]  # a per-request cache on the user object
    return cached


def has_role(user: User | AnonymousUser, roles: tuple[str, ...]) -> bool:
    return bool(user_roles(user) & set(roles))


def can_see_identifiers(user: User | AnonymousUser) -> bool:
    return has_role(user, SEE_IDENTIFIERS)


def require_role(user: User | AnonymousUser, roles: tuple[str, ...]) -> None:
    if not has_role(user, roles):
        raise PermissionDenied("Your role does not allow this.")


def roles_context(request) -> dict:
    """Template context (a context processor): the user's roles, for showing only the actions they may take."""
    roles = user_roles(request.user)
    return {
        "user_roles": roles,
        "can_edit": bool(roles & set(EDIT_REGISTRY)),
        "can_see_identifiers": bool(roles & set(SEE_IDENTIFIERS)),
        "can_see_audit": bool(roles & set(SEE_AUDIT)),
        "can_import_export": bool(roles & set(IMPORT_EXPORT)),
        "can_get_analysis_data": bool(roles & set(ANALYSIS_DATA)),
        "can_run_follow_up": bool(roles & set(FOLLOW_UP_WAVES)),
    }


def acting_user(user) -> User | None:
    """The signed-in user who acts, or None for the system (a command, a worker) and anonymous users."""
    return user if user is not None and user.is_authenticated else None


def ensure_role_groups() -> None:
    """Create the role groups that do not exist yet."""
    from django.contrib.auth.models import Group

    for name in ROLES:
        Group.objects.get_or_create(name=name)


@receiver(post_migrate, dispatch_uid="core.roles.create_role_groups")
def _create_role_groups(sender, **kwargs) -> None:
    if sender.name == "core":
        ensure_role_groups()
