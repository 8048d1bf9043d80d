"""API tokens that expire and are revoked when they should no longer open the API.

A token (DRF's authtoken, one per user) is refused once it is older than API_TOKEN_TTL_DAYS;
signing in at /api/auth/token/ then issues a new one. A user's token is deleted when they log
out, when their password changes (whoever changes it: the password-change page, the admin,
`manage.py changepassword`) and when they revoke it (DELETE /api/auth/token/). The signal
receivers are connected when this module is imported (registry.apps).
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.signals import user_logged_out
from django.db import transaction
from django.db.models.signals import pre_save
from django.dispatch import receiver
from django.utils import timezone
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

log = logging.getLogger(__name__)

EXPIRED_MESSAGE = "Your API token has expired; request a new one."


def token_is_expired(token: Token, *, now) -> bool:
    return token.created <= now - timedelta(days=settings.API_TOKEN_TTL_DAYS)


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, refusing (401) a token older than API_TOKEN_TTL_DAYS."""

    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if token_is_expired(token, now=timezone.now()):
            raise AuthenticationFailed(EXPIRED_MESSAGE)
        return user, token


def token_obtain(*, user) -> Token:
    """The user's token; a new one when they have none or theirs has expired."""
    with transaction.atomic():
        token = Token.objects.select_for_update().filter(user=user).first()
        if token is not None and token_is_expired(token, now=timezone.now()):
            token.delete()
            token = None
        if token is None:
            token = Token.objects.create(user=user)
            log.info("API token issued to user %s", user.pk)
        return token


def token_revoke(*, user) -> bool:
    """Delete the user's token; True if there was one."""
    deleted, _ = Token.objects.filter(user=user).delete()
    if deleted:
        log.info("API token of user %s revoked", user.pk)
    return bool(deleted)


@receiver(user_logged_out, dispatch_uid="core.tokens.revoke_on_logout")
def _revoke_on_logout(sender, request, user, **kwargs) -> None:
    if user is not None:
        token_revoke(user=user)


@receiver(pre_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="core.tokens.revoke_on_password_change")
def _revoke_on_password_change(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    """Compare the password hash about to be saved with the stored one."""
    if raw or instance.pk is None or (update_fields is not None and "password" not in update_fields):
        return
    # Django re-hashes a password at sign-in when the hasher or its iterations change: it saves
    # only the password and, unlike set_password(), leaves no new raw password behind. The
    # password itself is the same, so the token stays.
    if update_fields is not None and set(update_fields) == {"password"} and getattr(instance, "_password", None) is None:
        return
    stored = sender._default_manager.filter(pk=instance.pk).values_list("password", flat=True).first()
    if stored is not None and stored != instance.password:
        token_revoke(user=instance)
