"""Loan account numbers: what borrowers type as the paybill account (e.g. BIZ23456)."""
from __future__ import annotations

import secrets

from sqlmodel import Session, select

from gateway.models import Loan

_REF_ALPHABET = "23456789"  # digits only: typable on any keypad, no 0/O or 1/I confusion


class AccountError(ValueError):
    """No account number could be given."""


def new_account_ref(session: Session, prefix: str) -> str:
    """Short and typable: 3-letter product prefix + 5 digits, e.g. SOL48215."""
    for _ in range(50):
        ref = prefix.upper()[:3] + "".join(secrets.choice(_REF_ALPHABET) for _ in range(5))
        if not session.exec(select(Loan.id).where(Loan.account_ref == ref)).first():
            return ref
    raise AccountError("could not find a free account reference")


def normalize_account_ref(raw: str) -> str:
    """What the payer typed -> the stored form: upper case, no spaces or dashes."""
    return "".join(ch for ch in (raw or "").upper() if ch.isalnum())


def new_account_refs(session: Session, prefix: str, count: int, taken: set[str]) -> list[str]:
    """`count` free references at once (the portfolio import): the prefix and 5 digits, or more digits
    when 5 would crowd (8**5 = 32,768 numbers a prefix). `taken` holds references already handed out
    in this run; the new ones are added to it."""
    prefix = prefix.upper()[:3]
    used = set(session.exec(select(Loan.account_ref).where(Loan.account_ref.startswith(prefix))).all()) | {
        ref for ref in taken if ref.startswith(prefix)}
    width = 5
    while len(_REF_ALPHABET) ** width < 4 * (len(used) + count):
        width += 1
    refs: list[str] = []
    while len(refs) < count:
        ref = prefix + "".join(secrets.choice(_REF_ALPHABET) for _ in range(width))
        if ref not in used:
            used.add(ref)
            taken.add(ref)
            refs.append(ref)
    return refs
