"""Polls as a segment rule ("fans who voted 2 in poll X", issue 13 §5): validated against the
talent's own polls and their answers, compiled to one EXISTS over the fan's current vote, usable
in a campaign's audience and in the console's segment builder."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Fan
from messaging.audience.models import validate_definition
from messaging.audience.rules import SegmentRuleError, describe
from messaging.audience.segments import compile_definition
from messaging.campaigns.services import campaign_audience
from messaging.conversations.models import Poll
from messaging.models import Segment
from tests.accounts.join_support import text_in
from tests.factories import create_fan
from tests.messaging.campaign_fixtures import create_campaign
from tests.messaging.conversations.test_polls import _send

pytestmark = pytest.mark.django_db


@pytest.fixture
def voted(client, personas):
    """Poll "Where next?": Fiona voted 1 then 2 (the last wins), Bea 1, Cal wrote free text."""
    poll = Poll.objects.create(
        campaign=create_campaign(personas.talent, name="Where next?"),
        question="Where next?",
        options=[{"key": "1", "label": "Paris", "keywords": ["paris"]}, {"key": "2", "label": "Tokyo"}],
    )
    fans = [personas.fan, create_fan(personas.talent, first_name="Bea"), create_fan(personas.talent, first_name="Cal")]
    for fan, texts in zip(fans, [["Paris", "2"], ["1"], ["Berlin please"]], strict=True):
        _send(poll, fan)
        for body in texts:
            text_in(client, personas.talent, body, str(fan.phone))
    return poll, fans


def _fans(talent, definition) -> set:
    definition = validate_definition(definition, talent_id=talent.pk)
    return set(Fan.objects.filter(talent=talent).filter(compile_definition(definition)))


def test_the_rule_matches_the_current_vote(personas, voted):
    poll, (fiona, bea, cal) = voted
    rule = {"field": "poll", "op": "voted", "value": {"poll": poll.pk, "answers": ["2"]}}
    assert _fans(personas.talent, rule) == {fiona}  # her first vote (1) no longer counts
    assert _fans(personas.talent, {**rule, "value": {"poll": poll.pk, "answers": [" 1! "]}}) == {bea}
    assert _fans(personas.talent, {**rule, "value": {"poll": poll.pk}}) == {fiona, bea}  # voted at all
    assert cal in _fans(personas.talent, {"not": {**rule, "value": {"poll": poll.pk}}})


def test_another_talents_poll_or_an_unknown_answer_is_refused(personas, voted):
    poll, _ = voted
    rule = {"field": "poll", "op": "voted", "value": {"poll": poll.pk, "answers": ["2"]}}
    with pytest.raises(SegmentRuleError, match="no poll with id"):
        validate_definition(rule, talent_id=personas.other_talent.pk)
    with pytest.raises(SegmentRuleError, match="'3' is not an answer of poll"):
        validate_definition({**rule, "value": {"poll": poll.pk, "answers": ["3"]}}, talent_id=personas.talent.pk)
    with pytest.raises(SegmentRuleError, match="not a poll id"):
        validate_definition({**rule, "value": {"poll": "x"}}, talent_id=personas.talent.pk)
    assert describe(validate_definition(rule, talent_id=personas.talent.pk)) == f"Voted in poll #{poll.pk}: 2"


def test_a_campaign_audience_of_the_voters(personas, voted):
    poll, (fiona, _, _) = voted
    segment = Segment.objects.create(
        talent=personas.talent,
        name="Voted Tokyo",
        definition={"field": "poll", "op": "voted", "value": {"poll": poll.pk, "answers": ["2"]}},
    )
    follow_up = create_campaign(personas.talent, name="Tokyo dates")
    follow_up.include_segments.set([segment])
    assert list(campaign_audience(campaign=follow_up)) == [fiona]


def test_the_builder_takes_poll_number_and_answers(client, personas, voted):
    poll, _ = voted
    client.force_login(personas.manager)
    url = reverse("admin:messaging_segment_add")
    data = {"talent": personas.talent.pk, "name": "Tokyo", "description": "", "match": "all"}
    response = client.post(url, {**data, "cond_0_field": "poll", "cond_0_value": f"{poll.pk}: 3"})
    assert response.status_code == 200  # a form error, never a 500
    assert "is not an answer of poll" in response.context["adminform"].form.errors["cond_0_value"][0]
    response = client.post(url, {**data, "cond_0_field": "poll", "cond_0_value": "Tokyo"})
    assert "start with the poll's number" in response.context["adminform"].form.errors["cond_0_value"][0]
    response = client.post(url, {**data, "cond_0_field": "poll", "cond_0_value": f"{poll.pk}: 2"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    segment = Segment.objects.get(name="Tokyo")
    assert segment.definition == {
        "all": [{"field": "poll", "op": "voted", "value": {"poll": poll.pk, "answers": ["2"]}}]
    }
    page = client.get(reverse("admin:messaging_segment_change", args=[segment.pk]))
    assert page.context["adminform"].form.initial["cond_0_value"] == f"{poll.pk}: 2"
    assert f'value="{poll.pk}: "'.encode() in page.content  # the picker offers the talent's polls
