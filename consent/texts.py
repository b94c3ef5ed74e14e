"""The compliance texts (CTIA/TCPA wording), built in one place so every path says the same.

Kept in GSM-7 (no curly quotes, no dashes outside ASCII): one character outside it would
silently double the price of every copy.
"""

from __future__ import annotations

from accounts.models import Talent
from accounts.profile import signup_spec
from accounts.tokens import preview_links

RATES = "Msg & data rates may apply."
STOP_HELP = "Reply STOP to cancel, HELP for help."


def messaging_disclosure(talent: Talent) -> str:
    """The wording next to the required checkbox, stored on the ConsentRecord as proof."""
    return (
        f"Yes, I want to receive recurring text messages from {talent.display_name} "
        f"({talent.program_name}) at the number above. {talent.message_frequency}. {RATES} "
        f"Consent is not a condition of purchase. {STOP_HELP}"
    )


def sharing_disclosure(talent: Talent) -> str:
    """Names what is shared: the fields this talent's form asks (never a longer list than that)."""
    fields = ", ".join(spec.label.lower() for spec in signup_spec(talent.signup_fields) if spec.name != "time_zone")
    return (
        f"Share my profile ({fields}) with {talent.display_name}'s partners named on the privacy page. "
        f"Optional; you can withdraw it at any time."
    )


def signup_confirmation(talent: Talent) -> str:
    text = f"{talent.program_name}: You're in! {talent.message_frequency}. {RATES} {STOP_HELP}"
    if talent.welcome_text:
        text += f"\n{talent.welcome_text}"
    return text


def opt_out_confirmation(talent: Talent, language: str = "en") -> str:
    """The one text after an opt-out: the program's name, that it worked, how to come back. No
    marketing, no link, no welcome or help text (CTIA: a single confirmation, nothing more). In the
    language the fan wrote STOP in (the FCC allows the reply in the language of the messages)."""
    if language == "es":
        # No accents outside GSM-7 (a, i, o, u with an acute accent would make it UCS-2).
        return f"{talent.program_name}: Te has dado de baja y no recibiras mas mensajes. Responde START para volver."
    return f"{talent.program_name}: You are unsubscribed and will receive no more messages. Reply START to rejoin."


def opt_in_confirmation(talent: Talent) -> str:
    return f"{talent.program_name}: You are subscribed again. {talent.message_frequency}. {RATES} {STOP_HELP}"


def help_reply(talent: Talent, language: str = "en") -> str:
    if language == "es":
        contact = f" Ayuda: {talent.support_contact}." if talent.support_contact else ""
        return (
            f"{talent.program_name}: {talent.message_frequency}. Pueden aplicarse tarifas de mensajes y datos. "
            f"Responde STOP para cancelar.{contact}"
        )
    contact = f" Help: {talent.support_contact}." if talent.support_contact else ""
    extra = f" {talent.help_text}" if talent.help_text else ""
    return f"{talent.program_name}: {talent.message_frequency}. {RATES} Reply STOP to cancel.{contact}{extra}"


def join_link(talent: Talent, url: str) -> str:
    """The answer to a stranger's first text. One SMS part where the program's name and the site's
    address allow: a burst's links leave at the sender's parts a second, so a two-part link halves
    how many fans a second get theirs and doubles what the talent pays for each. The greeting goes
    first when the whole text (the link at its sent length) would not fit one 160-character GSM
    part; the name, the link and the way out always stay."""
    text = f"{talent.program_name}: Thanks for texting! Join here: {url} Reply STOP to opt out."
    sent = preview_links(text, talent=talent)
    if len(sent) <= 160 and sent.isascii():
        return text
    return f"{talent.program_name}: Join here: {url} Reply STOP to opt out."


def data_link(talent: Talent, url: str) -> str:
    return f"{talent.program_name}: See, download, correct or delete your data here: {url} (the link works once)"


def phone_code(talent: Talent, code: str) -> str:
    return f"{talent.program_name}: Your code is {code}. It proves this number is yours; ignore this text if you did not sign up."


def sharing_reconsent(talent: Talent, url: str) -> str:
    return (
        f"{talent.program_name}: Our terms for sharing data with partners changed. Nothing is shared "
        f"until you agree again: {url} Reply STOP to cancel."
    )
