"""Outgoing SMS: templates rendered in the borrower's language, stored (the outbox), queued."""
from __future__ import annotations

import unicodedata
from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlmodel import Session, select

from gateway import jobs, outbox
from gateway.config import ROOT
from gateway.i18n import Speaker
from gateway.models import Borrower, Message

TEMPLATES = ROOT / "templates" / "sms"
# GSM 03.38 basic set + extension (extension characters cost two).
_GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
            "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM7_EXT = set("^{}\\[~]|€\f")
_TYPOGRAPHIC = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
                              "\u2014": "-", "\u2026": "...", "\u00a0": " ", "\u202f": " "})


def _nearest_gsm7(ch: str) -> str:
    base = unicodedata.normalize("NFD", ch)[0]
    return base if base != ch and base in _GSM7 else ch


def gsm7(text: str) -> str:
    """Text for a GSM-7 channel (SMS, USSD): typographic quotes and dashes made ASCII, and letters outside
    GSM 03.38 written without their accent (ê -> e, á -> a, ç -> c), as French and Spanish SMS usually are;
    é, è, à, ñ, ü, ¿, ¡ are GSM-7 and stay. One such letter would make a whole SMS UCS-2 (twice the cost)
    and halve a USSD screen. Anything else outside GSM-7 (an emoji) is left: the message becomes UCS-2."""
    return "".join(ch if ch in _GSM7 or ch in _GSM7_EXT else _nearest_gsm7(ch) for ch in text.translate(_TYPOGRAPHIC))


@lru_cache(maxsize=1)
def template_env() -> Environment:
    return Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined,
                       keep_trailing_newline=False, autoescape=False)


def sms_encoding(text: str) -> tuple[str, int]:
    """('GSM-7' | 'UCS-2', number of SMS segments)."""
    if all(ch in _GSM7 or ch in _GSM7_EXT for ch in text):
        units = len(text) + sum(ch in _GSM7_EXT for ch in text)
        return "GSM-7", 1 if units <= 160 else -(-units // 153)
    units = len(text.encode("utf-16-le")) // 2
    return "UCS-2", 1 if units <= 70 else -(-units // 67)


def render(template: str, speaker: Speaker, **variables) -> str:
    """templates/sms/<template>.<lang>.txt, with money()/date() formatting for the speaker's
    locale. A missing variable is an error, never a blank in an SMS."""
    tpl = template_env().get_template(f"{template}.{speaker.lang}.txt")
    text = tpl.render(money=speaker.money, date=speaker.date, **variables).strip()
    return gsm7(text)  # a curly quote or a circumflex would double the cost (UCS-2)


def queue_sms(session: Session, borrower: Borrower, template: str, *, kind: str,
              dedupe_key: str | None = None, **variables) -> Message:
    """Store the message in the caller's transaction; the send job is enqueued after commit.
    With a dedupe_key, a second call returns the first message instead of sending again."""
    if dedupe_key:
        existing = session.exec(select(Message).where(Message.dedupe_key == dedupe_key)).first()
        if existing:
            return existing
    text = render(template, Speaker.for_borrower(borrower), **variables)
    encoding, segments = sms_encoding(text)
    message = Message(borrower_id=borrower.id, phone=borrower.phone, kind=kind, template=template,
                      language=borrower.language, text=text, encoding=encoding, segments=segments,
                      dedupe_key=dedupe_key)
    session.add(message)
    session.flush()
    outbox.after_commit(session, jobs.SEND_SMS, message.id)
    return message


def payment_message_key(payment_id: int) -> str:
    """The dedupe key of the one SMS a payment gets: its receipt, or what already says the money
    arrived (a PAYG code), whichever is queued first."""
    return f"payment:{payment_id}"
