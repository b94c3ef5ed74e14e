"""SMS pumping (issue 15 §4): codes and links only to served countries, hourly caps per country."""

from __future__ import annotations

import pytest

from accounts.models import AuditEvent, Talent
from messaging.conversations.priority import priority_message_queue
from messaging.models import OutboundMessage
from tests.accounts.join_support import committing, publish_documents, text_in
from tests.factories import create_talent

pytestmark = pytest.mark.django_db
S = OutboundMessage.Status
US = [f"+14155552{i:03d}" for i in range(10)]
UK = [f"+4474001234{i:02d}" for i in range(10)]


@pytest.fixture
def star():
    return create_talent("star", sender_number="+14155550000", home_texts_per_hour=5, abroad_texts_per_hour=2)


def test_a_new_talent_serves_its_senders_country_and_existing_ones_keep_theirs():
    assert create_talent("newbie", sender_number="+14155550000").served_countries == "US"
    assert create_talent("chosen", sender_number="+14155550001", served_countries="US,GB").served_countries == "US,GB"
    old = create_talent("old", sender_number="+14155550002")
    Talent.objects.filter(pk=old.pk).update(served_countries="")  # as before issue 15: everywhere
    old.refresh_from_db()
    old.save()
    assert old.served_countries == ""


def _code(talent, to):
    return priority_message_queue(talent=talent, to=to, body=f"{talent.program_name}: Your code is 123456.")


def test_codes_go_only_to_served_countries(star):
    assert _code(star, US[0]).status == S.PENDING
    refused = _code(star, UK[0])
    assert refused.status == S.SUPPRESSED and "does not text numbers in GB" in refused.error_message


def test_hourly_caps_per_country_high_at_home_low_abroad_and_audited_once(star):
    star.served_countries = "US,GB"
    star.save()
    home = [_code(star, n).status for n in US[:7]]
    abroad = [_code(star, n).status for n in UK[:4]]
    assert home == [S.PENDING] * 5 + [S.SUPPRESSED] * 2
    assert abroad == [S.PENDING] * 2 + [S.SUPPRESSED] * 2
    events = AuditEvent.objects.filter(action="sms.pumping_cap_reached", talent=star)
    assert sorted(e.details["country"] for e in events) == ["GB", "US"]  # once per country and hour
    assert "hourly cap of 2 signup texts to GB" in OutboundMessage.objects.filter(to_number=UK[3]).get().error_message


def test_compliance_texts_and_replies_are_never_capped(star):
    star.home_texts_per_hour = 0
    star.save()
    confirmation = priority_message_queue(
        talent=star, to=US[0], body="You are opted out.", lane=OutboundMessage.Lane.COMPLIANCE
    )
    assert confirmation.status == S.PENDING


def test_join_links_from_a_burst_are_capped(client, star, sms_outbox):
    publish_documents(star)
    for number in US[:7]:
        committing(text_in, client, star, "hi", number)
    rows = OutboundMessage.objects.filter(talent=star).order_by("id")
    assert [r.status for r in rows].count(S.SUPPRESSED) == 2
    assert len(sms_outbox) == 5


def test_the_console_shows_the_counters(client, personas, star):
    from tests.factories import create_member

    owner = create_member(star, "owner", "star_owner").user
    _code(star, US[0])
    client.force_login(owner)
    page = client.get(f"/admin/accounts/talent/{star.pk}/change/")
    assert page.status_code == 200 and b"US: 1 of 5" in page.content


def test_a_talent_on_a_messaging_service_alone_gets_the_home_cap_at_home(settings):
    settings.PHONENUMBER_DEFAULT_REGION = "US"
    service_only = create_talent("svc", sender_number="", messaging_service_sid="MG" + "c" * 32)
    assert service_only.home_country == "US"
    from accounts.pumping import cap_for

    assert cap_for(service_only, "US") == service_only.home_texts_per_hour
