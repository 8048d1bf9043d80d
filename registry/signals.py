"""Signals the registry sends for apps above it (which it must not import).

`event_verified` is sent inside the transaction of `services.event_verify`, after the event is
saved and audited, with `event`, `decision` ("verified" or "rejected"), `reason` and `user`:
the follow-up app closes the event's source-document requests in the same transaction, so that
a verification and the closing of its request are saved together or not at all.
"""

from django.dispatch import Signal

event_verified = Signal()
