"""Creating borrowers and their loans (used by field agents' API, CSV imports and the demo)."""
from __future__ import annotations

import datetime as dt
from zoneinfo import available_timezones

from sqlmodel import Session, select

from gateway import audit, i18n, phones
from gateway.borrowers import accounts
from gateway.ledger import schedule
from gateway.models import Borrower, FieldPartner, Loan, LoanStatus
from gateway.payments import rails

# Timezone of each country we serve; anything else must be given explicitly.
COUNTRY_TIMEZONES = {"KE": "Africa/Nairobi", "TZ": "Africa/Dar_es_Salaam", "UG": "Africa/Kampala",
                     "RW": "Africa/Kigali", "ET": "Africa/Addis_Ababa", "NG": "Africa/Lagos"}
_TIMEZONES = available_timezones()
COUNTRY_CURRENCIES = {"KE": "KES", "TZ": "TZS", "UG": "UGX", "RW": "RWF", "ET": "ETB", "NG": "NGN"}


class OnboardingError(ValueError):
    pass


def borrower_fields(partner: FieldPartner, name: str, phone: str, language: str, *, country: str | None = None,
                    timezone: str | None = None) -> dict:
    """A borrower's name, phone (E.164, a mobile), language, country and timezone, checked; the rules
    onboarding and the portfolio import share. OnboardingError says what is wrong."""
    name = (name or "").strip()
    if not name:
        raise OnboardingError("name is required")
    try:
        e164, mobile, region = phones.inspect(phone, country or partner.country)
    except phones.PhoneError as exc:
        raise OnboardingError(f"phone: {exc}") from None
    if not mobile:
        raise OnboardingError(f"phone {phones.mask(e164)} is not a mobile number: borrowers need one "
                              "(SMS, USSD, M-Pesa)")
    offered = [lang for lang in partner.language_list if lang in i18n.languages()] or sorted(i18n.languages())
    language = (language or "").strip().lower() or offered[0]  # none given: the lender's first
    if language not in offered:
        raise OnboardingError(f"language must be one of {partner.name}'s: {', '.join(offered)}")
    country = (country or region or partner.country).upper()
    timezone = timezone or COUNTRY_TIMEZONES.get(country)
    if timezone not in _TIMEZONES:
        raise OnboardingError(f"unknown timezone for {country}: give one explicitly")
    return dict(name=name, phone=e164, language=language, country=country, timezone=timezone)


def create_borrower(session: Session, partner: FieldPartner, name: str, phone: str, language: str,
                    *, country: str | None = None, timezone: str | None = None,
                    national_id: str | None = None, branch: str = "", agent_id: int | None = None,
                    actor: str = "system") -> Borrower:
    fields = borrower_fields(partner, name, phone, language, country=country, timezone=timezone)
    e164 = fields["phone"]
    if session.exec(select(Borrower.id).where(Borrower.field_partner_id == partner.id,
                                              Borrower.phone == e164)).first():
        raise OnboardingError(f"a borrower with phone {e164} already exists at this lender")
    borrower = Borrower(**fields, national_id=national_id or None, field_partner_id=partner.id, branch=branch,
                        onboarded_by_agent_id=agent_id)
    session.add(borrower)
    session.flush()
    audit.record(session, actor, "borrower.created", "borrower", borrower.id, phone=phones.mask(e164))
    return borrower


def create_loan(session: Session, borrower: Borrower, product: str, principal: int, currency: str,
                rows: list[schedule.Row], *, disbursed_on: dt.date | None = None, ref_prefix: str = "LN",
                status: str = LoanStatus.active, actor: str = "system") -> Loan:
    if principal <= 0:
        raise OnboardingError("principal must be positive")
    loan = Loan(borrower_id=borrower.id, product=product, principal=principal, currency=currency,
                disbursed_on=disbursed_on, status=status, account_ref=accounts.new_account_ref(session, ref_prefix))
    session.add(loan)
    session.flush()
    schedule.attach(session, loan, rows)
    audit.record(session, actor, "loan.created", "loan", loan.id, borrower_id=borrower.id,
                 principal=principal, currency=currency, account_ref=loan.account_ref)
    return loan


def check_rail(borrower: Borrower | str, currency: str) -> None:
    """Refuse a loan its borrower (or a borrower of that country) could not repay: no payment rail
    serves their country in that currency."""
    country = borrower if isinstance(borrower, str) else borrower.country
    if rails.rail_for(country, currency) is None:
        raise OnboardingError(f"no payment rail for a borrower in {country} paying in {currency}: "
                              f"payments are taken in {rails.served()} only")


def currency_for(country: str) -> str:
    return COUNTRY_CURRENCIES.get(country.upper(), "KES")

