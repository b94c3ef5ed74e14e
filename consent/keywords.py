"""The one order of rules for every inbound text, written once.

`classify(text, state)` is pure (no database) and cheap (a few microseconds: a normalisation and
a handful of precompiled regexes), so the webhook runs it on every text it stores, the rule
processor runs it again with the fan's state, and talent keywords (automations) ask it before
their own match. First match wins:

1. OPT_OUT: an exact word (Twilio's and the FCC's, and Spanish ones) or a plain sentence asking
   to stop texting, in English or Spanish, with emoji and punctuation around it.
2. OPT_IN: START/UNSTOP (YES from a fan who is not active), never from a number that has not
   joined: such a number gets the signup link (rule 7), so nobody passes the age gate or gets a
   consent record for terms never shown by texting START.
3. HELP.
4. MY_DATA: the talent's data keyword.
5. POSSIBLE_OPT_OUT: reads like someone who may want out ("wrong number", "stop texting me so
   much at night"): held from campaigns, shown in the inbox to decide, runs no automation.
6. TALENT_KEYWORD: one of the talent's own keywords (whole message or first word).
7. OTHER: the signup link for a number that has not joined, the conversation for a member.

When in doubt between a fan leaving and anything else, leaving wins; a sentence that only uses
such words otherwise ("I'll never stop being a fan", "the end of the video made me cry") is not
an opt-out.
"""

from __future__ import annotations

import enum
import functools
import re
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass


