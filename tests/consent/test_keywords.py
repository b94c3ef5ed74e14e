"""The one order of rules (consent/keywords.py classify): a table of wordings, then the order."""

from __future__ import annotations

import pytest

from consent.keywords import FanState, Keyword, Rule, classify, is_reserved, match, state_of

OUT, MAYBE, OTHER = Rule.OPT_OUT, Rule.POSSIBLE_OPT_OUT, Rule.OTHER

# (text, rule, language of the wording). Read by an active fan's number.
WORDINGS = [
    # The exact words, any case, spacing, punctuation or emoji around them.
    ("STOP", OUT, "en"),
    ("stop", OUT, "en"),
    (" Stop ", OUT, "en"),
    ("stop.", OUT, "en"),
    ("STOP!", OUT, "en"),
    ("Stop?!", OUT, "en"),
    ('"STOP"', OUT, "en"),
    ("STOP \U0001f621\U0001f621", OUT, "en"),
    ("\U0001f6d1 stop \U0001f6d1", OUT, "en"),
    ("stopall", OUT, "en"),
    ("Unsubscribe", OUT, "en"),
    ("CANCEL", OUT, "en"),
    ("end", OUT, "en"),
    ("QUIT", OUT, "en"),
    ("revoke", OUT, "en"),
    ("OPTOUT", OUT, "en"),
    ("opt out", OUT, "en"),
    ("Opt-Out", OUT, "en"),
    ("opt  out", OUT, "en"),
    ("stop please", OUT, "en"),
    ("Please stop", OUT, "en"),
    ("ok stop", OUT, "en"),
    ("stop, thanks", OUT, "en"),
    ("STOP!!! help", OUT, "en"),
    ("STOP TOUR", OUT, "en"),
    # Plain sentences asking to stop texting.
    ("stop texting me", OUT, "en"),
    ("Stop texting me.", OUT, "en"),
    ("Please stop texting me!!", OUT, "en"),
    ("can you please stop sending me these messages", OUT, "en"),
    ("quit messaging me \U0001f644", OUT, "en"),
    ("stop the texts", OUT, "en"),
    ("unsubscribe me", OUT, "en"),
    ("Remove me", OUT, "en"),
    ("remove me from this list", OUT, "en"),
    ("take me off your list please", OUT, "en"),
    ("opt me out", OUT, "en"),
    ("no more texts", OUT, "en"),
    ("Don\u2019t text me", OUT, "en"),
    ("do not contact me again", OUT, "en"),
    ("never text me again", OUT, "en"),
    ("I don't want these messages anymore", OUT, "en"),
    ("i no longer want to receive these", OUT, "en"),
    ("leave me alone", OUT, "en"),
    ("cancel my subscription", OUT, "en"),
    ("I want to unsubscribe", OUT, "en"),
    ("how do I stop these texts?", OUT, "en"),
    # Spanish: the words and the sentences (the confirmation is then in Spanish).
    ("PARAR", OUT, "es"),
    ("Baja", OUT, "es"),
    ("alto", OUT, "es"),
    ("cancelar", OUT, "es"),
    ("no más", OUT, "es"),
    ("Basta!", OUT, "es"),
    ("baja por favor", OUT, "es"),
    ("No me envíes más mensajes", OUT, "es"),
    ("por favor no me manden mas mensajes \U0001f64f", OUT, "es"),
    ("dejen de enviarme mensajes", OUT, "es"),
    ("Quiero darme de baja", OUT, "es"),
    ("ya no quiero recibir mensajes", OUT, "es"),
    ("sácame de la lista", OUT, "es"),
    ("bórrenme de esta lista por favor", OUT, "es"),
    ("no mas mensajes gracias", OUT, "es"),
    # Reads like someone who may want out: the team decides.
    ("wrong number", MAYBE, "en"),
    ("who is this?", MAYBE, "en"),
    ("too many texts lately", MAYBE, "en"),
    ("not interested", MAYBE, "en"),
    ("stop texting me so much at night", MAYBE, "en"),
    ("número equivocado", MAYBE, "es"),
    ("this is spam", MAYBE, "en"),
    # Such words used otherwise: never an opt-out.
    ("I'll never stop being a fan", OTHER, "en"),
    ("the end of the video made me cry", OTHER, "en"),
    ("don't stop texting me!!", OTHER, "en"),
    ("please never stop sending these \u2764\ufe0f", OTHER, "en"),
    ("I can't stop listening", OTHER, "en"),
    ("stop by the show tonight?", OTHER, "en"),
    ("stop by later", OTHER, "en"),
    ("endless love", OTHER, "en"),
    ("the end of the tour was great", OTHER, "en"),
    ("cancel culture lol", OTHER, "en"),
    ("stopping by", OTHER, "en"),
    ("I would never unsubscribe", OTHER, "en"),
    ("nunca dejen de escribirme", OTHER, "es"),
    ("the end", OTHER, "en"),
    ("can't wait for the show", OTHER, "en"),
    ("help me find tickets please", OTHER, "en"),
    ("", OTHER, "en"),
    ("   ", OTHER, "en"),
    ("yes please!!! " * 30, OTHER, "en"),
]


