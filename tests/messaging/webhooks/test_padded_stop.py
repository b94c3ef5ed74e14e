"""Issue 10 §5, audited: a 100 KB body must never hide a STOP. The webhook cuts a body to what a
phone can send (1,600 characters) and the classifier's length rule ("long texts are letters to the
team") used to count the padding too, so "STOP" followed by 100,000 spaces went to the inbox and the
fan stayed subscribed."""

from __future__ import annotations

import pytest

from accounts.models import Fan
from consent.models import ConsentRecord
from messaging.models import InboundMessage
from tests.accounts.join_support import text_in

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("padding", [" " * 100_000, "\r\n" * 50_000])
def test_a_stop_followed_by_100_kb_of_whitespace_opts_the_fan_out_before_the_answer(client, personas, padding):
    response = text_in(client, personas.talent, "STOP" + padding, str(personas.fan.phone))
    assert response.status_code == 200
    personas.fan.refresh_from_db()
    assert personas.fan.status == Fan.Status.OPTED_OUT
    assert ConsentRecord.objects.filter(fan=personas.fan, action="withdrawn").count() == 1
    stored = InboundMessage.objects.get()
    assert stored.action == InboundMessage.Action.OPT_OUT and stored.body.startswith("STOP")


@pytest.mark.parametrize("padding", [" " * 100_000, "\n" * 100_000, "\x00" * 100_000])
def test_a_stop_after_100_kb_of_padding_opts_the_fan_out_too(client, personas, padding):
    # The audit's case: the padding first, so a cut at 1,600 characters kept only the padding.
    response = text_in(client, personas.talent, padding + "STOP", str(personas.fan.phone))
    assert response.status_code == 200
    personas.fan.refresh_from_db()
    assert personas.fan.status == Fan.Status.OPTED_OUT
    assert InboundMessage.objects.get().body == "STOP"
