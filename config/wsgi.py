import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# A server (gunicorn's workers, manage.py runserver) loads what the pages need before its first
# request; the URLconf alone no longer imports the science stack (config/warmup.py).
from config.warmup import warm_up  # noqa: E402 - needs the settings configured above

warm_up()
