"""Django's stock WSGI application on the bare settings (what gunicorn's own workers serve)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.bare")
application = get_wsgi_application()
