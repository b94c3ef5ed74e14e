"""The lane reads the fans its links are for without building Fan rows (priority._link_fans); the
links it makes from them still open, for the right number, and die with a used nonce."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import Fan
from accounts.tokens import JOIN_LINK, join_tokens, render_links
from messaging.conversations import priority
from tests.factories import create_fan, create_talent

pytestmark = pytest.mark.django_db


def _token(body: str) -> str:
    return body.rsplit("?t=", 1)[1].split()[0]


def test_a_link_made_from_the_light_row_opens_for_its_number():
    talent = create_talent()
    fan = create_fan(talent, status=Fan.Status.PENDING)
    light = priority._link_fans({fan.pk})[fan.pk]
    assert light.phone == str(fan.phone) and light.link_nonce == fan.link_nonce and light.status == fan.status
    body = render_links(f"Join here: {JOIN_LINK}", talent=talent, fan=light)
    assert reverse("accounts:join", args=[talent.slug]) in body
    claim = join_tokens.check_token(talent=talent, token=_token(body))
    assert claim is not None and claim.phone == str(fan.phone)
    # The same as a link made from the Fan row itself: both open, and both die with the nonce.
    row_body = render_links(f"Join here: {JOIN_LINK}", talent=talent, fan=fan)
    fan.rotate_link_nonce()
    fan.save(update_fields=["link_nonce"])
    assert join_tokens.check_token(talent=talent, token=_token(body)) is None
    assert join_tokens.check_token(talent=talent, token=_token(row_body)) is None


def test_an_erased_fan_gets_no_link():
    talent = create_talent()
    fan = create_fan(talent, status=Fan.Status.PENDING)
    Fan.objects.filter(pk=fan.pk).update(phone=None, status=Fan.Status.ERASED)
    light = priority._link_fans({fan.pk})[fan.pk]
    with pytest.raises(ValueError):
        render_links(f"Join here: {JOIN_LINK}", talent=talent, fan=light)
