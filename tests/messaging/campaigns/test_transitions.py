"""Campaign transitions are declared once (CAMPAIGN_TRANSITIONS) and enforced under a row lock."""

from __future__ import annotations

import pytest

from messaging.campaigns.models import CAMPAIGN_TRANSITIONS, Campaign, CampaignStateError
from tests.messaging.campaign_fixtures import create_campaign

pytestmark = pytest.mark.django_db
CS = Campaign.Status


@pytest.mark.parametrize("action", sorted(CAMPAIGN_TRANSITIONS))
def test_every_action_moves_only_from_its_declared_statuses(personas, action):
    allowed_from, targets = CAMPAIGN_TRANSITIONS[action]
    to = sorted(targets)[0]
    for status in CS.values:
        campaign = create_campaign(personas.talent, status=status)
        if status in allowed_from:
            campaign.transition(action, to)
            campaign.refresh_from_db()
            assert campaign.status == to
        else:
            with pytest.raises(CampaignStateError):
                campaign.transition(action, to)
            campaign.refresh_from_db()
            assert campaign.status == status


def test_an_action_cannot_lead_anywhere_it_does_not_declare(personas):
    campaign = create_campaign(personas.talent, status=CS.DRAFT)
    with pytest.raises(ValueError):
        campaign.transition("schedule", CS.COMPLETED)


def test_final_statuses_have_no_way_out():
    final = {CS.COMPLETED, CS.CANCELLED, CS.MISSED}
    assert all(not (final & allowed_from) for allowed_from, _ in CAMPAIGN_TRANSITIONS.values())
