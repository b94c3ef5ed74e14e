"""Settings > Senders (issue 17): the talent's pool, scoped to the talent, owners edit it, the
daily cap and what waits for it said in words, the carrier-lookup opt-in."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from messaging.models import Campaign
from messaging.sending.models import Sender, SenderDailyCount, SenderPool
from messaging.sending.senders import next_pacific_midnight, pacific_day
from tests.factories import create_fan
from tests.messaging.campaign_fixtures import create_campaign, create_campaign_text

pytestmark = pytest.mark.django_db
CHANGELIST = "admin:messaging_sender_changelist"


def _sender(talent, **fields):
    defaults = {
        "kind": "10dlc",
        "phone_number": "+14155550177",
        "trust_score": 80,
        "brand": "B",
        "tmobile_daily_cap": 2000,
    }
    return Sender.objects.create(talent=talent, **{**defaults, **fields})


def test_the_senders_page_shows_limits_and_the_cap_in_words(client, personas):
    sender = _sender(personas.talent)
    _sender(personas.other_talent, phone_number="+14155550188")
    SenderDailyCount.objects.create(
        talent=personas.talent, cap_key="tmobile:B", day=pacific_day(timezone.now()), parts=2000
    )
    campaign = create_campaign(personas.talent, status=Campaign.Status.SENDING)
    fan = create_fan(personas.talent, "+14155550199")
    create_campaign_text(campaign, fan, body="", status="pending", not_before=next_pacific_midnight(timezone.now()))
    client.force_login(personas.owner)
    page = client.get(reverse(CHANGELIST)).content.decode()
    assert "+14155550177" in page and "+14155550188" not in page  # the current talent's only
    assert "AT&amp;T 75, T-Mobile 75, Verizon 75" in page
    assert (
        "T-Mobile: 2,000 of 2,000 SMS parts today, 0 left. Cap reached: 1 waiting text goes after midnight Pacific time"
        in page
    )
    other = Sender.objects.get(phone_number="+14155550188")
    assert client.get(reverse("admin:messaging_sender_change", args=[other.pk])).status_code == 404
    assert client.get(reverse("admin:messaging_sender_change", args=[sender.pk])).status_code == 200
    menu = client.get(reverse("admin:index")).content.decode()
    assert reverse(CHANGELIST) in menu  # Settings > Senders


def test_an_owner_adds_a_sender_and_opts_in_to_lookups_with_clear_errors(client, personas):
    client.force_login(personas.owner)
    url = reverse("admin:messaging_sender_add")
    base = {
        "talent": personas.talent.pk,
        "kind": "10dlc",
        "phone_number": "+14155550166",
        "position": 0,
        "rate_overrides": "{}",
        "_save": "Save",
    }
    refused = client.post(url, base)
    assert refused.status_code == 200 and "needs its brand" in refused.content.decode()
    bad = client.post(url, {**base, "trust_score": 80, "rate_all": "3"})
    assert "All carriers does not apply to this type of sender" in bad.content.decode()
    _sender(personas.other_talent, phone_number="+14155550166")  # another talent's number
    taken = client.post(url, {**base, "trust_score": 80})
    assert "already a sender" in taken.content.decode()
    Sender.objects.filter(phone_number="+14155550166").delete()
    done = client.post(url, {**base, "trust_score": 80, "lookup_carriers": "on"})
    assert done.status_code == 302
    assert Sender.objects.filter(talent=personas.talent, phone_number="+14155550166").exists()
    assert SenderPool.objects.get(talent=personas.talent).lookup_carriers


def test_managers_do_not_edit_senders(client, personas):
    client.force_login(personas.manager)
    response = client.post(
        reverse("admin:messaging_sender_add"),
        {"talent": personas.talent.pk, "kind": "toll_free", "phone_number": "+18005550100", "position": 0},
    )
    assert response.status_code == 403 and not Sender.objects.exists()


def test_rates_per_carrier_are_number_boxes_not_json(client, personas):
    """Issue 17 §1, audited: the limits are overridable per carrier in the team's words. The page
    asked for JSON ({"att": 75, ...}) typed into a text area; now one box a carrier."""
    client.force_login(personas.owner)
    url = reverse("admin:messaging_sender_add")
    page = client.get(url).content.decode()
    assert "AT&amp;T: SMS parts a second" in page and '{"att"' not in page and "rate_overrides" not in page
    base = {"talent": personas.talent.pk, "kind": "10dlc", "phone_number": "+14155550166", "position": 0}
    typo = client.post(url, {**base, "rate_att": "seventy"})
    assert typo.status_code == 200 and "Write a number of SMS parts a second" in typo.content.decode()
    assert client.post(url, {**base, "rate_att": "0"}).status_code == 200 and not Sender.objects.exists()
    done = client.post(url, {**base, "rate_att": "75", "rate_tmobile": "40", "rate_verizon": "4"})
    assert done.status_code == 302
    sender = Sender.objects.get(phone_number="+14155550166")
    assert sender.rate_overrides == {"att": 75, "tmobile": 40, "verizon": 4}  # no trust score needed
    change = client.get(reverse("admin:messaging_sender_change", args=[sender.pk])).content.decode()
    assert 'name="rate_tmobile" value="40' in change
    toll_free = {**base, "kind": "toll_free", "phone_number": "+18005550100", "rate_all": "3"}
    assert client.post(url, toll_free).status_code == 302
    assert Sender.objects.get(phone_number="+18005550100").rate_overrides == {"all": 3}
