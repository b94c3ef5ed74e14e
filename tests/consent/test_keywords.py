"""The keyword rules on their own: first match wins, whole message, forgiving about form."""

from __future__ import annotations

import pytest

from consent.keywords import Keyword, match


@pytest.mark.parametrize(
    "body",
    ["STOP", "stop", " Stop ", "stop.", "STOP!", "Stop?!", "stopall", "Unsubscribe", "CANCEL", "end", "QUIT",
     "revoke", "OPTOUT", "opt out", "Opt-Out", "opt  out", "\"STOP\"", "stop please", "Please stop", "STOP PLEASE!",
     "stop texting me", "Stop texting me.", "unsubscribe me", "Remove me", "opt me out", "no more texts",
     "stop, thanks", "Don\u2019t text me"],
)  # fmt: skip
def test_opt_out(body):
    assert match(body) is Keyword.OPT_OUT


@pytest.mark.parametrize("body", ["START", "start", "Unstop.", " START "])
def test_opt_in(body):
    assert match(body) is Keyword.OPT_IN
    assert match(body, fan_is_active=True) is Keyword.OPT_IN


def test_yes_only_opts_in_a_fan_who_is_not_active():
    assert match("YES") is Keyword.OPT_IN
    assert match("yes!", fan_is_active=True) is None


@pytest.mark.parametrize("body", ["HELP", "help", "Help?", "INFO", "info."])
def test_help(body):
    assert match(body) is Keyword.HELP


def test_data_keyword_is_per_talent():
    assert match("MYDATA") is Keyword.MY_DATA
    assert match("mydata") is Keyword.MY_DATA
    assert match("MYDATA", talent_data_keyword="PRIVACY") is None
    assert match("privacy", talent_data_keyword="PRIVACY") is Keyword.MY_DATA


@pytest.mark.parametrize(
    "body",
    ["", "   ", "stop by later", "I can't stop listening", "help me find tickets please", "starting soon?",
     "endless love", "the end of the tour was great", "cancel culture lol", "stopping by", "yes please!!! " * 10],
)  # fmt: skip
def test_ordinary_messages_are_not_keywords(body):
    assert match(body) is None


def test_opt_out_wins_over_everything_else():
    # "STOP" in a message that is only STOP with HELP-ish punctuation still opts out first.
    assert match("stop!!! help") is None  # two keywords in one message: a human reads it
    assert match("STOP.") is Keyword.OPT_OUT
