"""Closes the source-document requests of an event when the registry verifies or rejects it
(registry.signals.event_verified, sent inside event_verify's transaction)."""

from django.dispatch import receiver

from registry.signals import event_verified


@receiver(event_verified, dispatch_uid="followup.close_requests_on_verification")
def _close_requests(sender, event, decision, reason, user, **kwargs) -> None:
    from followup.services import requests_close_for_event

    requests_close_for_event(user=user, event=event, decision=decision, reason=reason)