def test_the_table_is_large_enough():
    assert len(WORDINGS) >= 60
    assert len({t for t, _, _ in WORDINGS}) == len(WORDINGS)


@pytest.mark.parametrize(("text", "rule", "language"), WORDINGS)
def test_wording(text, rule, language):
    result = classify(text, FanState.ACTIVE)
    assert result.rule is rule, text
    if rule is not OTHER:
        assert result.language == language, text


@pytest.mark.parametrize("state", list(FanState))
def test_opt_out_never_depends_on_who_sends_it(state):
    assert classify("stop texting me", state).rule is OUT
    assert classify("baja", state).rule is OUT


@pytest.mark.parametrize("text", ["START", "start", "Unstop.", " START ", "start please"])
def test_opt_in_only_from_a_number_that_joined(text):
    assert classify(text, FanState.OPTED_OUT).rule is Rule.OPT_IN
    assert classify(text, FanState.ACTIVE).rule is Rule.OPT_IN  # an active fan just gets the confirmation
    joinless = classify(text, FanState.NEW)
    assert joinless.rule is OTHER and joinless.asked_to_join  # rule 7: the signup link


def test_yes_opts_in_only_a_member_who_left():
    assert classify("YES", FanState.OPTED_OUT).rule is Rule.OPT_IN
    assert classify("yes!", FanState.ACTIVE).rule is OTHER
    assert classify("YES", FanState.NEW).asked_to_join


@pytest.mark.parametrize("text", ["HELP", "help", "Help?", "INFO", "info.", "ayuda"])
def test_help(text):
    assert classify(text, FanState.NEW).rule is Rule.HELP


def test_data_keyword_is_per_talent():
    assert classify("MYDATA", FanState.ACTIVE).rule is Rule.MY_DATA
    assert classify("mydata", FanState.ACTIVE).rule is Rule.MY_DATA
    assert classify("MYDATA", FanState.ACTIVE, data_keyword="PRIVACY").rule is OTHER
    assert classify("privacy", FanState.ACTIVE, data_keyword="PRIVACY").rule is Rule.MY_DATA


def test_the_order_platform_rules_before_talent_keywords():
    keywords = ["TOUR", "HELP", "MYDATA", "START", "Presale"]
    assert classify("STOP TOUR", FanState.ACTIVE, talent_keywords=keywords).rule is OUT  # 1 before 6
    assert classify("help", FanState.ACTIVE, talent_keywords=keywords).rule is Rule.HELP  # 3 before 6
    assert classify("MYDATA", FanState.ACTIVE, talent_keywords=keywords).rule is Rule.MY_DATA  # 4 before 6
    assert classify("wrong number", FanState.ACTIVE, talent_keywords=["WRONG"]).rule is MAYBE  # 5 before 6
    tour = classify("tour dates?", FanState.ACTIVE, talent_keywords=keywords)
    assert tour.rule is Rule.TALENT_KEYWORD and tour.keyword == "TOUR"
    assert classify("presale", FanState.NEW, talent_keywords=keywords).keyword == "Presale"
    assert classify("hello", FanState.ACTIVE, talent_keywords=keywords).rule is OTHER


def test_reserved_words_cannot_be_talent_keywords():
    for word in ["STOP", "start", "HELP", "MYDATA", "baja", "unsubscribe", "yes"]:
        assert is_reserved(word), word
    for word in ["TOUR", "PRESALE", "VIP"]:
        assert not is_reserved(word), word


def test_state_of_a_fan_row():
    assert state_of(status=None, joined=False) is FanState.NEW
    assert state_of(status="pending", joined=False) is FanState.NEW
    assert state_of(status="opted_out", joined=False) is FanState.NEW  # texted STOP before joining
    assert state_of(status="opted_out", joined=True) is FanState.OPTED_OUT
    assert state_of(status="active", joined=True) is FanState.ACTIVE
    assert state_of(status="held", joined=True) is FanState.HELD


def test_the_older_match_interface_reads_the_same_rules():
    assert match("stop texting me") is Keyword.OPT_OUT
    assert match("START") is Keyword.OPT_IN
    assert match("help") is Keyword.HELP
    assert match("hi there") is None


@pytest.mark.parametrize("padding", [" " * 100_000, "\n" * 400, " \t\r\n" * 200])
def test_a_stop_padded_past_the_length_limit_is_still_a_stop(padding):
    # Issue 10 §5: a long body must never hide a STOP. The length rule (long texts are letters to
    # the team, never rules 1-4) counts what was written, not whitespace around or inside it.
    assert classify("STOP" + padding).rule is OUT
    assert classify(padding + "stop please" + padding).rule is OUT
    letter = "I love the show but " * 20 + "please stop the texts"
    assert len(letter) > 320 and classify(letter.replace(" ", padding[:3])).rule is not OUT
