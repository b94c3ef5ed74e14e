"""SMS character counting: which encoding a text needs and how many SMS parts it costs.

(Carriers call a part a "segment"; in this project "segment" means an audience segment only.)
GSM-7 (3GPP TS 23.038): 160 units in one part, 153 per part when split (the user-data
header takes the rest); the extension characters below are sent as ESC + char and take 2 units.
One character outside GSM-7 switches the whole message to UCS-2: 70 units, 67 per part, counted
in UTF-16 code units (an emoji outside the BMP takes 2). Parts never split an escape pair or a
surrogate pair, which is why counting is done unit by unit instead of by division.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7 = "GSM-7"
UCS2 = "UCS-2"


@dataclass(frozen=True)
class SmsParts:
    encoding: str  # "GSM-7" or "UCS-2"
    parts: int  # what the carrier bills; 0 for an empty text
    units: int  # GSM-7 septets (extension characters count 2) or UTF-16 code units
    per_part: int  # units a part holds at this length (160/153 or 70/67)
    non_gsm: tuple[str, ...] = ()  # the characters that forced UCS-2, to show the author

    @property
    def is_unicode(self) -> bool:
        return self.encoding == UCS2

    # The names of messaging.encoding.segment_info's result, for callers of that kept entry point.
    @property
    def segments(self) -> int:
        return self.parts

    @property
    def per_segment(self) -> int:
        return self.per_part


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _unit_widths(text: str) -> tuple[str, list[int]]:
    non_gsm = [ch for ch in text if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION]
    if not non_gsm:
        return GSM7, [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    # UTF-16 code units: characters beyond the BMP are a surrogate pair that must stay together.
    return UCS2, [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _count_parts(widths: list[int], per_part: int) -> int:
    parts, used = 1, 0
    for width in widths:
        if used + width > per_part:  # an escape or surrogate pair moves whole to the next part
            parts += 1
            used = 0
        used += width
    return parts


def sms_parts(text: str) -> SmsParts:
    """The encoding, the number of SMS parts and the units of `text` as a carrier counts them."""
    encoding, widths = _unit_widths(text)
    units = sum(widths)
    single, multi = (160, 153) if encoding == GSM7 else (70, 67)
    if units == 0:
        return SmsParts(encoding, 0, 0, single)
    if units <= single:
        parts, per_part = 1, single
    else:
        parts, per_part = _count_parts(widths, multi), multi
    non_gsm: tuple[str, ...] = ()
    if encoding == UCS2:
        non_gsm = tuple(dict.fromkeys(ch for ch in text if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION))
    return SmsParts(encoding, parts, units, per_part, non_gsm)
