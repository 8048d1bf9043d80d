"""The role groups exist in every database: created after each migrate."""

from django.db.models.signals import post_migrate
from django.dispatch import receiver

from registry.access import ROLES


def ensure_role_groups() -> None:
    from django.contrib.auth.models import Group

    for name in ROLES:
        Group.objects.get_or_create(name=name)


@receiver(post_migrate)
def _create_role_groups(sender, **kwargs) -> None:
    if sender.name == "registry":
        ensure_role_groups()
