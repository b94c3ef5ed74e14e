"""Kept for callers of `messaging.encoding.segment_info(text)`: the SMS-parts counter lives in
messaging/sms/parts.py as `sms_parts`. The result also answers `.segments` and `.per_segment`."""

from messaging.sms.parts import sms_parts as segment_info

__all__ = ["segment_info"]