class Rule(enum.Enum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    MY_DATA = "my_data"
    POSSIBLE_OPT_OUT = "possible_opt_out"
    TALENT_KEYWORD = "talent_keyword"
    OTHER = "other"  # signup link (not joined) or conversation (member)


class FanState(enum.Enum):
    """What the rules need to know about the sender, and nothing more."""

    UNKNOWN = "unknown"  # the webhook: no lookup made (only rule 1 is decided there)
    NEW = "new"  # no fan row, or one that never joined (pending; a STOP before joining)
    ACTIVE = "active"
    HELD = "held"  # a possible opt-out waits for the team's decision
    OPTED_OUT = "opted_out"  # joined once, then left


def state_of(*, status: str | None, joined: bool) -> FanState:
    """The FanState of a fan row's status ("" / None: no row) and whether it ever joined."""
    if status == "active":
        return FanState.ACTIVE
    if status == "held":
        return FanState.HELD
    if status == "opted_out" and joined:
        return FanState.OPTED_OUT
    return FanState.NEW  # no row, pending, erased (its number is gone), or out before joining


@dataclass(frozen=True)
class Classification:
    rule: Rule
    language: str = "en"  # the language of the wording (the confirmation follows it)
    keyword: str = ""  # the talent keyword matched (rule 6)
    asked_to_join: bool = False  # START/YES from a number that has not joined (rule 7: signup link)


# Keep the old names working for callers outside this package (bench, automations).
class Keyword(enum.Enum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    MY_DATA = "my_data"


# --- Normalisation ----------------------------------------------------------------------------

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'"})
_NOT_WORD = re.compile(r"[^a-z0-9' ]+")
_SPACES = re.compile(r"\s+")
MAX_LENGTH = 320  # longer texts are conversations (a letter to the team), never rules 1-4


def normalise(body: str) -> str:
    """Lower case, accents folded ("más" -> "mas"), emoji and punctuation gone, single spaces."""
    text = (body or "").translate(_APOSTROPHES).lower()
    if not text.isascii():  # ASCII is its own NFKD form, with nothing to fold: most texts skip this
        text = unicodedata.normalize("NFKD", text)
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _NOT_WORD.sub(" ", text.replace("-", " "))
    text = " ".join(w.strip("'") for w in _SPACES.split(text))
    return _SPACES.sub(" ", text).strip()


# --- Rule 1: opt-out --------------------------------------------------------------------------

# Twilio's defaults plus every wording the FCC's 2024 rule names; Spanish as carriers read them.
OPT_OUT_WORDS_EN = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout", "opt out"}
OPT_OUT_WORDS_ES = {
    "parar", "para", "alto", "baja", "darme de baja", "cancelar", "detener", "desuscribir", "desuscribirme",
    "anular", "salir", "fin", "no mas", "basta",
}  # fmt: skip
# Words strong enough to lead a short opt-out ("STOP TOUR", "stop now", "unsubscribe pls").
_LEADERS = {"stop", "stopall", "unsubscribe", "optout", "parar", "baja", "desuscribir", "desuscribirme"}
# Words around an opt-out that change nothing ("ok stop", "STOP!!! seriously", "stop por favor").
_FILLER = {
    "please", "pls", "plz", "plse", "now", "thanks", "thank", "you", "thx", "ty", "ok", "okay", "k", "just",
    "all", "already", "seriously", "omg", "ugh", "lol", "me", "it", "asap", "right", "away",
    "immediately", "ya", "por", "favor", "porfa", "porfavor", "gracias", "ahora", "todo", "yes", "si",
    "texting", "texts", "messages", "msgs", "sms", "again", "help", "hey", "hi",
}  # fmt: skip
# A word that makes a leading "stop" something else: "stop by", "stop being so cute".
_NOT_AFTER_LEADER = {"by", "being", "playing", "singing", "lying", "it's", "its", "at", "in", "and", "dancing"}
_NEGATION = r"(?:never|not|dont|don't|do not|won't|wont|can't|cant|cannot|couldn't|couldnt|didn't|didnt|no one)"

_EN_SENTENCES = [
    # "please stop texting me", "can you stop sending these", "quit messaging me"
    r"\b(?:stop|quit|cease|end)\s+(?:texting|txting|messaging|msging|sending|contacting|emailing|spamming)\b",
    r"\b(?:stop|quit)\s+(?:the|these|your|all the|all these|all)\s+(?:texts|messages|msgs|sms|txts)\b",
    r"\bunsubscribe\b",
    r"\bopt(?:\s+me)?\s+out\b|\boptout\b",
    r"\b(?:remove|delete|take|drop|get)\s+(?:me|my number|this number)\s+(?:from|off|out of)\b",
    r"^(?:please\s+)?(?:remove|delete)\s+(?:me|my number)$",
    r"\b(?:don't|dont|do not|never|no longer)\s+(?:text|txt|message|msg|contact|send|sms)\s+(?:me|this number|to me)\b",
    r"\bno more\s+(?:texts|text|messages|msgs|txts|sms)\b",
    r"\b(?:i|we)\s+(?:don't|dont|do not|no longer)\s+want\s+(?:these|your|any|this|to get|to receive|the)\b",
    r"\bleave me alone\b",
    r"\bcancel\s+(?:my\s+)?(?:subscription|membership|texts|messages)\b",
    r"\bi\s+(?:want|wanna|would like)\s+to\s+(?:unsubscribe|opt out|leave|stop getting|stop receiving|cancel)\b",
    r"^(?:stop|end|quit|cancel)\s+(?:this|it all|everything)$",
]
_ES_SENTENCES = [
    # "no me envies mas mensajes", "ya no me manden mensajes"
    r"\b(?:no|ya no|nunca)\s+(?:me\s+)?(?:envies|envien|mandes|manden|escribas|escriban|envie|mande|contacten|contactes)\b",
    r"\bdej(?:a|en|e|ar)\s+de\s+(?:enviarme|mandarme|escribirme|enviar|mandar|contactarme)\b",
    r"\b(?:darme|dame|denme|dar|doy|me doy)\s+de\s+baja\b",
    r"\b(?:quiero|quisiera|deseo)\s+(?:salir|cancelar|desuscribirme|darme de baja|que paren|que dejen)\b",
    r"\b(?:ya\s+)?no\s+(?:quiero|deseo)\s+(?:recibir|mas|sus|tus|estos|los|mensajes)\b",
    r"\b(?:sacame|sacanme|saquenme|borrame|borrenme|eliminame|eliminenme|quitame|quitenme)\s+de\b",
    r"\bno mas\s+(?:mensajes|textos|sms)\b",
    r"\b(?:paren|para|pare)\s+de\s+(?:enviar|mandar|escribir)\b",
]
# One alternation per language: "does any pattern match" in one pass over the text.
_EN_RE = re.compile("|".join(f"(?:{p})" for p in _EN_SENTENCES))
_ES_RE = re.compile("|".join(f"(?:{p})" for p in _ES_SENTENCES))
_NEGATED = re.compile(
    rf"\b{_NEGATION}\s+(?:ever\s+|even\s+)?(?:stop|quit|unsubscribe|cancel|end|opt)\b"
    r"|\b(?:nunca|no)\s+(?:dej\w*|par[ae]\w*|cancel\w*)\b"  # "nunca dejen de enviarme" (never stop)
)
# Qualifiers that turn "stop texting me" into a complaint about how, not a wish to leave:
# such a text is a possible opt-out for the team to decide.
_QUALIFIED = re.compile(r"\b(?:so much|so many|so often|as much|at night|this early|so early|so late|every day)\b")
_MAX_SENTENCE_WORDS = 16


def _opt_out(text: str, words: list[str]) -> Classification | None:
    if text in OPT_OUT_WORDS_EN:
        return Classification(Rule.OPT_OUT, "en")
    if text in OPT_OUT_WORDS_ES:
        return Classification(Rule.OPT_OUT, "es")
    core = [w for w in words if w not in _FILLER]
    core_text = " ".join(core)
    # "ok stop", "STOP!!! 😡 seriously", "stop por favor": an opt-out word and only filler.
    if core_text in OPT_OUT_WORDS_EN and not _NEGATED.search(text):
        return Classification(Rule.OPT_OUT, "en")
    if core_text in OPT_OUT_WORDS_ES and not _NEGATED.search(text):
        return Classification(Rule.OPT_OUT, "es")
    # "STOP TOUR", "stop now", "baja ya": a strong word leads, one more word follows.
    if len(core) == 2 and core[0] in _LEADERS and core[1] not in _NOT_AFTER_LEADER and core == words[: len(core)]:
        return Classification(Rule.OPT_OUT, "es" if core[0] in OPT_OUT_WORDS_ES else "en")
    return None


def _sentence(text: str, words: list[str]) -> Classification | None:
    """A plain sentence asking to stop: an opt-out when short and unqualified, else possible."""
    if _NEGATED.search(text):
        return None  # "don't stop texting me!", "I'll never unsubscribe", "nunca dejen de escribirme"
    for language, pattern in (("es", _ES_RE), ("en", _EN_RE)):
        if pattern.search(text):
            sure = len(words) <= _MAX_SENTENCE_WORDS and not _QUALIFIED.search(text)
            return Classification(Rule.OPT_OUT if sure else Rule.POSSIBLE_OPT_OUT, language)
    return None


# --- Rules 2-6 --------------------------------------------------------------------------------

OPT_IN_WORDS = {"start", "unstop", "subscribe", "join"}
# YES opts in only a fan who is not active (an opted-out member answering our question); from an
# active fan it is an ordinary reply for the inbox.
CONDITIONAL_OPT_IN_WORDS = {"yes", "si"}
HELP_WORDS = {"help", "info", "ayuda"}
# Reads like someone who may want out, but not plainly: the team decides (rule 5).
_POSSIBLE_EN = re.compile(
    "|".join(
        f"(?:{p})"
        for p in (
            r"\bwrong (?:number|person|#)\b",
            r"\bwho (?:is|r|are) (?:this|you)\b",
            r"\btoo many (?:texts|messages|msgs)\b",
            r"\bnot interested\b",
            r"^(?:no thanks|no thank you)$",
            r"\bspam\b",
            r"\bhow (?:do|can) i (?:stop|unsubscribe|opt out|cancel|get off)\b",
        )
    )
)
_POSSIBLE_ES = re.compile(
    "|".join(
        f"(?:{p})"
        for p in (
            r"^(?:no gracias|no me interesa)$",
            r"\bnumero equivocado\b",
            r"\bdemasiados mensajes\b",
            r"\bcomo (?:me doy de baja|cancelo|salgo)\b",
            r"\bquien (?:es|eres)\b",
        )
    )
)


@functools.lru_cache(maxsize=1024)
def _normalised_keyword(keyword: str) -> str:
    """normalise() of a talent's data keyword: the same few words on every text of a burst."""
    return normalise(keyword)


def classify(
    text: str,
    state: FanState = FanState.UNKNOWN,
    *,
    data_keyword: str = "MYDATA",
    talent_keywords: Collection[str] = (),
) -> Classification:
    """Which rule an inbound text falls under (see the module's docstring for the order).

    `talent_keywords`: the talent's own keywords, upper or lower case; one matches the whole
    message or its first word. They come after every platform rule, so a talent cannot take
    STOP, START, HELP or the data keyword ("STOP TOUR" is an opt-out).
    """
    raw = text or ""
    if len(raw) > MAX_LENGTH:
        # Length is counted in what was written, not in padding: "STOP" followed by a screenful
        # of spaces or newlines (issue 10's hostile input) is still a STOP. Only long texts pay.
        raw = " ".join(raw.split())
    raw = raw[: MAX_LENGTH + 1]
    plain = normalise(raw)
    if not plain:
        return Classification(Rule.OTHER)
    words = plain.split(" ")
    if len(raw) <= MAX_LENGTH:
        # 1. Opt-out.
        found = _opt_out(plain, words) or _sentence(plain, words)
        if found is not None and found.rule is Rule.OPT_OUT:
            return found
        possible = found
        # 2. Opt-in, from a number that has joined only.
        core = " ".join(w for w in words if w not in {"please", "pls", "por", "favor", "again", "me"}) or plain
        if core in OPT_IN_WORDS or (core in CONDITIONAL_OPT_IN_WORDS and state is not FanState.ACTIVE):
            if state in (FanState.OPTED_OUT, FanState.HELD, FanState.ACTIVE) or (
                state is FanState.UNKNOWN and core in OPT_IN_WORDS
            ):
                return Classification(Rule.OPT_IN, "es" if core == "si" else "en")
            if state is FanState.NEW:
                return Classification(Rule.OTHER, asked_to_join=True)
        # 3. Help.
        if core in HELP_WORDS:
            return Classification(Rule.HELP, "es" if core == "ayuda" else "en")
        # 4. The data keyword.
        if data_keyword and plain == _normalised_keyword(data_keyword):
            return Classification(Rule.MY_DATA)
        # 5. Possible opt-out.
        if possible is None:
            for language, pattern in (("es", _POSSIBLE_ES), ("en", _POSSIBLE_EN)):
                if pattern.search(plain):
                    possible = Classification(Rule.POSSIBLE_OPT_OUT, language)
                    break
        if possible is not None:
            return possible
    # 6. Talent keywords: the whole message or its first word.
    if talent_keywords:
        wanted = {normalise(k): k for k in talent_keywords}
        for candidate in (plain, words[0]):
            if candidate in wanted:
                return Classification(Rule.TALENT_KEYWORD, keyword=wanted[candidate])
    # 7. Signup link or conversation.
    return Classification(Rule.OTHER)


def is_reserved(word: str, *, data_keyword: str = "MYDATA") -> bool:
    """Would a talent keyword `word` be taken by a platform rule (1-5)? Then it cannot be used."""
    rule = classify(word, FanState.ACTIVE, data_keyword=data_keyword).rule
    opt_in = classify(word, FanState.OPTED_OUT, data_keyword=data_keyword).rule
    return rule is not Rule.OTHER or opt_in is not Rule.OTHER


def match(body: str, *, talent_data_keyword: str = "MYDATA", fan_is_active: bool = False) -> Keyword | None:
    """The platform keyword of a text, or None (the older interface, kept for callers of it)."""
    state = FanState.ACTIVE if fan_is_active else FanState.UNKNOWN
    rule = classify(body, state, data_keyword=talent_data_keyword).rule
    if rule is Rule.OPT_IN and not fan_is_active and normalise(body) in CONDITIONAL_OPT_IN_WORDS:
        return Keyword.OPT_IN
    return {
        Rule.OPT_OUT: Keyword.OPT_OUT,
        Rule.OPT_IN: Keyword.OPT_IN,
        Rule.HELP: Keyword.HELP,
        Rule.MY_DATA: Keyword.MY_DATA,
    }.get(rule)
