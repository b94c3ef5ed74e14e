"""Keyword rules for inbound texts: opt-out, opt-in, help, data page. First match wins.

Matching is on the whole message, case-insensitive, ignoring surrounding spaces, inner runs of
spaces and trailing punctuation, so "Stop.", " STOP ", "stop!!" all opt out, but "stop by the
show tonight?" does not. Opt-out is checked first: when in doubt, a fan leaving wins.
"""

from __future__ import annotations

import enum
import re


class Keyword(enum.Enum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    MY_DATA = "my_data"


# Twilio's defaults plus every wording the FCC's 2024 rule names.
OPT_OUT_WORDS = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout", "opt out", "opt-out"}
# Short phrases a reasonable person means as opt-out (FCC 2024: "any reasonable means").
OPT_OUT_PHRASES = {
    "stop all",
    "stop it",
    "stop now",
    "stop texting",
    "stop texting me",
    "stop messaging me",
    "stop sending",
    "stop sending me texts",
    "stop sending texts",
    "stop sending me messages",
    "stop sending messages",
    "stop the texts",
    "stop the messages",
    "stop contacting me",
    "unsubscribe me",
    "opt me out",
    "remove me",
    "remove me from this list",
    "remove me from the list",
    "remove me from your list",
    "take me off",
    "take me off the list",
    "take me off your list",
    "no more texts",
    "no more messages",
    "dont text me",
    "don't text me",
    "do not text me",
    "cancel subscription",
    "cancel my subscription",
    "i want to unsubscribe",
    "leave me alone",
}
OPT_IN_WORDS = {"start", "unstop"}
# YES opts in only a fan who is not active (a pending or opted-out fan answering our question);
# from an active fan it is an ordinary reply for the inbox.
CONDITIONAL_OPT_IN_WORDS = {"yes"}
HELP_WORDS = {"help", "info"}

_POLITE = re.compile(r"^(?:please\s+)?(.*?)(?:\s+(?:please|pls|plz|thanks|thank you|thx|now please))?$")
_TRAILING = re.compile(r"[\s.!?,;:~*)\]\"'`]+$")
_LEADING = re.compile(r"^[\s\"'`(\[]+")


def normalise(body: str) -> str:
    text = (body or "").strip().lower()
    text = text.replace("\u2019", "'")  # curly apostrophe from phone keyboards
    text = re.sub(r"[,;:!.?]+(?=\s)", " ", text)  # "stop, thanks" reads as "stop thanks"
    text = _TRAILING.sub("", _LEADING.sub("", text))
    return re.sub(r"\s+", " ", text)


def match(body: str, *, talent_data_keyword: str = "MYDATA", fan_is_active: bool = False) -> Keyword | None:
    text = normalise(body)
    if not text or len(text) > 60:  # a long message is a conversation, not a keyword
        return None
    polite = _POLITE.match(text)
    assert polite is not None  # every part of the pattern is optional and normalise() folds newlines
    core = polite.group(1)
    if text in OPT_OUT_WORDS or core in OPT_OUT_WORDS or core in OPT_OUT_PHRASES:
        return Keyword.OPT_OUT
    if text in OPT_IN_WORDS or (text in CONDITIONAL_OPT_IN_WORDS and not fan_is_active):
        return Keyword.OPT_IN
    if text in HELP_WORDS:
        return Keyword.HELP
    if talent_data_keyword and text == talent_data_keyword.lower():
        return Keyword.MY_DATA
    return None
