"""Which payment rails the gateway can take money on, by the borrower's country and the loan's
currency. Today: M-Pesa Kenya (Daraja paybill and STK push), KE in KES. Onboarding refuses a
borrower no rail serves; screens offer "Pay now" only where a push can arrive."""
from __future__ import annotations

from gateway import phones
from gateway.models import Borrower, Loan

# rail -> (country, currency) it serves
RAILS = {"mpesa": ("KE", "KES")}


def rail_for(country: str, currency: str) -> str | None:
    return next((rail for rail, where in RAILS.items() if where == (country.upper(), currency.upper())), None)


def served() -> str:
    """For error messages: 'KE in KES'."""
    return ", ".join(f"{country} in {currency}" for country, currency in RAILS.values())


def can_push(loan: Loan, borrower: Borrower) -> bool:
    """May a USSD or API offer an M-Pesa prompt (STK push) for this loan to this borrower's phone?"""
    region = phones.region_of(borrower.phone) if borrower.phone else None
    return rail_for(region or borrower.country, loan.currency) == "mpesa" and borrower.country.upper() == "KE"
