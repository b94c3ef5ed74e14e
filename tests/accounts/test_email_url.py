"""EMAIL_URL -> Django's EMAIL_* settings; a bad value names the variable."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from fancommunity import env

SMTP = "django.core.mail.backends.smtp.EmailBackend"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "smtp://mailer:p%40ss%3Aword@mail.example.com:2525",
            {
                "EMAIL_BACKEND": SMTP,
                "EMAIL_HOST": "mail.example.com",
                "EMAIL_PORT": 2525,
                "EMAIL_HOST_USER": "mailer",
                "EMAIL_HOST_PASSWORD": "p@ss:word",
                "EMAIL_USE_TLS": False,
                "EMAIL_USE_SSL": False,
            },
        ),
        ("smtp+tls://u:p@smtp.example.com", {"EMAIL_PORT": 587, "EMAIL_USE_TLS": True, "EMAIL_USE_SSL": False}),
        ("smtp+ssl://u:p@smtp.example.com", {"EMAIL_PORT": 465, "EMAIL_USE_TLS": False, "EMAIL_USE_SSL": True}),
        ("smtp://localhost", {"EMAIL_PORT": 25, "EMAIL_HOST_USER": "", "EMAIL_HOST_PASSWORD": ""}),
        ("console://", {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}),
        ("locmem://", {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}),
    ],
)
def test_email_urls(monkeypatch, url, expected):
    monkeypatch.setenv("EMAIL_URL", url)
    config = env.get_email("EMAIL_URL", "console://")
    assert {key: config[key] for key in expected} == expected


def test_default_and_file(monkeypatch, tmp_path):
    monkeypatch.delenv("EMAIL_URL", raising=False)
    assert env.get_email("EMAIL_URL", "console://")["EMAIL_BACKEND"].endswith("console.EmailBackend")
    secret = tmp_path / "email_url"
    secret.write_text("smtp+tls://u:secret@smtp.example.com\n")
    monkeypatch.setenv("EMAIL_URL_FILE", str(secret))
    assert env.get_email("EMAIL_URL", "console://")["EMAIL_HOST_PASSWORD"] == "secret"


@pytest.mark.parametrize(
    "url", ["mail.example.com", "imap://u:p@mail.example.com", "smtp://", "smtp://u:p@host:notaport", "console:"]
)
def test_bad_email_urls_name_the_variable_and_hide_the_password(monkeypatch, url):
    monkeypatch.setenv("EMAIL_URL", url)
    with pytest.raises(ImproperlyConfigured, match="^EMAIL_URL: ") as excinfo:
        env.get_email("EMAIL_URL", "console://")
    assert ":p@" not in str(excinfo.value)


def test_tests_use_locmem(settings):
    assert settings.EMAIL_BACKEND == "django.core.mail.backends.locmem.EmailBackend"
