"""The twilio backend's form body is urlencode(doseq=True)'s, byte for byte (it replaced it for CPU)."""

from __future__ import annotations

import random
from urllib.parse import parse_qs, urlencode

import pytest

from messaging.sms.backends.twilio import form_encode

CASES = [
    {"To": "+13122000007", "From": "+15559616828", "Body": "Join here: http://x.test/join/a/?t=AbC-_9 Reply STOP."},
    {"Body": "spaces  and+plus & amp = eq % pct ~tilde *star !bang 'q' \"dq\" (p) [b] {c} /s ?q #h"},
    {"Body": "accents é ñ ü, emoji 😭🇧🇷, CJK 你好, NUL-free control \t\n\r"},
    {"MediaUrl": ["https://cdn.test/a b.jpg", "https://cdn.test/ü.png"], "ValidityPeriod": 5},
    {"StatusCallback": "https://fans.test/webhooks/twilio/status/?m=123456", "Body": ""},
    {"Empty list": [], "Tuple": ("a", "b c")},
]


@pytest.mark.parametrize("data", CASES)
def test_the_same_bytes_as_urlencode(data):
    assert form_encode(data) == urlencode(data, doseq=True).encode()


def test_every_single_character_round_trips():
    # Every byte value through UTF-8, and a fixed-seed sample of the BMP and beyond.
    rng = random.Random(10)
    chars = [chr(c) for c in range(1, 256)] + [chr(rng.randrange(256, 0x10FFFF)) for _ in range(500)]
    chars = [c for c in chars if not 0xD800 <= ord(c) <= 0xDFFF]  # lone surrogates are not text
    data = {"Body": "".join(chars), "Key with spaces/é": "x"}
    body = form_encode(data)
    assert body == urlencode(data, doseq=True).encode()
    assert parse_qs(body.decode(), keep_blank_values=True) == {k: [v] for k, v in data.items()}
