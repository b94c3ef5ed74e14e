"""SMS parts counted as carriers do it: GSM-7 (160 / 153 per part) or UCS-2 (70 / 67 per part).

GSM-7 extension characters take two septets, UCS-2 counts UTF-16 code units (an emoji takes two),
and a part never splits an escape pair or a surrogate pair.
"""

from __future__ import annotations

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[]~|€\f")
GSM7 = GSM7_BASIC | GSM7_EXTENSION


def is_gsm7(text: str) -> bool:
    return GSM7.issuperset(text)


def _parts(units: list[int], single: int, per_part: int) -> int:
    """units: the width of each character; parts are filled without splitting a character."""
    total = sum(units)
    if total <= single:
        return 1
    parts, used = 1, 0
    for width in units:
        if used + width > per_part:
            parts += 1
            used = 0
        used += width
    return parts


def count_parts(text: str) -> int:
    if not text:
        return 1
    # Where every character is one unit (no GSM-7 escape, no UTF-16 surrogate pair: nearly every
    # text), the parts are a division; the sandbox counts every message it accepts.
    chars = set(text)
    if GSM7.issuperset(chars):
        if chars.isdisjoint(GSM7_EXTENSION):
            return 1 if len(text) <= 160 else -(-len(text) // 153)
        return _parts([2 if ch in GSM7_EXTENSION else 1 for ch in text], 160, 153)
    if max(chars) <= "\uffff":
        return 1 if len(text) <= 70 else -(-len(text) // 67)
    return _parts([2 if ord(ch) > 0xFFFF else 1 for ch in text], 70, 67)


def encoding(text: str) -> str:
    return "GSM-7" if is_gsm7(text) else "UCS-2"
