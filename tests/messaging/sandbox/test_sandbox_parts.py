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


def _reference_parts(text: str) -> int:
    """Character by character, as carriers fill parts (the counting before its fast path)."""
    from messaging.sandbox.parts import GSM7_EXTENSION, _parts, is_gsm7

    if not text:
        return 1
    if is_gsm7(text):
        return _parts([2 if ch in GSM7_EXTENSION else 1 for ch in text], 160, 153)
    return _parts([2 if ord(ch) > 0xFFFF else 1 for ch in text], 70, 67)


def test_the_fast_path_counts_as_the_character_by_character_one():
    import random

    rng = random.Random(10)
    alphabets = ["ab ", "ab€", "abê", "ab😀", "aê😀€"]
    for _ in range(400):
        alphabet = rng.choice(alphabets)
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 480)))
        assert count_parts(text) == _reference_parts(text), text
    assert count_parts("ê" * 135) == 3 and count_parts("a" * 460) == 4
