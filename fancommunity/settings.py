"""The one settings module. Every knob comes from the environment (see README.md).

Defaults are for development on the embedded stack (SQLite, django-q2 ORM broker, console SMS).
With DEBUG off the production guards below refuse to start on unsafe values.
"""

from __future__ import annotations

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from fancommunity import env

BASE_DIR = Path(__file__).resolve().parent.parent

# --- Core -------------------------------------------------------------------------------------
DEBUG = env.get_bool("DEBUG", True)
_DEV_SECRET_KEY = "dev-insecure-fancommunity-secret-key-change-me-in-production-0123456789"
SECRET_KEY = env.get_str("SECRET_KEY", _DEV_SECRET_KEY)
ALLOWED_HOSTS = env.get_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG else [])
# Issue 11: `make run PORT=8300` puts :8300 in every texted link unless PUBLIC_BASE_URL is set.
PUBLIC_BASE_URL = env.get_str("PUBLIC_BASE_URL", f"http://127.0.0.1:{env.get_int('PORT', 8000, minimum=1)}").rstrip("/")

if not DEBUG:
    if not SECRET_KEY or SECRET_KEY == _DEV_SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY: must be set to a long random value when DEBUG is off")
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("SECRET_KEY: must be at least 50 characters when DEBUG is off")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS: must list the site's host names when DEBUG is off")
if not PUBLIC_BASE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"PUBLIC_BASE_URL: expected an http(s) URL, got {PUBLIC_BASE_URL!r}")

INSTALLED_APPS = [
    "unfold",  # the console theme (issue 11): must come before django.contrib.admin
    "unfold.contrib.filters",  # the Fans page's text and dropdown filters (issue 12)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "phonenumber_field",
    "django_q",
    "accounts",
    "consent",
    "messaging",
    "csp",  # issue 15: Content-Security-Policy (fancommunity/security.py)
    "django_otp",  # issue 15: two-factor sign-in for the console
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",  # recovery codes
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_otp.middleware.OTPMiddleware",  # issue 15: request.user.is_verified()
    "fancommunity.console_auth.ConsoleSecurityMiddleware",  # issue 15: two-factor gate, idle expiry
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "fancommunity.security.SecurityHeadersMiddleware",  # issue 15: CSP, Permissions-Policy, no-store
]

