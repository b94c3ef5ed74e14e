"""Small typed readers for environment variables.

Every knob of the project is read here, once, at settings import. A bad value raises
ImproperlyConfigured naming the variable, so an operator sees one line, not a traceback wall
(manage.py and wsgi.py print that line and exit non-zero).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from dj_database_url import DBConfig

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def get_str(name: str, default: str = "") -> str:
    """A string; NAME_FILE (a path to a secret file) wins over NAME when set."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        try:
            return Path(file_path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {file_path!r} ({exc.strerror})") from None
    return os.environ.get(name, default)


def get_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}: expected true/false, got {raw!r}")


def get_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}: must be at least {minimum}, got {value}")
    return value


def get_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected a number, got {raw!r}") from None


def get_rate(name: str, default: str) -> tuple[int, int]:
    """A fixed-window rate "N/SECONDS" (e.g. 30/3600) as (N, SECONDS)."""
    raw = (os.environ.get(name) or default).strip()
    count, _, seconds = raw.partition("/")
    try:
        value = (int(count), int(seconds))
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected requests/seconds like 30/3600, got {raw!r}") from None
    if value[0] < 1 or value[1] < 1:
        raise ImproperlyConfigured(f"{name}: both numbers must be at least 1, got {raw!r}")
    return value


def get_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def get_database(name: str, default: str) -> DBConfig:
    """A DATABASE_URL parsed by dj-database-url, with a clear error for a malformed one."""
    import dj_database_url

    raw = os.environ.get(name) or default
    try:
        config = dj_database_url.parse(raw, conn_max_age=0)
    except Exception:  # dj-database-url raises several types for bad input
        raise ImproperlyConfigured(
            f"{name}: cannot parse {_redact(raw)!r}; expected postgres://USER:PASSWORD@HOST:PORT/NAME or sqlite:///PATH"
        ) from None
    engine = config.get("ENGINE", "")
    if engine not in {"django.db.backends.sqlite3", "django.db.backends.postgresql"}:
        raise ImproperlyConfigured(f"{name}: only sqlite:// and postgres:// URLs are supported, got {_redact(raw)!r}")
    if engine == "django.db.backends.postgresql" and not config.get("NAME"):
        raise ImproperlyConfigured(f"{name}: a PostgreSQL URL needs a database name, got {_redact(raw)!r}")
    return config


def get_redis_url(name: str) -> str:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return ""
    from urllib.parse import urlparse

    parsed = urlparse(raw)
    if parsed.scheme not in {"redis", "rediss", "unix"} or (parsed.scheme != "unix" and not parsed.hostname):
        raise ImproperlyConfigured(f"{name}: expected redis://host:port/db, got {_redact(raw)!r}")
    try:
        parsed.port  # noqa: B018 - raises ValueError on a non-numeric port
    except ValueError:
        raise ImproperlyConfigured(f"{name}: bad port in {_redact(raw)!r}") from None
    return raw


def _redact(url: str) -> str:
    """Hide a password in a URL before it is printed."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable>"
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


EMAIL_BACKENDS = {
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "smtp+tls": "django.core.mail.backends.smtp.EmailBackend",
    "smtp+ssl": "django.core.mail.backends.smtp.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
    "locmem": "django.core.mail.backends.locmem.EmailBackend",
    "dummy": "django.core.mail.backends.dummy.EmailBackend",
}


def get_email(name: str, default: str) -> dict:
    """An EMAIL_URL as Django's EMAIL_* settings.

    smtp://USER:PASSWORD@HOST:PORT (plain, STARTTLS if the server offers nothing else: none),
    smtp+tls://... (STARTTLS, default port 587), smtp+ssl://... (implicit TLS, default port 465),
    console:// (prints mails), locmem:// (tests: django.core.mail.outbox), dummy:// (drops them).
    User and password are percent-decoded, so a password may hold any character (%40 for @).
    NAME_FILE works as for the other secrets (the whole URL in a file).
    """
    from urllib.parse import unquote, urlsplit

    raw = (get_str(name, "") or default).strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured(
            f"{name}: cannot parse {_redact(raw)!r}; expected smtp://USER:PASSWORD@HOST:PORT"
        ) from None
    scheme = parts.scheme.lower()
    if scheme not in EMAIL_BACKENDS or "://" not in raw:
        raise ImproperlyConfigured(
            f"{name}: unknown scheme in {_redact(raw)!r}; use smtp://, smtp+tls://, smtp+ssl://, console:// or locmem://"
        )
    config: dict = {
        "EMAIL_BACKEND": EMAIL_BACKENDS[scheme],
        "EMAIL_HOST": "localhost",
        "EMAIL_PORT": 25,
        "EMAIL_HOST_USER": "",
        "EMAIL_HOST_PASSWORD": "",
        "EMAIL_USE_TLS": False,
        "EMAIL_USE_SSL": False,
    }
    if not scheme.startswith("smtp"):
        return config
    if not parts.hostname:
        raise ImproperlyConfigured(f"{name}: an smtp URL needs a host, got {_redact(raw)!r}")
    config.update(
        EMAIL_HOST=parts.hostname,
        EMAIL_PORT=port or {"smtp": 25, "smtp+tls": 587, "smtp+ssl": 465}[scheme],
        EMAIL_HOST_USER=unquote(parts.username or ""),
        EMAIL_HOST_PASSWORD=unquote(parts.password or ""),
        EMAIL_USE_TLS=scheme == "smtp+tls",
        EMAIL_USE_SSL=scheme == "smtp+ssl",
    )
    return config
