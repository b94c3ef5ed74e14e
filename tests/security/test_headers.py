"""Browser-side defences (issue 15 §4): strict nonce CSP on fan pages, a documented console and
API-docs policy, Permissions-Policy, and no-store on pages with a fan's data."""

from __future__ import annotations

import re

import pytest
from django.conf import settings

from fancommunity.security import _policy_for
from tests.accounts.join_support import committing, link_in, open_data_link, publish_documents, text_in

pytestmark = pytest.mark.django_db


def _directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in filter(None, (p.strip() for p in header.split(";"))):
        name, *values = part.split()
        out[name] = values
    return out


def _inline_tags_carry_the_nonce(html: str, nonce: str) -> None:
    for tag in re.findall(r"<(?:script|style)\b[^>]*>", html):
        if "src=" in tag:
            continue
        assert f'nonce="{nonce}"' in tag, tag
    assert not re.search(r"\son[a-z]+=", html), "inline event handler on a fan page"


def _join_page(client, personas, sms_outbox):
    publish_documents(personas.talent)
    committing(text_in, client, personas.talent, "hi", "+14155552671")
    return client.get(link_in(sms_outbox[0].body))


def test_fan_pages_have_a_strict_nonce_policy(client, personas, sms_outbox):
    page = _join_page(client, personas, sms_outbox)
    assert page.status_code == 200
    policy = _directives(page["Content-Security-Policy"])
    nonces = [v for v in policy["script-src"] if v.startswith("'nonce-")]
    assert len(nonces) == 1
    nonce = nonces[0][len("'nonce-") : -1]
    assert policy["script-src"] == ["'self'", f"'nonce-{nonce}'"]
    assert policy["style-src"] == ["'self'", f"'nonce-{nonce}'"]
    assert policy["default-src"] == ["'none'"] and policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["base-uri"] == ["'none'"]
    header = page["Content-Security-Policy"]
    assert "unsafe-inline" not in header and "unsafe-eval" not in header
    html = page.content.decode()
    _inline_tags_carry_the_nonce(html, nonce)  # any inline script or style runs only through the nonce
    # A second request gets another nonce.
    again = client.get(link_in(sms_outbox[0].body))
    assert nonce not in again["Content-Security-Policy"]


def test_signup_and_the_fans_data_pages_are_never_cached(client, personas, sms_outbox):
    page = _join_page(client, personas, sms_outbox)
    assert "no-store" in page["Cache-Control"]
    client.get("/")  # a fresh session for the data link
    committing(text_in, client, personas.talent, "MYDATA", str(personas.fan.phone))
    me = open_data_link(client, link_in(sms_outbox[-1].body))
    assert "no-store" in me["Cache-Control"]
    export = client.get("/me/export.json")
    assert export.status_code == 200 and "no-store" in export["Cache-Control"]
    # A public page that holds nothing personal may be cached (health probes are no-store: a
    # cached "ok" would hide an outage).
    assert "no-store" not in client.get(f"/privacy/{personas.talent.slug}/").get("Cache-Control", "")


def test_every_answer_has_a_permissions_policy(client, personas):
    for url in ["/healthz", "/admin/login/", f"/join/{personas.talent.slug}/"]:
        header = client.get(url)["Permissions-Policy"]
        assert "camera=()" in header and "geolocation=()" in header and "microphone=()" in header


def test_the_console_policy_allows_what_unfold_needs_and_no_more(client, personas):
    client.force_login(personas.owner)
    page = client.get("/admin/")
    assert page.status_code == 200
    policy = _directives(page["Content-Security-Policy"])
    assert "'unsafe-eval'" in policy["script-src"]  # Alpine's Function constructor
    assert "'unsafe-inline'" not in policy["script-src"]  # inline scripts still need the nonce
    assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]


def test_console_pages_with_our_inline_scripts_carry_the_nonce(client, personas):
    client.force_login(personas.owner)
    page = client.get("/admin/messaging/segment/add/")
    assert page.status_code == 200
    nonce = re.search(r"'nonce-([^']+)'", page["Content-Security-Policy"]).group(1)
    for tag in re.findall(r"<script\b[^>]*>", page.content.decode()):
        assert "src=" in tag or f'nonce="{nonce}"' in tag or 'type="application/json"' in tag, tag


def test_the_api_docs_have_their_own_documented_policy():
    assert _policy_for("/api/docs/") is settings.CSP_API_DOCS_DIRECTIVES
    assert _policy_for("/admin/") is settings.CSP_CONSOLE_DIRECTIVES
    assert _policy_for("/team/invite/x/") is settings.CSP_CONSOLE_DIRECTIVES  # unfold's pages too
    assert _policy_for("/join/nova/") is None  # the strict default
    docs = settings.CSP_API_DOCS_DIRECTIVES
    assert "'unsafe-inline'" not in docs["script-src"] and "'unsafe-eval'" not in docs["script-src"]


def test_django_csp_is_pinned_to_the_version_the_settings_are_written_for():
    from importlib.metadata import version

    requirements = (settings.BASE_DIR / "requirements.txt").read_text()
    assert "django-csp==4.0\n" in requirements or "django-csp==4.0 " in requirements
    assert version("django-csp") == "4.0"  # 4.0 moved every setting into CONTENT_SECURITY_POLICY
