import pytest

from messaging.sandbox.parts import count_parts, encoding


@pytest.mark.parametrize(
    ("text", "segments", "enc"),
    [
        ("", 1, "GSM-7"),
        ("a" * 160, 1, "GSM-7"),
        ("a" * 161, 2, "GSM-7"),
        ("a" * 306, 2, "GSM-7"),
        ("a" * 307, 3, "GSM-7"),
        ("€" * 80, 1, "GSM-7"),  # extension characters take two septets
        ("€" * 81, 2, "GSM-7"),
        ("a" * 152 + "€" + "a" * 10, 2, "GSM-7"),  # the escape pair is not split: 152 + 2 > 153
        ("é" * 160, 1, "GSM-7"),  # é is in the GSM-7 basic set
        ("ê" * 70, 1, "UCS-2"),  # ê is not
        ("ê" * 71, 2, "UCS-2"),
        ("a" * 69 + "\u00a0", 1, "UCS-2"),  # a non-breaking space turns it into UCS-2
        ("😀" * 35, 1, "UCS-2"),  # an emoji is two UTF-16 units
        ("😀" * 36, 2, "UCS-2"),
        ("a" + "😀" * 35, 2, "UCS-2"),  # 71 units
        ("a" * 67 * 2 + "😀", 3, "UCS-2"),
    ],
)
def test_segments_count_like_carriers(text, segments, enc):
    assert count_parts(text) == segments
    assert encoding(text) == enc
