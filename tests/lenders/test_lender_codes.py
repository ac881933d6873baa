"""Which lender a request belongs to (USSD code, M-Pesa shortcode), Daraja credentials sealed at
rest, and borrower identity (lender, phone)."""
from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from gateway.borrowers import onboarding
from gateway.lenders import partners
from gateway.models import Borrower, CodeKind, FieldPartner, LenderCode


@pytest.fixture
def two_lenders(session, factory):
    sola = FieldPartner(name="Sola Bora", help_line="0800 1", paybill="600100", currency="TZS",
                        timezone="Africa/Dar_es_Salaam", languages="sw,en", sender_id="SOLABORA")
    session.add(sola)
    session.flush()
    session.add_all([LenderCode(field_partner_id=factory.partner.id, kind=CodeKind.USSD, code="*384*1#"),
                     LenderCode(field_partner_id=factory.partner.id, kind=CodeKind.USSD, code="*384*9#"),
                     LenderCode(field_partner_id=sola.id, kind=CodeKind.USSD, code="*384*9#"),
                     LenderCode(field_partner_id=factory.partner.id, kind=CodeKind.SHORTCODE, code="600966"),
                     LenderCode(field_partner_id=sola.id, kind=CodeKind.SHORTCODE, code="600100")])
    session.commit()
    return factory.partner, sola


def test_a_ussd_code_selects_its_lenders(session, two_lenders):
    jirani, sola = two_lenders
    assert [p.name for p in partners.for_ussd_code(session, "*384*1#")] == ["Jirani Finance"]
    assert [p.name for p in partners.for_ussd_code(session, " *384*9# ")] == ["Jirani Finance", "Sola Bora"]
    # a code no lender registered is shared by all (a single-lender deployment registers none)
    assert [p.name for p in partners.for_ussd_code(session, "*500#")] == ["Jirani Finance", "Sola Bora"]
    assert partners.codes(session, jirani.id, CodeKind.USSD) == ["*384*1#", "*384*9#"]


def test_a_shortcode_selects_one_lender_or_none(session, two_lenders):
    assert partners.for_shortcode(session, "600100").name == "Sola Bora"
    assert partners.for_shortcode(session, "600966").name == "Jirani Finance"
    assert partners.for_shortcode(session, "999999") is None


def test_daraja_credentials_are_sealed_and_never_in_the_clear(session, settings, two_lenders):
    _, sola = two_lenders
    code = session.exec(select(LenderCode).where(LenderCode.code == "600100")).one()
    keys = {"consumer_key": "ck-sola-123", "consumer_secret": "cs-sola-456", "passkey": "pk-sola-789"}
    code.credentials = partners.seal_credentials(settings, keys)
    session.commit()
    stored = session.exec(select(LenderCode).where(LenderCode.code == "600100")).one().credentials
    assert "sola" not in stored and "ck-" not in stored
    assert partners.open_credentials(settings, code) == keys
    with pytest.raises(partners.PartnerError, match="missing: passkey"):
        partners.seal_credentials(settings, {"consumer_key": "a", "consumer_secret": "b"})
    code.credentials = "not-a-token"
    with pytest.raises(partners.PartnerError) as err:
        partners.open_credentials(settings, code)
    assert "not-a-token" not in str(err.value) and "LENDER_ENCRYPTION_KEY" in str(err.value)


def test_one_person_may_borrow_from_two_lenders_but_is_one_borrower_per_lender(session, factory, two_lenders):
    jirani, sola = two_lenders
    onboarding.create_borrower(session, jirani, "Amina Wanjiru", "+254712345678", "sw")
    onboarding.create_borrower(session, sola, "Amina Wanjiru", "0712 345 678", "sw", country="KE")
    session.commit()
    assert len(session.exec(select(Borrower).where(Borrower.phone == "+254712345678")).all()) == 2
    with pytest.raises(onboarding.OnboardingError, match="already exists at this lender"):
        onboarding.create_borrower(session, sola, "Amina W", "+254712345678", "sw")
    session.add(Borrower(name="Twice", phone="+254712345678", field_partner_id=sola.id))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()


def test_the_database_refuses_one_shortcode_for_two_lenders_but_shares_a_ussd_code(session, two_lenders):
    jirani, sola = two_lenders
    session.add(LenderCode(field_partner_id=jirani.id, kind=CodeKind.USSD, code="*384*2#"))
    session.commit()  # a USSD code may be shared
    session.add(LenderCode(field_partner_id=jirani.id, kind=CodeKind.SHORTCODE, code="600100"))
    with pytest.raises(IntegrityError):  # Sola Bora's paybill: what two admins racing would do
        session.commit()
    session.rollback()
