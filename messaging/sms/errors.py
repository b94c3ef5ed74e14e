"""One table of provider error codes and what each means for us.

Every rule that reads an error code reads this table: the backend (is a failed send permanent?),
the send engine (retry, opt the fan out, remember a dead number, pause a filtered campaign) and the
status webhook. Room for carrier codes: add rows with source="carrier".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    RETRYABLE = "retryable"  # throttled or queue overflow: nothing was created, send again later
    PERMANENT = "permanent"  # resending the same message cannot succeed
    OPT_OUT = "opt_out"  # the recipient opted out at the carrier/provider: permanent, and opt the fan out
    UNDELIVERABLE = "undeliverable"  # the number can never receive our texts: permanent, and remember it
    FILTERED = "filtered"  # carrier filtering: permanent, and pause the campaign for a person to look
    TRANSIENT = "transient"  # a final status of this message that says nothing about the next one
    # The sender is at fault, not the fan: carriers refuse this number until its 10DLC registration
    # is fixed. The sender is held back (messaging/sending/registration.py) and a campaign text goes
    # back to be sent from another sender of the pool.
    UNREGISTERED = "unregistered"


@dataclass(frozen=True)
class ProviderError:
    code: str
    kind: Kind
    meaning: str
    source: str = "twilio"


ERRORS: dict[str, ProviderError] = {
    e.code: e
    for e in [
        ProviderError("20429", Kind.RETRYABLE, "too many requests"),
        ProviderError("21611", Kind.RETRYABLE, "sender queue over 10 hours of messages"),
        ProviderError("30001", Kind.RETRYABLE, "queue overflow"),
        ProviderError("21211", Kind.UNDELIVERABLE, "invalid To number"),
        ProviderError("21212", Kind.PERMANENT, "invalid From number"),
        ProviderError("21408", Kind.PERMANENT, "region not enabled"),
        ProviderError("21602", Kind.PERMANENT, "body missing"),
        ProviderError("21603", Kind.PERMANENT, "From / MessagingServiceSid missing"),
        ProviderError("21604", Kind.PERMANENT, "To missing"),
        ProviderError("21606", Kind.PERMANENT, "From is not an SMS-capable number of this account"),
        ProviderError("21610", Kind.OPT_OUT, "recipient replied STOP"),
        ProviderError("21612", Kind.PERMANENT, "cannot route to this number"),
        ProviderError("21614", Kind.UNDELIVERABLE, "not a mobile number"),
        ProviderError("21617", Kind.PERMANENT, "body over 1600 characters"),
        ProviderError("30003", Kind.TRANSIENT, "unreachable handset"),
        ProviderError("30004", Kind.PERMANENT, "message blocked"),
        ProviderError("30005", Kind.UNDELIVERABLE, "unknown destination handset"),
        ProviderError("30006", Kind.UNDELIVERABLE, "landline or unreachable carrier"),
        ProviderError("30007", Kind.FILTERED, "carrier filtering"),
        ProviderError("30008", Kind.TRANSIENT, "unknown error"),
        ProviderError(
            "30034", Kind.UNREGISTERED, "the sending number is not registered for 10DLC: carriers block its texts"
        ),
    ]
}


def codes(*kinds: Kind) -> frozenset[str]:
    return frozenset(code for code, error in ERRORS.items() if error.kind in kinds)


RETRYABLE_CODES = codes(Kind.RETRYABLE)
OPT_OUT_CODES = codes(Kind.OPT_OUT)
UNDELIVERABLE_CODES = codes(Kind.UNDELIVERABLE)
FILTERED_CODES = codes(Kind.FILTERED)
UNREGISTERED_CODES = codes(Kind.UNREGISTERED)
# Every code where resending the same message (from the same sender) cannot succeed.
PERMANENT_CODES = codes(Kind.PERMANENT, Kind.OPT_OUT, Kind.UNDELIVERABLE, Kind.FILTERED, Kind.UNREGISTERED)
