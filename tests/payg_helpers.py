"""Shared by the PAYG tests: a device that checks codes with openpaygo.decode_token, exactly as
the firmware would, and small builders for PAYG loans and payments."""
from __future__ import annotations

import re

import openpaygo
from openpaygo import TokenType
from sqlmodel import select

from gateway.models import Message, Payment
from gateway.payg.demo import add_demo_device, demo_secret_key

CODE = re.compile(r"\b\d{3}(?: \d{3}){2,4}\b")  # a grouped 9- or 15-digit code in an SMS


class KeypadDevice:
    """The device side: its own count and used counts, days of light, unlocked flag."""

    def __init__(self, secret_key: str, restricted_digits: bool = False, starting_code: int | None = None):
        self.key, self.restricted, self.starting_code = secret_key, restricted_digits, starting_code
        self.count, self.used, self.days, self.unlocked = 0, [], 0, False

    def enter(self, code: str):
        value, kind, count, used = openpaygo.decode_token(
            token=code.replace(" ", ""), secret_key=self.key, count=self.count, used_counts=self.used,
            starting_code=self.starting_code, restricted_digit_set=self.restricted)
        if kind == TokenType.ADD_TIME:
            self.days += value
        elif kind == TokenType.DISABLE_PAYG:
            self.unlocked = True
        if count is not None:
            self.count = max(self.count, count)
            self.used = used if used is not None else sorted(set(self.used) | {count})
        return kind, value


def payg_loan(factory, language="en", principal="18000", count=12, rate="50", restricted=False, serial="SOL-0001"):
    borrower = factory.borrower(language=language)
    loan = factory.loan(borrower, principal=principal, count=count, rate="0", product="solar home system",
                        prefix="SOL")
    add_demo_device(factory.session, loan, serial, daily_rate=rate, restricted_digits=restricted)
    factory.session.commit()
    return borrower, loan, KeypadDevice(demo_secret_key(serial), restricted_digits=restricted)




def sms_for(session, payment: Payment) -> Message:
    return session.exec(select(Message).where(Message.dedupe_key == f"payment:{payment.id}")).one()


def codes_in(text: str) -> list[str]:
    return CODE.findall(text)
