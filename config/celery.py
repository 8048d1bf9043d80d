"""Celery application. Broker and limits come from Django settings (CELERY_* names)."""

import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("ics_registry")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _load_the_statistics_stack(**kwargs) -> None:
    # pandas, scipy and lifelines load once when the worker starts (its pool processes inherit them),
    # not in the first analysis, which took 3.0 s against 0.8 s for the next ones.
    import analytics.analysis  # noqa: F401