ROOT_URLCONF = "fancommunity.urls"
WSGI_APPLICATION = "fancommunity.wsgi.application"
ASGI_APPLICATION = "fancommunity.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------------
DATABASES = {"default": env.get_database("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web and qcluster workers write at once: WAL lets readers run beside the writer, IMMEDIATE
    # takes the write lock at BEGIN (no deadlock-prone lock upgrade), and the busy timeout waits
    # instead of failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.get_int("DATABASE_CONN_MAX_AGE", 60, minimum=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The webhook's STOP runs its two statements prepared (messaging/conversations/stop.py): PostgreSQL
# plans them once per connection, not at every STOP (planning was half their time). Behind a pooler
# in transaction mode that does not keep prepared statements (PgBouncer before 1.21, or without
# max_prepared_statements) set this false; if one is lost anyway the STOP falls back and still applies.
DATABASE_PREPARED_STATEMENTS = env.get_bool("DATABASE_PREPARED_STATEMENTS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth, i18n, static -----------------------------------------------------------------------
AUTHENTICATION_BACKENDS = ["accounts.auth_backends.ThrottledModelBackend"]
# Issue 15: Argon2 (memory-hard) for new and changed passwords; older hashes still verify and are
# rehashed with Argon2 at the next sign-in. tests/settings.py keeps a fast hasher.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
# Console and API sessions end after this many seconds without a request (fancommunity/console_auth.py).
CONSOLE_IDLE_TIMEOUT = env.get_int("CONSOLE_IDLE_TIMEOUT", 3600, minimum=60)
OTP_TOTP_ISSUER = env.get_str("OTP_TOTP_ISSUER", "fancommunity")
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.get_str("MEDIA_ROOT", str(BASE_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
LOGIN_URL = "admin:login"
DATA_UPLOAD_MAX_MEMORY_SIZE = env.get_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 5 * 1024 * 1024, minimum=1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Security (production) --------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env.get_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.get_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.get_bool("SECURE_HSTS_PRELOAD", True)
    # Behind a TLS-terminating proxy, trust its X-Forwarded-Proto (only set this proxy-side).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    CSRF_TRUSTED_ORIGINS = env.get_list("CSRF_TRUSTED_ORIGINS", [PUBLIC_BASE_URL])

# --- Browser-side defences (issue 15; fancommunity/security.py, docs/SECURITY.md) -------------------
# Strict for fan pages and everything not named below: nonce'd inline scripts and styles only.
_CSP_BASE = {
    "default-src": ["'none'"],
    "script-src": ["'self'", "NONCE"],
    "style-src": ["'self'", "NONCE"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "manifest-src": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
    "base-uri": ["'none'"],
    "object-src": ["'none'"],
}


def _csp(**changes: list[str]) -> dict:
    """The base policy with some directives replaced (script_src= -> script-src)."""
    from csp.constants import NONCE  # django-csp's marker: the request's nonce, when a page used one

    directives = {**_CSP_BASE, **{name.replace("_", "-"): values for name, values in changes.items()}}
    return {name: [NONCE if v == "NONCE" else v for v in values] for name, values in directives.items()}


CONTENT_SECURITY_POLICY = {"DIRECTIVES": _csp()}
# The console: unfold's Alpine build needs eval (Function constructor) and sets style attributes.
CSP_CONSOLE_DIRECTIVES = _csp(
    script_src=["'self'", "NONCE", "'unsafe-eval'"], style_src=["'self'", "'unsafe-inline'"], frame_src=["'self'"]
)
# The API's HTML docs (drf-spectacular's Split views: their script is a file of its own).
CSP_API_DOCS_PREFIXES = env.get_list("CSP_API_DOCS_PREFIXES", ["/api/docs/", "/api/schema/"])
CSP_API_DOCS_DIRECTIVES = _csp(style_src=["'self'", "'unsafe-inline'"], worker_src=["'self'", "blob:"])
PERMISSIONS_POLICY = (
    "accelerometer=(), browsing-topics=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), "
    "magnetometer=(), microphone=(), payment=(), usb=(), interest-cohort=()"
)
# Outgoing requests to URLs people type (webhooks, media fetches): fancommunity/netguard.py.
NETGUARD_ALLOWED_HOSTS = env.get_list("NETGUARD_ALLOWED_HOSTS", [])  # e.g. a receiver on the private network
NETGUARD_ALLOW_HTTP = env.get_bool("NETGUARD_ALLOW_HTTP", False)
# --- end of browser-side defences ---------------------------------------------------------------

# --- Email (issue 11: team invites, password resets) ------------------------------------------
# EMAIL_URL: smtp://USER:PASSWORD@HOST:PORT, smtp+tls://, smtp+ssl://, console:// (development
# default: mails are printed), locmem:// (tests). See fancommunity/env.py get_email.
_email = env.get_email("EMAIL_URL", "console://" if DEBUG else "smtp://localhost:25")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST, EMAIL_PORT = _email["EMAIL_HOST"], _email["EMAIL_PORT"]
EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_USER"], _email["EMAIL_HOST_PASSWORD"]
EMAIL_USE_TLS, EMAIL_USE_SSL = _email["EMAIL_USE_TLS"], _email["EMAIL_USE_SSL"]
DEFAULT_FROM_EMAIL = env.get_str("DEFAULT_FROM_EMAIL", "fancommunity <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_TIMEOUT = env.get_int("EMAIL_TIMEOUT", 10, minimum=1)
# Lifetime (s) of a team invite link; an accepted or revoked invite's link dies at once.
TEAM_INVITE_MAX_AGE = env.get_int("TEAM_INVITE_MAX_AGE", 7 * 24 * 3600, minimum=60)
PASSWORD_RESET_TIMEOUT = env.get_int("PASSWORD_RESET_TIMEOUT", 3 * 24 * 3600, minimum=60)
# --- end of email ----------------------------------------------------------------------------

# --- SMS --------------------------------------------------------------------------------------
SMS_BACKEND_ALIASES = {
    "console": "messaging.sms.backends.console.ConsoleBackend",
    "locmem": "messaging.sms.backends.locmem.LocmemBackend",
    "twilio": "messaging.sms.backends.twilio.TwilioBackend",
    # The dotted paths of releases before the domain packages (issue 9) keep working.
    "messaging.backends.console.ConsoleBackend": "messaging.sms.backends.console.ConsoleBackend",
    "messaging.backends.locmem.LocmemBackend": "messaging.sms.backends.locmem.LocmemBackend",
    "messaging.backends.twilio.TwilioBackend": "messaging.sms.backends.twilio.TwilioBackend",
}
_sms_backend = env.get_str("SMS_BACKEND", "console").strip()
if _sms_backend in SMS_BACKEND_ALIASES:
    SMS_BACKEND = SMS_BACKEND_ALIASES[_sms_backend]
elif "." in _sms_backend and not _sms_backend.startswith(".") and not _sms_backend.endswith("."):
    SMS_BACKEND = _sms_backend  # a dotted path, checked importable when the messaging app loads
else:
    raise ImproperlyConfigured(
        f"SMS_BACKEND: unknown backend {_sms_backend!r}; use console, locmem, twilio or a dotted path"
    )
TWILIO_ACCOUNT_SID = env.get_str("TWILIO_ACCOUNT_SID", "ACfancommunitysandbox000000000000" if DEBUG else "")
TWILIO_AUTH_TOKEN = env.get_str("TWILIO_AUTH_TOKEN", "sandbox-auth-token" if DEBUG else "")
# Points the twilio SDK at a Twilio-compatible server (the project's sandbox); empty = real Twilio.
TWILIO_API_BASE_URL = env.get_str("TWILIO_API_BASE_URL", "").rstrip("/")
if SMS_BACKEND == SMS_BACKEND_ALIASES["twilio"] and not (TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN):
    raise ImproperlyConfigured("TWILIO_ACCOUNT_SID: SMS_BACKEND=twilio needs TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN")
# Verify X-Twilio-Signature on webhooks. Only a test or a demo without any token may turn it off.
TWILIO_VALIDATE_WEBHOOKS = env.get_bool("TWILIO_VALIDATE_WEBHOOKS", True)
if not DEBUG and not TWILIO_VALIDATE_WEBHOOKS:
    raise ImproperlyConfigured("TWILIO_VALIDATE_WEBHOOKS: may not be off when DEBUG is off")
# Price of one SMS segment in USD, for cost estimates in the console.
SMS_SEGMENT_PRICE = env.get_float("SMS_SEGMENT_PRICE", 0.0079)
# --- Twilio HTTP client (messaging/backends/twilio.py) ---
# Seconds before a Twilio request is abandoned; a send that times out after leaving is "uncertain"
# and reconciled by listing the provider's messages, never blindly resent.
TWILIO_HTTP_TIMEOUT = env.get_float("TWILIO_HTTP_TIMEOUT", 15.0)
if TWILIO_HTTP_TIMEOUT <= 0:
    raise ImproperlyConfigured(f"TWILIO_HTTP_TIMEOUT: must be positive, got {TWILIO_HTTP_TIMEOUT}")
# Open connections per event loop of the async client (the campaign sender's concurrency cap).
TWILIO_HTTP_MAX_CONNECTIONS = env.get_int("TWILIO_HTTP_MAX_CONNECTIONS", 100, minimum=1)

# --- Task queue (django-q2) -------------------------------------------------------------------
REDIS_URL = env.get_redis_url("REDIS_URL")
Q_CLUSTER = {
    "name": "fancommunity",
    "workers": env.get_int("Q_WORKERS", 2, minimum=1),
    # A send batch is bounded (a few hundred messages under the rate limiter); timeout covers it,
    # and retry must exceed timeout plus queue wait or a slow task would run twice.
    "timeout": env.get_int("Q_TIMEOUT", 300, minimum=10),
    "retry": env.get_int("Q_RETRY", 420, minimum=20),
    "max_attempts": 3,  # 0 would retry a failing task forever
    "catch_up": False,  # after downtime run a periodic schedule once, not once per missed slot
    "save_limit": 500,
    "ack_failures": True,
    # Tasks a cluster pulls ahead into memory. django-q2's pusher dequeues eagerly: with 50, the
    # first qcluster to poll took every send task of a blast and ran them one after another
    # while a second qcluster sat idle (measured: bench_send, 2 qclusters no faster than 1).
    "queue_limit": env.get_int("Q_QUEUE_LIMIT", 1, minimum=1),
    "label": "Task queue",
    "poll": 1,
    "sync": env.get_bool("Q_SYNC", False),  # tests run tasks inline
    # The priority lane: replies and compliance texts go to their own queue, served by a cluster
    # started with Q_CLUSTER_NAME=priority, so a running blast can never delay a STOP confirmation.
    "ALT_CLUSTERS": {"priority": {"workers": 1, "queue_limit": 10}},
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
    # Rate-limit counters (accounts/ratelimit.py) then hold across every web process; without
    # Redis they are per process, which is exact for the embedded single-process default.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    Q_CLUSTER["orm"] = "default"
    # Per process (see above). Django's default keeps 300 entries and evicts the least recently
    # used: in a burst of new numbers (one rate-limit counter each) a flooding number's counter and
    # the lane's once-a-second kick marks went within a second, so the number was never limited and
    # the lane was kicked several times a second. Counters live ~65 s: 100,000 covers a minute of
    # 1,500 new numbers a second (some 30 MB a process at most).
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "OPTIONS": {"MAX_ENTRIES": 100_000}}
    }
if Q_CLUSTER["retry"] <= Q_CLUSTER["timeout"]:
    raise ImproperlyConfigured("Q_RETRY: must be greater than Q_TIMEOUT, or a slow task runs twice")

# --- Campaigns (sending) ------------------------------------------------------------------------
# A campaign whose start passed while the system was down starts on recovery only within this.
CAMPAIGN_START_GRACE_MINUTES = env.get_int("CAMPAIGN_START_GRACE_MINUTES", 60, minimum=0)
# Rows claimed per batch (at most; slow senders get fewer so a batch fits its lease).
CAMPAIGN_BATCH_SIZE = env.get_int("CAMPAIGN_BATCH_SIZE", 500, minimum=1)
# How long a claim is owned. A worker stops starting sends well before its lease ends; after it,
# the sweeper reconciles the rows with the provider. Must stay below Q_TIMEOUT.
CAMPAIGN_LEASE_SECONDS = env.get_int("CAMPAIGN_LEASE_SECONDS", 120, minimum=3)
# Concurrent HTTP requests per batch (the token bucket still caps segments per second).
CAMPAIGN_SEND_CONCURRENCY = env.get_int("CAMPAIGN_SEND_CONCURRENCY", 100, minimum=1)
# Seconds one send task keeps claiming batches before handing over to a fresh task.
CAMPAIGN_TASK_SECONDS = env.get_int("CAMPAIGN_TASK_SECONDS", 60, minimum=1)
# Parallel send tasks per campaign. A qcluster holds at most Q_WORKERS + Q_QUEUE_LIMIT + 1 tasks
# (running, queued in memory, in its pusher's hand); more tasks than that let a second qcluster
# (another machine) join a blast at once. Extra tasks that start after a blast ended just exit.
CAMPAIGN_PARALLEL_TASKS = env.get_int("CAMPAIGN_PARALLEL_TASKS", 8, minimum=1)
CAMPAIGN_MAX_ATTEMPTS = env.get_int("CAMPAIGN_MAX_ATTEMPTS", 5, minimum=1)
# An uncertain row (timeout after the request left) is looked up at the provider after this long.
CAMPAIGN_RECONCILE_AFTER_SECONDS = env.get_int("CAMPAIGN_RECONCILE_AFTER_SECONDS", 120, minimum=1)
# Ask Twilio for status callbacks (delivered/failed). Off only for benchmarks that measure the send
# path alone, since a local sandbox would spend this machine's CPU simulating Twilio's callbacks.
CAMPAIGN_STATUS_CALLBACKS = env.get_bool("CAMPAIGN_STATUS_CALLBACKS", True)
# The priority lane (messaging/conversations/lane.py): rows claimed per send batch, stored inbound
# texts per rule-processor batch, seconds one lane task runs before handing over, and how long an
# idle lane task keeps polling before it ends (so a text that arrives meanwhile needs no new task).
PRIORITY_LANE_BATCH = env.get_int("PRIORITY_LANE_BATCH", 1000, minimum=1)  # 20 s of two-part links at 100 parts/s
INBOUND_RULES_BATCH = env.get_int("INBOUND_RULES_BATCH", 200, minimum=1)
# Long, since the sender stands idle while one task hands over to the next (the queue's latency and
# an unprefetched claim: ~5 s under a burst, so 60 s cost ~8 % of a 20,000-link burst's rate).
PRIORITY_LANE_SECONDS = env.get_int("PRIORITY_LANE_SECONDS", 240, minimum=1)
PRIORITY_LANE_LINGER_SECONDS = env.get_float("PRIORITY_LANE_LINGER_SECONDS", 3.0)
# While a burst saturates the machine the rule loop yields to the webhook (lane.py, DoorFirst), but
# never past this age of the oldest stored text it has not processed; 0: it never yields. On since
# the thirteenth session's A/B runs (docs/ARCHITECTURE.md): more first texts taken a second, links
# still at 90 %+ of the sender's rate; a burst's replies reach the inbox up to this much later.
INBOUND_RULES_YIELD_SECONDS = env.get_float("INBOUND_RULES_YIELD_SECONDS", 30.0)
# PostgreSQL: the priority lane and campaign sends listen for opt-outs as they commit (NOTIFY
# fan_gone from a trigger; accounts/stop_notices.py), so a text in flight for a fan who just texted
# STOP is stopped before its send, not at the next re-check. Off: the periodic re-check alone (0.5 s).
STOP_NOTICES = env.get_bool("STOP_NOTICES", True)
# Benchmarks only: a file the lane appends one JSON line to per text it sends (the send call's wall and
# monotonic time, its process and batch), set beside the sandbox ledger's stamps (bench_celebrity).
PRIORITY_LANE_SEND_LOG = env.get_str("PRIORITY_LANE_SEND_LOG", "")
# Replies and opt-outs within this many hours after a campaign message count for that campaign.
CAMPAIGN_ATTRIBUTION_HOURS = env.get_int("CAMPAIGN_ATTRIBUTION_HOURS", 72, minimum=1)
if CAMPAIGN_LEASE_SECONDS >= env.get_int("Q_TIMEOUT", 300, minimum=10):
    raise ImproperlyConfigured("CAMPAIGN_LEASE_SECONDS: must be below Q_TIMEOUT")

# --- Joining, consent and self-service (issue 3: text-to-join, signup, STOP/START/HELP, /me/) -----
# The priority lane: keyword replies, signup codes and confirmations go to their own django-q2
# queue, served by its own process (`Q_CLUSTER_NAME=priority python manage.py qcluster`), so a
# blast filling the main queue cannot delay a STOP confirmation or a signup link.
Q_PRIORITY_CLUSTER = env.get_str("Q_PRIORITY_CLUSTER", "priority")
Q_CLUSTER.setdefault("ALT_CLUSTERS", {})[Q_PRIORITY_CLUSTER] = {
    "workers": env.get_int("Q_PRIORITY_WORKERS", 2, minimum=1),  # the rule processor and the sender
    # One lane task runs PRIORITY_LANE_SECONDS, then hands over to a fresh one; retry must exceed
    # timeout or a redelivered lane task would run beside the first (harmless: claims, but wasteful).
    "timeout": 300,
    "retry": 360,
    "queue_limit": 2,
}
if PRIORITY_LANE_SECONDS + 30 > Q_CLUSTER["ALT_CLUSTERS"][Q_PRIORITY_CLUSTER]["timeout"]:
    raise ImproperlyConfigured("PRIORITY_LANE_SECONDS: must stay 30 s below the priority cluster's timeout (300)")
# Lifetimes of signed links (seconds). A used link dies earlier: see accounts/tokens.py.
JOIN_LINK_MAX_AGE = env.get_int("JOIN_LINK_MAX_AGE", 24 * 3600, minimum=60)
SELF_SERVICE_LINK_MAX_AGE = env.get_int("SELF_SERVICE_LINK_MAX_AGE", 24 * 3600, minimum=60)
# How long the /me/ page stays open in the browser after a self-service link was used.
SELF_SERVICE_SESSION_AGE = env.get_int("SELF_SERVICE_SESSION_AGE", 30 * 60, minimum=60)
# A typed phone number is proven by a code SMSed to it: lifetime and wrong guesses allowed.
PHONE_CODE_MAX_AGE = env.get_int("PHONE_CODE_MAX_AGE", 10 * 60, minimum=60)
PHONE_CODE_MAX_ATTEMPTS = env.get_int("PHONE_CODE_MAX_ATTEMPTS", 5, minimum=1)
# Key of the phone hash kept after erasure; empty derives it from SECRET_KEY. Changing it (or
# SECRET_KEY when empty) makes erased numbers unrecognisable to imports: set it once, keep it.
PHONE_HASH_KEY = env.get_str("PHONE_HASH_KEY", "")
# Fixed-window rate limits as "requests/seconds", counted in Django's cache (CACHES["default"]).
# The default LocMemCache counts per process: with several web processes set CACHES to a shared
# cache (e.g. Redis) or the limits multiply by the number of processes.
RATELIMIT_ENABLED = env.get_bool("RATELIMIT_ENABLED", True)
RATELIMIT_SIGNUP_PER_IP = env.get_rate("RATELIMIT_SIGNUP_PER_IP", "30/3600")
RATELIMIT_SIGNUP_PER_PHONE = env.get_rate("RATELIMIT_SIGNUP_PER_PHONE", "5/3600")
RATELIMIT_WEBHOOK_PER_IP = env.get_rate("RATELIMIT_WEBHOOK_PER_IP", "1200/60")
RATELIMIT_WEBHOOK_PER_PHONE = env.get_rate("RATELIMIT_WEBHOOK_PER_PHONE", "20/60")
RATELIMIT_SELF_SERVICE_PER_IP = env.get_rate("RATELIMIT_SELF_SERVICE_PER_IP", "60/600")
# Failed sign-ins (console and API): past these, no password is checked until the window ends.
RATELIMIT_LOGIN_FAILURES_PER_USER = env.get_rate("RATELIMIT_LOGIN_FAILURES_PER_USER", "10/900")
RATELIMIT_LOGIN_FAILURES_PER_IP = env.get_rate("RATELIMIT_LOGIN_FAILURES_PER_IP", "50/900")
# Only behind a proxy that sets it: otherwise a client could pick its own rate-limit bucket.
RATELIMIT_TRUST_X_FORWARDED_FOR = env.get_bool("RATELIMIT_TRUST_X_FORWARDED_FOR", False)

# --- Console shell (issue 11: django-unfold theme, menu by task; see docs/ARCHITECTURE.md) -----
UNFOLD = {
    "SITE_TITLE": "fancommunity",
    "SITE_HEADER": "fancommunity console",
    "SITE_SYMBOL": "forum",
    "SITE_URL": None,
    "SITE_FAVICONS": [
        {"rel": "icon", "type": "image/svg+xml", "href": "messaging.console.sidebar.favicon_url"},
    ],
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    "SIDEBAR": {
        "show_search": False,
        "show_all_applications": False,
        "navigation": "messaging.console.sidebar.navigation",  # built per request: entries by role
    },
}
# unfold's login page posts no "next" field: a sign-in at /admin/login/ would land on Django's
# default /accounts/profile/ (a 404 here) instead of the console's front page.
LOGIN_REDIRECT_URL = "admin:index"
# --- end of console shell ---------------------------------------------------------------------

# --- API --------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "accounts.api_auth.ThrottledBasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 100,
}

# --- Audience: imports and exports (messaging/services/audience_io.py) ------------------------
# A file bigger than this is refused before it is parsed (admin, API, command). The upload itself is
# still received: cap the request body at the proxy too (e.g. nginx client_max_body_size).
AUDIENCE_IMPORT_MAX_BYTES = env.get_int("AUDIENCE_IMPORT_MAX_BYTES", 200 * 1024 * 1024, minimum=1024)
AUDIENCE_IMPORT_MAX_ROWS = env.get_int("AUDIENCE_IMPORT_MAX_ROWS", 2_000_000, minimum=1)
# Files up to this size are imported in the request (the result shows at once); bigger ones run
# as a task-queue job (a million rows take ~40 s, past a web worker's timeout) and the batch page
# shows their progress.
AUDIENCE_IMPORT_INLINE_MAX_BYTES = env.get_int("AUDIENCE_IMPORT_INLINE_MAX_BYTES", 2 * 1024 * 1024, minimum=0)

PHONENUMBER_DEFAULT_REGION = env.get_str("PHONENUMBER_DEFAULT_REGION", "US")
PHONENUMBER_DB_FORMAT = "E164"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.get_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
# Issue 15: fans' links, invite and reset tokens never reach a log; phone numbers are masked
# (fancommunity/logfilters.py). runserver's access log gets its own filtered handler.
LOGGING["filters"] = {"redact": {"()": "fancommunity.logfilters.RedactSecrets"}}
LOGGING["handlers"]["console"]["filters"] = ["redact"]
LOGGING["formatters"]["server"] = {
    "()": "django.utils.log.ServerFormatter",
    "format": "[{server_time}] {message}",
    "style": "{",
}
LOGGING["handlers"]["server"] = {"class": "logging.StreamHandler", "formatter": "server", "filters": ["redact"]}
LOGGING["loggers"]["django.server"] = {"handlers": ["server"], "level": "INFO", "propagate": False}
# The twilio SDK logs each request's URL and headers at INFO (about ten lines per SMS): measured, that
# halves the async send rate (bench.bench_sandbox) and floods the log. TWILIO_LOG_LEVEL=INFO shows them.
LOGGING["loggers"]["twilio"] = {"level": env.get_str("TWILIO_LOG_LEVEL", "WARNING")}
# --- Development terminal (issue 11: `make run` shows the texts and the errors) -------------------
if DEBUG:
    # django-q2 logs its scheduler, heartbeat and every finished task at INFO (thousands of lines an
    # hour), and runserver every request and static file at INFO; their warnings and errors (task
    # failures, 4xx/5xx answers) still show. Q_LOG_LEVEL=INFO / SERVER_LOG_LEVEL=INFO bring them back.
    LOGGING["loggers"]["django-q"] = {"level": env.get_str("Q_LOG_LEVEL", "WARNING")}
    LOGGING["loggers"]["django.server"]["level"] = env.get_str("SERVER_LOG_LEVEL", "WARNING")
# --- end of development terminal -----------------------------------------------------------

# --- Operations (issue 17: health, metrics, JSON logs, shared uploads, backups) ---------------
# /healthz, /healthz/strict and /metrics are answered by this middleware before the HTTPS redirect
# and the Host check (probes speak plain HTTP to internal addresses); it also times the webhooks.
MIDDLEWARE.insert(0, "fancommunity.middleware.OpsEndpointsMiddleware")
SECURE_REDIRECT_EXEMPT = [r"^healthz(/strict)?/?$", r"^metrics/?$"]
# A cluster whose heartbeat task (every minute on its own queue) last succeeded longer ago than
# this is reported down by /healthz/strict.
HEALTH_HEARTBEAT_MAX_AGE = env.get_int("HEALTH_HEARTBEAT_MAX_AGE", 180, minimum=30)
# /metrics: a bearer token from anywhere (METRICS_TOKEN or METRICS_TOKEN_FILE), or these networks.
METRICS_TOKEN = env.get_str("METRICS_TOKEN", "")
try:
    import ipaddress as _ipaddress

    METRICS_ALLOWED_NETWORKS = [
        _ipaddress.ip_network(n.strip(), strict=False)
        for n in env.get_list("METRICS_ALLOWED_NETWORKS", ["127.0.0.1/32", "::1/128"])
        if n.strip()
    ]
except ValueError as _exc:
    raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {_exc}") from None
# LOG_FORMAT=json: one JSON object a line (for Loki, CloudWatch, journald ...). Either format runs
# every record through the redaction filter: no fan's phone number or message text in the logs.
LOG_FORMAT = env.get_str("LOG_FORMAT", "plain").strip().lower()
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT: expected plain or json, got {LOG_FORMAT!r}")
# (the one redaction filter, set above: fancommunity.logfilters.RedactSecrets)
LOGGING["formatters"]["json"] = {"()": "fancommunity.logs.JsonFormatter"}
LOGGING["handlers"]["console"]["filters"] = ["redact"]
LOGGING["handlers"]["console"]["formatter"] = LOG_FORMAT
# Uploaded files (campaign MMS images, import files) must reach workers on other machines:
# MEDIA_ROOT is a shared volume (docker-compose.yml mounts one into web and both workers; across
# machines an NFS/EFS mount at the same path, see docs/OPERATIONS.md). Imports are read by the
# worker that runs them; campaign images are served by the web process from this folder.
# Backups (manage.py db_backup): where dumps go and how many of each kind are kept.
BACKUP_DIR = Path(env.get_str("BACKUP_DIR", str(BASE_DIR / "backups")))
BACKUP_KEEP_DAILY = env.get_int("BACKUP_KEEP_DAILY", 7, minimum=1)
BACKUP_KEEP_WEEKLY = env.get_int("BACKUP_KEEP_WEEKLY", 4, minimum=0)
BACKUP_KEEP_MONTHLY = env.get_int("BACKUP_KEEP_MONTHLY", 6, minimum=0)
# --- end of operations -------------------------------------------------------------------------

# --- REST API v1 and outgoing webhooks (issue 16; docs/ARCHITECTURE.md) ------------------------
INSTALLED_APPS += ["drf_spectacular", "drf_spectacular_sidecar"]
MIDDLEWARE += ["fancommunity.api_v1.deprecation.ApiDeprecationMiddleware"]  # Deprecation header on /api/
# Requests per window per token (per user for console sessions), counted in CACHES["default"]:
# shared across web processes once REDIS_URL is set, per process otherwise.
REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "fancommunity.api_v1.core.V1AutoSchema"  # OpenAPI 3 (drf-spectacular)
API_V1_RATE = env.get_rate("API_V1_RATE", "600/60")
# An Idempotency-Key answers retries this long; older keys are pruned hourly (api_tokens.idempotency_keys_prune).
API_V1_IDEMPOTENCY_HOURS = env.get_int("API_V1_IDEMPOTENCY_HOURS", 24, minimum=1)
SPECTACULAR_SETTINGS = {
    "TITLE": "fancommunity API",
    "VERSION": "1",
    "DESCRIPTION": "REST API v1. Authenticate with `Authorization: Bearer fc_live_...` (a token an owner "
    "creates in the console). Errors are JSON with a stable `code` and a human `message`.",
    "COMPONENT_SPLIT_REQUEST": True,  # read-only fields do not appear in request bodies
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",  # served from our own static files: no CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {"ConversationStatusEnum": "messaging.conversations.models.Conversation.Status"},
    "DEFAULT_GENERATOR_CLASS": "fancommunity.api_v1.schema.V1SchemaGenerator",  # v1 routes only
}

# --- Message archive (issue 17 §5; messaging/sending/archive.py) ---------------------------------
# Message rows older than this many days, once the retention policy has wiped their words and
# numbers, go to gzipped JSONL files per month and leave the tables. Must be longer than a tracked
# link's life, reply attribution and the automations' de-duplication (checked: messaging.W017).
MESSAGE_ARCHIVE_AFTER_DAYS = env.get_int("MESSAGE_ARCHIVE_AFTER_DAYS", 400, minimum=1)
# A local folder (a shared volume across machines) unless a bucket is set: then S3-compatible
# storage at MESSAGE_ARCHIVE_S3_ENDPOINT_URL (empty: AWS), credentials as boto3 reads them
# (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or an instance role).
MESSAGE_ARCHIVE_DIR = Path(env.get_str("MESSAGE_ARCHIVE_DIR", str(BASE_DIR / "archive")))
MESSAGE_ARCHIVE_S3_BUCKET = env.get_str("MESSAGE_ARCHIVE_S3_BUCKET", "")
MESSAGE_ARCHIVE_S3_PREFIX = env.get_str("MESSAGE_ARCHIVE_S3_PREFIX", "messages/")
MESSAGE_ARCHIVE_S3_ENDPOINT_URL = env.get_str("MESSAGE_ARCHIVE_S3_ENDPOINT_URL", "")
MESSAGE_ARCHIVE_S3_REGION = env.get_str("MESSAGE_ARCHIVE_S3_REGION", "us-east-1")
MESSAGE_ARCHIVE_ROWS_PER_FILE = env.get_int("MESSAGE_ARCHIVE_ROWS_PER_FILE", 50_000, minimum=1)
# Issue 17 (fifth session): a send task queues its successor at its deadline, while its own booked
# slices still send (messaging/sending/pipeline.py). Off by default: on the loaded test machine a
# run with it put 79 texts in one second at AT&T's 75 (see docs/ARCHITECTURE.md, "Production, closing").
CAMPAIGN_HAND_OVER = env.get_bool("CAMPAIGN_HAND_OVER", False)
