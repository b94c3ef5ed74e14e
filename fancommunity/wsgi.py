"""WSGI entry point (gunicorn fancommunity.wsgi)."""

import os
import sys

from django.core.exceptions import ImproperlyConfigured

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fancommunity.settings")

try:
    from django.core.wsgi import get_wsgi_application

    handler = get_wsgi_application()  # django.setup() first: the dispatcher imports the app
except ImproperlyConfigured as exc:
    sys.stderr.write(f"Configuration error: {exc}\n")
    raise SystemExit(2) from None

from fancommunity.webhook_wsgi import WebhookApplication  # noqa: E402 - needs the set-up above

# The Twilio webhooks skip Django's handler (issue 10, sixth session; fancommunity/webhook_wsgi.py).
application = WebhookApplication(handler)
