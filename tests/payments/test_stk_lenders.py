"""Many lenders on one gateway: the STK push for a loan prompts from its lender's shortcode, with the
shortcode's own Daraja app when it has one (its OAuth token cached apart), else the environment's."""
import base64

from sqlmodel import select

from gateway.borrowers import onboarding
from gateway.lenders import partners
from gateway.models import CodeKind, FieldPartner, LenderCode, PaymentIntent
from gateway.workers.payments import start_stk_push
from tests.helpers import PASSKEY, read

SOLA_KEYS = {"consumer_key": "ck-sola-123", "consumer_secret": "cs-sola-456", "passkey": "pk-sola-789"}


def basic(key, secret):
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


def two_shortcodes(session, factory, settings) -> FieldPartner:
    """Jirani Finance pays to 600100 with the environment's Daraja app, Sola Bora to 600200 with its own."""
    sola = FieldPartner(name="Sola Bora", help_line="0800 222 333", paybill="600200")
    session.add(sola)
    session.flush()
    session.add_all([LenderCode(field_partner_id=factory.partner.id, kind=CodeKind.SHORTCODE, code="600100"),
                     LenderCode(field_partner_id=sola.id, kind=CodeKind.SHORTCODE, code="600200",
                                credentials=partners.seal_credentials(settings, SOLA_KEYS))])
    return sola


def test_each_lenders_push_uses_its_shortcode_and_its_own_daraja_app(factory, session, daraja, pay_settings):
    sola = two_shortcodes(session, factory, pay_settings)
    at_sola = onboarding.create_borrower(session, sola, "Amina Wanjiru", "+254708374149", "sw")
    session.commit()
    daraja.accept("ck-sola-123", "cs-sola-456")
    daraja.stk_reply = None  # a fresh CheckoutRequestID per push
    loans = [factory.loan(at_sola, prefix="SOL"), factory.loan(factory.borrower(phone="+254708374150"))]
    for loan, phone in zip(loans, ("+254708374149", "+254708374150"), strict=True):
        session.add(PaymentIntent(loan_id=loan.id, amount=50000, currency="KES", phone=phone,
                                  session_id=f"ATUid_{loan.id}"))
    session.commit()
    intents = read(session, select(PaymentIntent).order_by(PaymentIntent.id))
    assert [start_stk_push(i.id) for i in intents] == ["sent", "sent"]

    oauth = [r["headers"]["Authorization"] for r in daraja.requests if r["method"] == "GET"]
    assert oauth == [basic("ck-sola-123", "cs-sola-456"), basic("consumer-key", "consumer-secret")]
    sola_push, jirani_push = (r["json"] for r in daraja.stk_requests())
    assert (sola_push["BusinessShortCode"], sola_push["PartyB"]) == ("600200", "600200")
    ts = sola_push["Timestamp"]
    assert base64.b64decode(sola_push["Password"]).decode() == f"600200pk-sola-789{ts}"
    # Jirani's shortcode has no Daraja app of its own: the environment's keys and passkey
    assert jirani_push["BusinessShortCode"] == "600100"
    assert base64.b64decode(jirani_push["Password"]).decode() == f"600100{PASSKEY}{jirani_push['Timestamp']}"
    assert "pk-sola" not in str(read(session, select(LenderCode)))


def test_a_lender_without_a_shortcode_pushes_from_mpesa_shortcode(factory, session, daraja):
    borrower = factory.borrower(phone="+254708374149")
    loan = factory.loan(borrower)
    intent = PaymentIntent(loan_id=loan.id, amount=50000, currency="KES", phone=borrower.phone, session_id="S")
    session.add(intent)
    session.commit()
    assert start_stk_push(intent.id) == "sent"
    assert daraja.stk_requests()[0]["json"]["BusinessShortCode"] == "174379"


def test_the_push_uses_the_paybill_the_lender_quotes_not_its_first_shortcode(factory, session, daraja):
    """A lender whose first shortcode is a till (Buy Goods) or an older paybill: the push went to that first
    one while its SMS quote `paybill`. Now the quoted paybill prompts (after MPESA_SHORTCODE, if the lender's)."""
    sola = FieldPartner(name="Sola Bora", help_line="0800 222 333", paybill="600201")
    session.add(sola)
    session.flush()
    session.add_all([LenderCode(field_partner_id=sola.id, kind=CodeKind.SHORTCODE, code="512345"),  # a till
                     LenderCode(field_partner_id=sola.id, kind=CodeKind.SHORTCODE, code="600201")])
    at_sola = onboarding.create_borrower(session, sola, "Amina Wanjiru", "+254708374149", "sw")
    session.commit()
    loan = factory.loan(at_sola, prefix="SOL")
    intent = PaymentIntent(loan_id=loan.id, amount=50000, currency="KES", phone=at_sola.phone, session_id="S")
    session.add(intent)
    session.commit()
    assert start_stk_push(intent.id) == "sent"
    assert daraja.stk_requests()[0]["json"]["BusinessShortCode"] == "600201"


def test_register_c2b_registers_every_lenders_shortcode_with_its_own_app(factory, session, daraja, pay_settings):
    from click.testing import CliRunner

    from gateway.cli import main

    two_shortcodes(session, factory, pay_settings)
    session.commit()
    daraja.accept("ck-sola-123", "cs-sola-456")
    result = CliRunner().invoke(main, ["payments", "register-c2b"])
    assert result.exit_code == 0, result.output
    registered = [(r["json"]["ShortCode"], r["headers"]["Authorization"]) for r in daraja.requests
                  if r["path"] == "/mpesa/c2b/v2/registerurl"]
    oauth = {r["headers"]["Authorization"]: None for r in daraja.requests if r["method"] == "GET"}
    assert [code for code, _ in registered] == [pay_settings.mpesa_shortcode, "600100", "600200"]
    assert list(oauth) == [basic("consumer-key", "consumer-secret"), basic("ck-sola-123", "cs-sola-456")]
    assert "registered for shortcode 600200" in result.output and "ck-sola" not in result.output
    only = CliRunner().invoke(main, ["payments", "register-c2b", "--shortcode", "600200"])
    assert only.exit_code == 0 and only.output.count("registered for shortcode") == 1, only.output
    unknown = CliRunner().invoke(main, ["payments", "register-c2b", "--shortcode", "999999"])
    assert unknown.exit_code == 2 and "no lender has shortcode 999999" in unknown.output
