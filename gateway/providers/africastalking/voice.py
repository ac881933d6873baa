"""Africa's Talking voice: the call's callback posts read into CallEvents, and what the welcome
call says, as AT's voice XML, in the borrower's language.

AT's text-to-speech (<Say>) speaks English only, so English is composed as text with the
borrower's details, while Kiswahili plays recorded prompts (<Play>) served by the gateway from
gateway/voice_prompts/sw/ (or VOICE_PROMPTS_DIR): a fixed welcome that points to the SMS for the
paybill and account number, and the first due date composed from day and month prompts.
Placeholders come from espeak-ng (scripts/make_voice_prompts.py); a lender can drop in real
recordings under the same names. Any other language (French, Spanish...) gets the call once its folder
holds every prompt; until then the call is skipped and the welcome SMS, which says it all, is enough.
"""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from gateway import money
from gateway.i18n import N_, Speaker
from gateway.inbox import CallbackError
from gateway.messaging.events import CallEvent

WELCOME = N_("Welcome to {lender}, {name}. Your {product} is registered.")
HOW_TO_PAY = N_("Pay with M-Pesa paybill {paybill}, account {account}.")
FIRST_DUE = N_("Your first payment of {amount} is due on {date}.")
MENU = N_("Press 1 to hear your first due date again. Press 2 to ask for a call back.")
CALLBACK_OK = N_("Thank you. One of our agents will call you back soon.")
# Spoken only from recordings (Kiswahili prompts), kept here so the texts live in the catalogs.
PROMPT_WELCOME = N_("Welcome. Your loan is registered. We have sent you an SMS with the paybill number, "
                    "your account number and your first due date.")
PROMPT_FIRST_DUE = N_("Your first payment is due on")

# Prompt files, by name, for languages without text-to-speech (what make_voice_prompts.py writes).
PROMPTS = {"welcome": PROMPT_WELCOME, "first_due": PROMPT_FIRST_DUE, "menu": MENU, "callback_ok": CALLBACK_OK}
PROMPT_FILES = (*PROMPTS, *(f"day_{d:02d}" for d in range(1, 32)), *(f"month_{m:02d}" for m in range(1, 13)))
TTS_LANGUAGES = {"en"}
PROMPTS_DIR = Path(__file__).resolve().parents[2] / "voice_prompts"


def can_speak(lang: str, prompts_dir: str = "") -> bool:
    """Text-to-speech speaks the language, or every recorded prompt of it is there."""
    folder = Path(prompts_dir or PROMPTS_DIR) / lang
    return lang in TTS_LANGUAGES or all((folder / f"{name}.wav").is_file() for name in PROMPT_FILES)


def _xml(*parts: str) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?><Response>' + "".join(parts) + "</Response>"


def _say(text: str) -> str:
    return f'<Say voice="woman" playBeep="false">{escape(text)}</Say>'


def _play(audio_base: str, lang: str, name: str) -> str:
    return f"<Play url={quoteattr(f'{audio_base}/{lang}/{name}.wav')}/>"


def _spell(value: str) -> str:
    return " ".join(value)  # "600966" -> "6 0 0 9 6 6": read digit by digit


class WelcomeCall:
    def __init__(self, speaker: Speaker, callback_url: str, audio_base: str, *, lender: str, name: str,
                 product: str, paybill: str, account_ref: str, amount: str, first_due: dt.date):
        self.s, self.callback_url, self.audio_base = speaker, callback_url, audio_base
        self.lender, self.name, self.product, self.paybill = lender, name, product, paybill
        self.account_ref, self.amount, self.first_due = account_ref, amount, first_due
        self.tts = speaker.lang in TTS_LANGUAGES

    def _menu(self) -> str:
        inner = _say(self.s._(MENU)) if self.tts else _play(self.audio_base, self.s.lang, "menu")
        return (f'<GetDigits numDigits="1" timeout="10" finishOnKey="#" callbackUrl={quoteattr(self.callback_url)}>'
                f"{inner}</GetDigits>")

    def _due_date(self) -> str:
        if self.tts:
            return _say(self.s._(FIRST_DUE, amount=self.amount, date=self.s.date(self.first_due, "d MMMM yyyy")))
        lang = self.s.lang
        return (_play(self.audio_base, lang, "first_due")
                + _play(self.audio_base, lang, f"day_{self.first_due.day:02d}")
                + _play(self.audio_base, lang, f"month_{self.first_due.month:02d}"))

    def greeting(self) -> str:
        if self.tts:
            intro = _say(self.s._(WELCOME, lender=self.lender, name=self.name, product=self.product) + " " +
                         self.s._(HOW_TO_PAY, paybill=_spell(self.paybill), account=_spell(self.account_ref)))
        else:
            intro = _play(self.audio_base, self.s.lang, "welcome")
        return _xml(intro, self._due_date(), self._menu())

    def repeat_due_date(self) -> str:
        return _xml(self._due_date(), self._menu())

    def callback_requested(self) -> str:
        return _xml(_say(self.s._(CALLBACK_OK)) if self.tts else _play(self.audio_base, self.s.lang, "callback_ok"))


def empty() -> str:
    return _xml()


def reject() -> str:
    return _xml("<Reject/>")


ANSWERED = {"Success", "Completed"}


def read_event(form: dict) -> CallEvent:
    session_id = (form.get("sessionId") or "").strip()
    if not session_id:
        raise CallbackError("sessionId is required")
    duration = form.get("durationInSeconds") or ""
    return CallEvent(session_id=session_id, active=form.get("isActive") != "0", direction=form.get("direction", ""),
                     digits=(form.get("dtmfDigits") or "").strip(), answered=form.get("status", "") in ANSWERED,
                     status=form.get("status", ""), hangup_cause=form.get("hangupCause") or "",
                     duration_seconds=_seconds(duration),
                     **_charged(form), data=form)


MAX_CALL_SECONDS = 86_400  # a call's length above a day is not believed (it feeds the call's cost)


def _seconds(text: str) -> int | None:
    """`durationInSeconds` ("121" or "121.0") as whole seconds; None when unreadable or beyond a day."""
    try:
        seconds = Decimal(text.strip())
    except InvalidOperation:
        return None
    return int(seconds) if seconds.is_finite() and 0 <= seconds <= MAX_CALL_SECONDS else None


MAX_CALL_CHARGE = 100_000  # major units: a call's charge above this is not believed (and would not fit a column)


def _charged(form: dict) -> dict:
    """The final report's `amount` ("2.5000") and `currencyCode` ("KES") as minor units; nothing if unreadable."""
    currency = (form.get("currencyCode") or "").strip().upper()
    try:
        amount = Decimal((form.get("amount") or "").strip())
        if not (len(currency) == 3 and currency.isascii() and currency.isalpha()) or not amount.is_finite() \
                or not 0 <= amount <= MAX_CALL_CHARGE:
            return {}
        minor = amount.scaleb(money.digits(currency)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        return {}
    return {"cost_minor": int(minor), "cost_currency": currency}


def answer(step: str, script: dict | None) -> str:
    """The XML for a step of the welcome call (gateway.messaging.voice_callbacks.on_call_event)."""
    if step == "reject":
        return reject()
    if step == "hangup":
        return empty()
    return getattr(WelcomeCall(**script), step)()
