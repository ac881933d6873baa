"""Demo PAYG devices. Their keys are derived from the serial so the README can show a code
being checked with openpaygo.decode_token; never use demo_secret_key for a real device."""
from __future__ import annotations

import hashlib

from sqlmodel import Session

from gateway.models import Device, Loan
from gateway.money import to_minor
from gateway.payg import service


def demo_secret_key(serial: str) -> str:
    return hashlib.sha256(f"demo-device:{serial.strip().upper()}".encode()).hexdigest()[:32]


def add_demo_device(session: Session, loan: Loan, serial: str, *, daily_rate: str = "50",
                    restricted_digits: bool = False) -> Device:
    """Install a demo device on a loan (KSh 50 a day by default); the borrower gets the
    "how to use codes" SMS like after a real installation."""
    return service.register_device(session, loan, serial, demo_secret_key(serial),
                                   to_minor(daily_rate, loan.currency),
                                   restricted_digits=restricted_digits, actor="demo")
