"""From an inbound text, through the link and the form on a phone, to the done page and the
confirmation SMS in the outbox."""

from __future__ import annotations

import urllib.parse
import urllib.request

import pytest
from django.conf import settings

from accounts.models import Fan
from consent.models import ConsentRecord
from tests.accounts.join_support import INBOUND_PATH, publish_documents, sign, twilio_inbound_payload
from tests.factories import create_talent

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
FAN_PHONE = "+14155552671"


def _text_in_over_http(base_url: str, payload: dict) -> int:
    request = urllib.request.Request(
        base_url + INBOUND_PATH,
        data=urllib.parse.urlencode(payload).encode(),
        headers={"X-Twilio-Signature": sign(payload), "Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own live server
        return response.status


def test_text_to_join_on_a_phone(live_server, phone_page, sms_outbox):
    talent = create_talent("nova-live", display_name="Nova Ray", program_name="Nova Ray Fan Club")
    publish_documents(talent)

    # 1. The fan texts the talent's number; Twilio calls our webhook (signed).
    payload = twilio_inbound_payload(talent=talent, body="Hi Nova!", from_=FAN_PHONE)
    assert _text_in_over_http(live_server.url, payload) == 200
    assert len(sms_outbox) == 1, "one reply with the signup link"
    link = next(word for word in sms_outbox[0].body.split() if word.startswith(settings.PUBLIC_BASE_URL))
    assert "/join/nova-live/?t=" in link

    # 2. The fan taps the link on their phone.
    page = phone_page
    page.goto(link.replace(settings.PUBLIC_BASE_URL, live_server.url))
    assert "Join Nova Ray" in page.title()
    assert page.locator("#locked-phone").inner_text() == "+1 415-555-2671"
    assert page.locator("input[name=phone]").count() == 0
    assert not page.is_checked("#id_consent_messaging") and not page.is_checked("#id_consent_sharing")
    no_sideways_scroll = "document.documentElement.scrollWidth <= window.innerWidth"
    assert page.evaluate(no_sideways_scroll), "the form fits a phone screen"

    # 3. The default form asks three things (issue 15); the time zone is "Automatic (change)".
    assert page.locator("#id_last_name, #id_email, #id_city, #id_country").count() == 0
    assert "Automatic" in page.inner_text("details.zone summary")
    assert not page.is_visible("#id_time_zone")  # behind "(change)"
    page.fill("#id_first_name", "Rosa")
    page.fill("#id_birth_date", "1999-04-02")
    page.fill("#id_postal_code", "10001")
    # Submitting without the required consent shows the error, focuses it, and stores nothing.
    page.click("button[type=submit]")
    assert page.get_by_text("Tick this box").is_visible()
    assert page.evaluate("document.activeElement.id") == "id_consent_messaging"
    described = page.get_attribute("#id_consent_messaging", "aria-describedby")
    assert "id_consent_messaging_error" in described
    assert "Tick this box" in page.inner_text("#id_consent_messaging_error")
    assert not Fan.objects.filter(phone=FAN_PHONE, status="active").exists()

    # 4. Ticking it joins.
    page.check("#id_consent_messaging")
    page.click("button[type=submit]")
    page.wait_for_url("**/join/nova-live/done/")
    assert page.locator("#done").inner_text() == "You're in, Rosa!"
    assert page.get_by_text("What happens next").is_visible()
    assert page.evaluate(no_sideways_scroll)

    fan = Fan.objects.get(talent=talent, phone=FAN_PHONE)
    assert fan.status == "active" and fan.first_name == "Rosa" and not fan.shares_with_partners
    assert fan.time_zone == "America/New_York"
    assert set(ConsentRecord.objects.filter(fan=fan).values_list("purpose", "action")) == {
        ("messaging", "granted"),
        ("partner_sharing", "declined"),
    }
    assert ConsentRecord.objects.filter(fan=fan, user_agent__contains="Chrome").count() == 2

    # 5. The confirmation SMS is in the outbox.
    assert len(sms_outbox) == 2
    confirmation = sms_outbox[1]
    assert confirmation.to == FAN_PHONE
    for fact in ["Nova Ray Fan Club", talent.message_frequency, "Msg & data rates may apply", "HELP", "STOP"]:
        assert fact in confirmation.body

    # 6. The done page's link opens the fan's own data.
    page.click("text=See, download, correct or delete your data")
    page.click("#open-my-data")
    page.wait_for_url("**/me/")
    assert page.get_by_text("Everything Nova Ray Fan Club holds about you").is_visible()
    assert page.get_by_text("Hi Nova!").is_visible()
    assert page.evaluate(no_sideways_scroll)
