"""Merge fields and per-recipient link codes."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from messaging.campaigns.render import (
    FanFields,
    parse_recipient_code,
    recipient_code,
    render_body,
    validate_body,
)


def test_merge_fields_and_empty_values():
    body = "Hi {first_name}, see you in {city}!"
    assert render_body(body, FanFields("Ana", "Lyon"), link_codes={}, message_id=1) == "Hi Ana, see you in Lyon!"
    assert render_body(body, FanFields("", ""), link_codes={}, message_id=1) == "Hi, see you in!"


def test_links_become_per_recipient_codes():
    body = "Tickets {link:https://t.example.com/a}"
    one = render_body(body, FanFields(), link_codes={"https://t.example.com/a": "AbC123"}, message_id=42)
    two = render_body(body, FanFields(), link_codes={"https://t.example.com/a": "AbC123"}, message_id=43)
    assert one != two and one.startswith("Tickets https://fans.example.com/l/AbC123")
    code = one.rsplit("/", 1)[1]
    assert parse_recipient_code(code) == ("AbC123", 42)
    assert parse_recipient_code(code[:-1] + ("x" if code[-1] != "x" else "y")) is None
    assert recipient_code("AbC123", 10**6) != recipient_code("AbC123", 10**6 + 1)


@pytest.mark.parametrize(
    "body",
    ["", "Hi {name}", "Go {link:notaurl}", "Oops {first_name", "Hi }"],
)
def test_bad_bodies_are_rejected_with_a_reason(body):
    with pytest.raises(ValidationError):
        validate_body(body)


def test_good_body_passes():
    validate_body("Hi {first_name} from {city}: {link:https://example.com/x?y=1}")
