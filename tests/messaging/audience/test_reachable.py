"""Reachable leaves out numbers the provider said can never receive a text (issue 12 §3).

An active fan whose number is in the send engine's UndeliverableNumber (per talent) is counted
nowhere a figure says "reachable": segment previews and sizes, the breakdown, the composer's
recipients and picker sizes, the schedule confirmation, the export's rows and counts.
"""

from __future__ import annotations

import pytest

from accounts.models import Fan
from messaging.audience import exports
from messaging.audience import services as audience
from messaging.campaigns.services import audience_choices, audience_estimate, campaign_estimate, campaign_schedule_plan
from messaging.models import ContactList, ContactListMember, UndeliverableNumber
from tests.factories import create_fan
from tests.messaging.campaign_fixtures import create_campaign

pytestmark = pytest.mark.django_db

EVERYONE = {"all": [{"field": "status", "op": "in", "value": ["active", "opted_out", "pending"]}]}


def test_a_provider_dead_number_is_not_reachable_anywhere(personas):
    talent = personas.talent
    dead = create_fan(talent, "+14155550177", first_name="Dora")
    create_fan(talent, "+14155550178", status=Fan.Status.OPTED_OUT)
    UndeliverableNumber.objects.create(talent=talent, phone=str(dead.phone), error_code="30005")
    # The same number is dead for this talent only: the other talent's fan with it stays reachable.
    create_fan(personas.other_talent, str(dead.phone))
    vip = ContactList.objects.create(talent=talent, name="VIP")
    ContactListMember.objects.bulk_create(
        [ContactListMember(contact_list=vip, fan=personas.fan), ContactListMember(contact_list=vip, fan=dead)]
    )

    counts = audience.segment_counts(talent=talent, definition=EVERYONE)
    assert (counts["active"], counts["reachable"], counts["undeliverable"], counts["opted_out"]) == (2, 1, 1, 1)
    count, sample = audience.segment_preview(talent=talent, definition=EVERYONE)
    assert count == 1 and sample == [personas.fan]
    assert audience.reachable(Fan.objects.filter(talent=personas.other_talent)).count() == 2

    assert audience_estimate(talent=talent, body="Hi").recipients == 1
    campaign = create_campaign(talent)
    assert campaign_estimate(campaign=campaign).recipients == 1
    assert campaign_schedule_plan(campaign=campaign).recipients == 1
    sizes = {(c["kind"], c["name"]): c["size"] for c in audience_choices(talent=talent)}
    assert sizes[("list", "VIP")] == 1
    assert sizes[("segment", "all")] == 1

    assert list(exports.export_queryset(contact_list=vip)) == [personas.fan]
    assert exports.export_counts(contact_list=vip)["reachable"] == 1
