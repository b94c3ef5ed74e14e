"""Settings for the test suite: the project's one settings.py, with test defaults in the environment.

Only environment defaults are set here (an explicit variable, e.g. DATABASE_URL for the PostgreSQL
run, still wins), so tests exercise the same settings code production runs.
"""

import os

os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("SMS_BACKEND", "locmem")
os.environ.setdefault("Q_SYNC", "true")  # django-q2 tasks run inline; its Conf is read once at import
os.environ.setdefault("PUBLIC_BASE_URL", "https://fans.example.com")
os.environ.setdefault("EMAIL_URL", "locmem://")  # django.core.mail.outbox
os.environ.setdefault("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
os.environ.setdefault("TWILIO_AUTH_TOKEN", "test-auth-token")
os.environ.setdefault("DATABASE_URL", "sqlite:///" + os.path.join(os.path.dirname(__file__), "..", "test.sqlite3"))

from fancommunity.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests

# SQLite: test on a file, as the embedded default runs, not Django's shared-cache in-memory database.
# In memory, two threads' connections (the send pipeline's database thread and its error-effects
# helper) take table locks and fail at once with "database table is locked" instead of waiting out
# the busy timeout; a file in WAL mode waits, like production.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": DATABASES["default"]["NAME"] + ".test"}  # noqa: F405
