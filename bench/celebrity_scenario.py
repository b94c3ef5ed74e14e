"""The celebrity benchmark's scenario: the fans' texts, built and signed before any clock starts."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from urllib.parse import urlencode

from bench.celebrity_config import COUNT, STOP_SHARE

FIRST_TEXTS = [
    "omg is this really you??",
    "OMG OMG OMG",
    "is this actually your number",
    "hiiii from ohio!!",
    "no way this is real",
    "i love you so much 😭",
    "can't believe i'm texting you rn",
    "hey!! it is really me lol",
    "screaming. crying. texting.",
    "hi!! biggest fan here",
]
LATER_TEXTS = [
    "ok i'm still shaking",
    "when's the next tour??",
    "please come to brazil 🇧🇷",
    "my mom says hi",
    "what's your favourite song on the new album",
    "thank you for everything",
    "i've been a fan since day one",
    "did you get my last text",
    "this made my whole year",
    "see you at the show friday!",
]
# Opt-out wordings fans really send; each is checked against consent/keywords.py before the run.
STOP_TEXTS = ["STOP", "stop", "Stop.", "Stop!", " stop ", "STOP please", "unsubscribe", "Unsubscribe", "cancel", "quit"]


# --- requests, built and signed before any clock starts --------------------------------------------
def number(i: int) -> str:
    return f"+1312{2000000 + i:07d}"  # Chicago numbers, all possible and distinct (i < 8,000,000)


def signed_requests(talent, url: str, auth_token: str, account_sid: str, bodies: list[tuple[str, str]]) -> list:
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(auth_token)
    requests = []
    for from_, body in bodies:
        sid = "SM" + uuid.uuid4().hex
        payload = {"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": account_sid,
                   "From": from_, "To": str(talent.sender_number), "Body": body, "NumMedia": "0", "NumSegments": "1",
                   "SmsStatus": "received", "ApiVersion": "2010-04-01", "FromCountry": "US", "ToCountry": "US"}  # fmt: skip
        requests.append([urlencode(payload), validator.compute_signature(url, payload)])
    return requests


def check_wordings(data_keyword: str) -> None:
    """Chatter must be chatter and every STOP wording an opt-out, by the rule the webhook itself
    applies (consent/keywords.classify). `match()` alone let "who is this lol" through, which
    classify() holds as a possible opt-out: a tenth of phase 1 took the inline path and no link."""
    from consent.keywords import Rule, classify

    for body in FIRST_TEXTS + LATER_TEXTS:
        if (rule := classify(body, data_keyword=data_keyword).rule) is not Rule.OTHER:
            raise RuntimeError(f"{body!r} is {rule} by consent/keywords.py: pick another ordinary text")
    for body in STOP_TEXTS:
        if classify(body, data_keyword=data_keyword).rule is not Rule.OPT_OUT:
            raise RuntimeError(f"{body!r} is not an opt-out by consent/keywords.py")


# --- the scenario -------------------------------------------------------------------------------------
@dataclass
class Scenario:
    numbers: list[str]  # phase 1's senders, one new number each
    stop_numbers: set[str]  # those who opt out in phase 2
    phase1: list  # signed requests, [form body, signature]
    phase2: list
    phase2_from: list[str]  # the sender of each phase-2 request, in firing order


def build_scenario(talent, url: str) -> Scenario:
    from django.conf import settings

    numbers = [number(i) for i in range(COUNT)]
    rng = random.Random(20_000)
    stops = set(rng.sample(range(COUNT), round(COUNT * STOP_SHARE)))
    order = list(range(COUNT))
    rng.shuffle(order)  # the same fans texting again, in another order
    first = [(numbers[i], FIRST_TEXTS[i % len(FIRST_TEXTS)]) for i in range(COUNT)]
    second = [
        (numbers[i], STOP_TEXTS[i % len(STOP_TEXTS)] if i in stops else LATER_TEXTS[i % len(LATER_TEXTS)])
        for i in order
    ]
    token, sid = settings.TWILIO_AUTH_TOKEN, settings.TWILIO_ACCOUNT_SID
    return Scenario(
        numbers=numbers,
        stop_numbers={numbers[i] for i in stops},
        phase1=signed_requests(talent, url, token, sid, first),
        phase2=signed_requests(talent, url, token, sid, second),
        phase2_from=[from_ for from_, _ in second],
    )
