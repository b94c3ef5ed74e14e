"""sms_parts: GSM-7 vs UCS-2, 160/153 and 70/67, extension characters, surrogate pairs."""

from __future__ import annotations

import pytest

from messaging.sms.parts import sms_parts


@pytest.mark.parametrize(
    ("text", "encoding", "segments", "units"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 1, 160),
        ("a" * 161, "GSM-7", 2, 161),
        ("a" * 306, "GSM-7", 2, 306),
        ("a" * 307, "GSM-7", 3, 307),
        ("[" * 80, "GSM-7", 1, 160),  # extension characters count double
        ("a" + "€" * 80, "GSM-7", 2, 161),
        ("^{}\\[~]|€", "GSM-7", 1, 18),
        ("Ça coûte 5€", "UCS-2", 1, 11),  # û is not in GSM-7: the whole text switches
        ("é" * 160, "GSM-7", 1, 160),  # é is in the GSM-7 basic set
        ("a" * 70 + "", "GSM-7", 1, 70),
        ("ü" * 69 + "ł", "UCS-2", 1, 70),
        ("ł" * 71, "UCS-2", 2, 71),
        ("ł" * 134, "UCS-2", 2, 134),
        ("ł" * 135, "UCS-2", 3, 135),
        ("🎸" * 35, "UCS-2", 1, 70),  # an emoji is a surrogate pair: 2 units
        ("Hi\u00a0there", "UCS-2", 1, 8),  # a non-breaking space silently switches to UCS-2
        ("“quoted”", "UCS-2", 1, 8),
    ],
)
def test_counts(text, encoding, segments, units):
    info = sms_parts(text)
    assert (info.encoding, info.parts, info.units) == (encoding, segments, units)


def test_escape_pair_is_never_split_across_segments():
    # 152 plain characters then a euro sign (2 units): 154 units do not fit in part one's 153,
    # so the pair moves whole to part two.
    assert sms_parts("a" * 152 + "€" + "a" * 10).parts == 2
    assert sms_parts("a" * 152 + "€" + "a" * 152).parts == 3


def test_surrogate_pair_is_never_split_across_segments():
    text = "ł" * 66 + "🎸" + "ł" * 66  # 66 + 2 + 66 = 134 units, but the emoji cannot straddle
    assert sms_parts(text).units == 134
    assert sms_parts(text).parts == 3


def test_non_gsm_characters_are_reported():
    assert sms_parts("Hello “world” ł").non_gsm == ("“", "”", "ł")


@pytest.mark.django_db
def test_api_exposes_the_counter(client, personas):
    client.force_login(personas.manager)
    response = client.post("/api/segment-info/", {"text": "Ça coûte 5€"}, content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {"encoding": "UCS-2", "segments": 1, "units": 11, "per_segment": 70, "non_gsm": ["û"]}
    assert client.post("/api/segment-info/", {}, content_type="application/json").status_code == 400
    client.logout()
    assert client.post("/api/segment-info/", {"text": "x"}, content_type="application/json").status_code == 403
