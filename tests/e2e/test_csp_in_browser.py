"""The Content-Security-Policy in a real browser (issue 15): fan pages and the console work under
it, with no violation reported, and an injected inline script is refused."""

from __future__ import annotations

import pytest

from tests.accounts.join_support import publish_documents
from tests.factories import create_member, create_talent

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _watch_violations(page) -> list[str]:
    seen: list[str] = []
    page.on("console", lambda m: seen.append(m.text) if "Content Security Policy" in m.text else None)
    return seen


def test_fan_page_works_under_the_strict_policy_and_refuses_injected_script(live_server, phone_page):
    from accounts.tokens import join_tokens

    talent = create_talent("nova-csp", display_name="Nova Ray", program_name="Nova Ray Fan Club")
    publish_documents(talent)
    page = phone_page
    violations = _watch_violations(page)
    token = join_tokens.make_token(talent=talent, phone="+14155552671")
    page.goto(f"{live_server.url}/join/{talent.slug}/?t={token}")
    assert "Join Nova Ray" in page.title()
    # The nonce'd <style> applied (the header's brand colour), and the nonce'd script ran.
    assert page.evaluate("getComputedStyle(document.querySelector('header.fan')).backgroundColor") != "rgba(0, 0, 0, 0)"
    assert violations == []
    # A script injected without the nonce (what an XSS would do) is refused by the browser.
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.__pwned = 1'; document.body.appendChild(s); }"
    )
    assert page.evaluate("window.__pwned") is None  # it never ran


def test_the_console_works_under_its_policy(live_server, phone_page):
    talent = create_talent("nova-console")
    owner = create_member(talent, "owner", "csp_owner").user
    page = phone_page
    violations = _watch_violations(page)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", owner.username)
    page.fill("#id_password", owner.raw_password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    page.goto(f"{live_server.url}/admin/messaging/segment/add/")  # unfold's Alpine widgets and our live-count script
    page.wait_for_load_state("networkidle")
    assert violations == [], violations
