"""Django's stock ASGI application on the bare settings (what the uvicorn workers serve)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.bare")
application = get_asgi_application()
