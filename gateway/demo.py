"""Demo portfolio: a field partner, its agents and ~50 borrowers with loans in every state,
so every USSD screen, reminder and collections report has something to show."""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal

from sqlmodel import Session, select
from werkzeug.security import generate_password_hash

from gateway import ledger
from gateway.borrowers import catalogue, onboarding
from gateway.db import utcnow
from gateway.ledger import schedule
from gateway.lenders import partners
from gateway.models import Agent, FieldPartner, Loan, Message, MessageStatus, Payment
from gateway.payg.demo import add_demo_device
from gateway.web import auth

DEMO_PASSWORD = "demo-password"  # every demo staff member's console password (demo data only)
DEMO_PAYBILL = "600966"  # the demo lender's paybill: quoted in its SMS, and the one `serve --stand-ins` pushes to
FIRST = ["Amina", "John", "Grace", "Peter", "Wanjiru", "Otieno", "Fatuma", "Joseph", "Akinyi", "Baraka",
         "Neema", "Daudi", "Halima", "Kamau", "Zawadi", "Musa", "Rehema", "Ochieng", "Mwanaisha", "Kiprono"]
LAST = ["Wanjiru", "Otieno", "Mwangi", "Achieng", "Njoroge", "Hassan", "Kiptoo", "Wafula", "Mutua", "Chebet"]


@dataclass(frozen=True)
class DemoLoan:
    """How the demo lends each catalogue product (its prefix, frequency and rounding come from the catalogue)."""
    name: str
    count: int
    principal: Decimal
    rate: Decimal
    method: str


PRODUCTS = [
    DemoLoan("business loan", 6, Decimal("30000"), Decimal("0.04"), "declining"),
    DemoLoan("solar home system", 26, Decimal("13000"), Decimal("0.01"), "flat"),
]
# How far the first due date lies from today, in days: due soon, due today, and late by every
# arrears bucket (1-30, 31-60, 61-90, 90+), plus fully repaid loans.
SCENARIOS = ["due_soon"] * 14 + ["due_today"] * 4 + ["late_10"] * 8 + ["late_45"] * 6 + ["late_75"] * 5 + \
            ["late_120"] * 5 + ["repaid"] * 4 + ["paid_ahead"] * 4


def _first_due(scenario: str, today: dt.date, rng: random.Random, loan: DemoLoan, frequency: str) -> dt.date:
    if scenario == "due_soon":
        return today + dt.timedelta(days=rng.randint(1, 5))
    if scenario == "due_today":
        return today
    if scenario.startswith("late_"):
        return today - dt.timedelta(days=int(scenario.split("_")[1]) + rng.randint(0, 5))
    if scenario == "repaid":  # every installment fell due in the past, and was paid on its day
        period = 7 if frequency == "weekly" else 31
        return today - dt.timedelta(days=period * loan.count + rng.randint(5, 20))
    return today - dt.timedelta(days=rng.randint(20, 40))


def seed(session: Session, borrowers: int = 50, seed_value: int = 7, now: dt.datetime | None = None) -> dict:
    """Create the demo portfolio. Returns the agents' API tokens and a few numbers to dial."""
    rng = random.Random(seed_value)
    now = now or utcnow()
    today = now.date()
    partner = partners.add(session, "Jirani Finance", "demo", help_line="0800 720 000", country="KE",
                           currency="KES", timezone="Africa/Nairobi", languages="sw,en",
                           ussd_codes=("*384*1234#",), paybill=DEMO_PAYBILL)
    catalogue_products = {p.code: p for p in catalogue.seed(session, partner)}
    tokens, staff = {}, {}
    for name, phone, role in [("Faith Field", "+254700100001", "field"), ("Samuel Field", "+254700100002", "field"),
                              ("Carol Calls", "+254700100003", "callcentre"),
                              ("Moses Manager", "+254700100004", "manager"),
                              ("Ada Admin", "+254700100005", "admin")]:
        agent = Agent(name=name, phone=phone, role=role, field_partner_id=partner.id, branch="Kisumu")
        tokens[name] = auth.issue_token(agent)
        staff[name] = (phone, role)
        agent.password_hash = generate_password_hash(DEMO_PASSWORD)  # operator console login
        session.add(agent)
    session.flush()
    field_agents = session.exec(select(Agent).where(Agent.role == "field")).all()
    numbers: dict[str, str] = {}  # one borrower to try per scenario

    for k in range(borrowers):
        scenario = SCENARIOS[k % len(SCENARIOS)]
        language = "sw" if k % 3 else "en"
        phone = f"+2547{11000000 + k * 7919:08d}"
        agent = field_agents[k % len(field_agents)]
        borrower = onboarding.create_borrower(
            session, partner, f"{FIRST[k % len(FIRST)]} {LAST[(k * 3) % len(LAST)]}", phone, language,
            branch=rng.choice(["Kisumu", "Nakuru", "Machakos"]), agent_id=agent.id, actor=f"agent:{agent.id}")
        product = PRODUCTS[k % 2]
        principal = _principal(product.principal, rng)
        listed = catalogue_products[product.name]
        first_due = _first_due(scenario, today, rng, product, listed.frequency)
        rows = schedule.generate(principal, product.rate, product.count, first_due,
                                 listed.frequency, product.method, unit=catalogue.unit(listed))
        loan = onboarding.create_loan(session, borrower, listed.code, principal, listed.currency, rows,
                                      disbursed_on=rows[0].due_date - dt.timedelta(days=14),
                                      ref_prefix=listed.account_prefix, actor=f"agent:{agent.id}")
        if listed.payg:  # solar loans get a PAYG device, so past payments bought codes
            add_demo_device(session, loan, f"SHS-DEMO-{k:04d}", daily_rate="60", restricted_digits=k % 4 == 1)
        _pay_history(session, loan, scenario, today, rng, k)
        numbers.setdefault(f"{scenario}/{language}", f"{phone}  {language}  {loan.account_ref}  {scenario}")
    session.flush()
    _messages_as_history(session)
    return {"tokens": tokens, "numbers": list(numbers.values()), "staff": staff}


def _messages_as_history(session: Session) -> None:
    """The SMS the demo's installations and payments wrote are history: delivered on the day of the
    loan's disbursement, not sent now (nor counted in this month's messaging report)."""
    disbursed = dict(session.exec(select(Loan.borrower_id, Loan.disbursed_on)).all())
    for message in session.exec(select(Message).where(Message.borrower_id.is_not(None))).all():
        when = dt.datetime.combine(disbursed[message.borrower_id], dt.time(9), tzinfo=dt.UTC)
        message.created_at = message.sent_at = message.delivered_at = when
        message.status = MessageStatus.delivered
        message.status_history = [*message.status_history, {"status": "delivered", "note": "demo history"}]
        session.add(message)


def _principal(base: Decimal, rng: random.Random) -> int:
    return int(base * 100) + rng.randint(0, 20) * 50000


def _pay_history(session: Session, loan: Loan, scenario: str, today: dt.date, rng: random.Random, k: int) -> None:
    """Post payments through the real ledger so the books balance like production's. Each payment
    is dated on the due date of what it pays, so the months' collection rates look like a real book's."""
    insts = ledger.installments(session, loan.id)
    past = [i for i in insts if i.due_date < today]
    if scenario == "repaid":
        paid = [(i.due_date, i.amount_due) for i in insts]
    elif scenario == "paid_ahead":  # on time, and the next installment paid early with the last one
        paid = [(i.due_date, i.amount_due) for i in past]
        if past and len(insts) > len(past):
            paid[-1] = (past[-1].due_date, past[-1].amount_due + insts[len(past)].amount_due)
    else:
        # late loans paid part of what fell due, so their oldest unpaid installment sets the arrears
        paid = [(i.due_date, i.amount_due) for i in past[: len(past) // 3]]
        if scenario == "late_10" and past:
            paid.append((past[0].due_date, past[0].amount_due // 2))
    for n, (day, amount) in enumerate(p for p in paid if p[1] > 0):
        paid_at = dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC)
        payment = Payment(provider="manual", provider_txn_id=f"DEMO{k:03d}{n:02d}", amount=amount,
                          currency=loan.currency, payer_phone="", account_ref=loan.account_ref, paid_at=paid_at)
        session.add(payment)
        session.flush()
        entries = ledger.post_payment(session, payment, loan.id, actor="demo")
        # Demo history: date the books when the money was paid, so arrears and PAR "as of" past
        # dates (computed from the ledger) look like a real portfolio's.
        payment.received_at = payment.posted_at = paid_at
        for entry in entries:
            entry.created_at = paid_at
        session.add_all([payment, *entries])


def has_data(session: Session) -> bool:
    return session.exec(select(FieldPartner.id)).first() is not None

