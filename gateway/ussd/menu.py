"""The borrower's USSD menu: balance, next payment, pay now, last payments, language, promise to
pay (only while in arrears), my last code (PAYG), call back (8, confirmed first)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlmodel import Session, select

from gateway import audit, i18n, jobs, ledger, outbox
from gateway.borrowers import catalogue
from gateway.config import Settings
from gateway.db import get_engine
from gateway.i18n import N_, Speaker
from gateway.models import (
    Borrower,
    CallbackRequest,
    CodeKind,
    FieldPartner,
    LenderCode,
    Loan,
    LoanStatus,
    PaymentIntent,
    Promise,
)
from gateway.money import MoneyError, to_minor
from gateway.payg import ussd as payg_ussd
from gateway.ussd.engine import Flow, Invalid, Option, Screen
from gateway.ussd.snapshot import Caller, Lender, LoanView

STK_MAX_MAJOR = 150_000  # M-Pesa's per-transaction limit (KES); a larger typed amount is a typo


@dataclass
class Ctx:
    """What a screen can see: the borrower, their loans, the chosen loan, and their language.
    `borrower` and `loans` are the hop's snapshot (read-only); writes go through `session`."""

    session: Session
    settings: Settings
    borrower: Caller
    loans: list[LoanView]
    session_id: str
    now: dt.datetime
    live: bool = False
    loan: LoanView | None = None
    amount: int = 0  # minor units, chosen on the pay screens
    promise_date: dt.date | None = None  # chosen on the promise screens
    lender: Lender | None = None  # whose menu this is (the code dialled, or the caller's choice)
    speaker: Speaker = field(init=False)
    _memo: dict = field(init=False, default_factory=dict)

    def __post_init__(self):
        self.speaker = Speaker.for_borrower(self.borrower)
        offered = self.languages()
        if self.borrower.language not in offered:  # a lender's menu speaks only the lender's languages
            self.speaker = Speaker(offered[0], self.borrower.country, self.borrower.timezone)
        if len(self.loans) == 1:
            self.loan = self.loans[0]

    def _(self, msgid: str, **values) -> str:
        return self.speaker._(msgid, **values)

    def languages(self) -> list[str]:
        """The languages this menu offers: the lender's (FieldPartner.languages, first the default) on a
        gateway of several lenders, else every catalogue."""
        every = i18n.languages()
        if self.lender is None or not self.lender.named:
            return every
        return [lang for lang in (x.strip() for x in self.lender.languages.split(",")) if lang in every] or every

    def money(self, minor: int) -> str:
        return self.speaker.money(minor, self.loan.currency)

    @property
    def today(self) -> dt.date:
        return self.speaker.today(self.now)

    def memo(self, key, compute):
        """Once per hop: a menu option's visibility is asked on every replayed screen."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def balance(self) -> ledger.Balance:
        # Replaying the session's inputs asks for the balance on several screens of one hop.
        return self.memo(("balance", self.loan.id), lambda: self.loan.balance(self.today))


# --- screens -----------------------------------------------------------------------------

def _pick_loan_options(ctx: Ctx) -> list[Option]:
    def choose(loan):
        def action(c: Ctx):
            c.loan = loan
        return action

    return [Option(str(k), (lambda c, ln=loan: f"{ln.account_ref} {_product_name(c, ln)}"), "main",
                   action=choose(loan)) for k, loan in enumerate(ctx.loans, start=1)]


def _product_name(ctx: Ctx, loan: LoanView) -> str:
    """The loan's product as the lender names it in the borrower's language (its catalogue, read once a hop)."""
    names, languages = ctx.memo("products", lambda: catalogue.for_borrower(ctx.session, ctx.borrower.id))
    return catalogue.shown_name(names.get(loan.product), loan.product, ctx.speaker.lang, languages)


def _main_text(ctx: Ctx) -> str:
    first = ctx.borrower.name.split()[0]
    hello = ctx._("Hello {name}. Loan {ref}", name=first, ref=ctx.loan.account_ref)
    # a gateway of several lenders says whose menu this is; a single lender's menu is as it always was
    return f"{ctx.lender.name}\n{hello}" if ctx.lender is not None and ctx.lender.named else hello


def _balance_text(ctx: Ctx) -> str:
    b = ctx.balance()
    lines = [ctx._("Loan {ref}", ref=ctx.loan.account_ref),
             ctx._("Balance: {amount}", amount=ctx.money(b.net_outstanding))]
    if b.arrears:
        lines.append(ctx._("In arrears: {amount}", amount=ctx.money(b.arrears)))
    if b.credit:
        lines.append(ctx._("Credit: {amount}", amount=ctx.money(b.credit)))
    lines += payg_ussd.balance_lines(ctx)  # days of light, for loans with a PAYG device
    return "\n".join(lines)


def _next_payment_text(ctx: Ctx) -> str:
    b = ctx.balance()
    lines = []
    if b.arrears:  # what is late, then the next date still to come (never a past date as "next")
        lines.append(ctx._("Overdue since {date}: {amount}. Please pay now.", date=ctx.speaker.date(b.overdue_since),
                           amount=ctx.money(b.arrears)))
    if b.next_due_date is not None:
        lines.append(ctx._("Next payment: {amount} due on {date}.", amount=ctx.money(b.next_due_amount),
                           date=ctx.speaker.date(b.next_due_date)))
    return "\n".join(lines) or ctx._("Nothing is due. Thank you for paying!")


def _pay_options(ctx: Ctx) -> list[Option]:
    b = ctx.balance()
    if b.net_outstanding <= 0:
        return []
    # Mobile money takes whole units: round up, the few cents over are kept as credit.
    unit = to_minor(1, ctx.loan.currency)
    due = b.arrears + b.due_today if b.arrears else b.next_due_amount  # late: the arrears and what is due today
    suggested = -(-min(due, b.net_outstanding) // unit) * unit

    def pay_suggested(c: Ctx):
        c.amount = suggested

    return [Option("1", lambda c: c._("Pay {amount}", amount=c.money(suggested)), "pay_confirm", action=pay_suggested),
            Option("2", N_("Other amount"), "pay_amount")]


def _pay_text(ctx: Ctx) -> str:
    if ctx.balance().net_outstanding <= 0:
        return ctx._("Your loan is fully paid. Thank you!")
    return ctx._("Pay now")


def _read_amount(ctx: Ctx, raw: str) -> str:
    currency = ctx.loan.currency
    if not raw.isdigit() or len(raw) > 9:
        raise Invalid("Enter the amount in numbers only, e.g. 500.")
    try:
        minor = to_minor(raw, currency)
    except MoneyError:
        raise Invalid("Enter the amount in numbers only, e.g. 500.") from None
    unit = to_minor(1, currency)
    outstanding = -(-ctx.balance().net_outstanding // unit) * unit  # whole units, rounded up
    if minor <= 0:
        raise Invalid("The amount must be more than zero.")
    if minor > outstanding:
        raise Invalid("The most you can pay is {amount}.", amount=ctx.money(outstanding))
    if currency == "KES" and minor > to_minor(STK_MAX_MAJOR, currency):
        raise Invalid("The most you can pay at once is {amount}.", amount=ctx.money(to_minor(STK_MAX_MAJOR, currency)))
    ctx.amount = minor
    return "pay_confirm"


def _pay_confirm_text(ctx: Ctx) -> str:
    return ctx._("Pay {amount} for loan {ref} from {phone}?", amount=ctx.money(ctx.amount),
                 ref=ctx.loan.account_ref, phone=ctx.borrower.phone)


def _start_payment(ctx: Ctx) -> None:
    """Record the intent once per USSD session; the STK push job starts the M-Pesa prompt."""
    existing = ctx.session.exec(select(PaymentIntent).where(PaymentIntent.session_id == ctx.session_id)).first()
    if existing:
        return
    intent = PaymentIntent(loan_id=ctx.loan.id, amount=ctx.amount, currency=ctx.loan.currency,
                           phone=ctx.borrower.phone, channel="ussd", session_id=ctx.session_id)
    ctx.session.add(intent)
    ctx.session.flush()
    audit.record(ctx.session, f"borrower:{ctx.borrower.id}", "payment_intent.created", "payment_intent", intent.id,
                 loan_id=ctx.loan.id, amount=ctx.amount, currency=ctx.loan.currency)
    outbox.after_commit(ctx.session, jobs.START_STK_PUSH, intent.id)


def _last_payments_text(ctx: Ctx) -> str:
    payments = ledger.recent_payments(ctx.session, ctx.loan.id, 3)
    if not payments:
        return ctx._("No payments yet.")
    lines = [ctx._("Last payments:")]
    for p in payments:
        lines.append(f"{ctx.speaker.date(p.paid_at or p.received_at)} {ctx.speaker.money(p.amount, p.currency)}")
    return "\n".join(lines)


def _language_options(ctx: Ctx) -> list[Option]:
    def choose(lang):
        def action(c: Ctx):
            # Compared with the stored row, not the snapshot, which may predate an earlier change.
            borrower = c.session.get(Borrower, c.borrower.id) if c.live else None
            if borrower is not None and borrower.language != lang:
                audit.record(c.session, f"borrower:{borrower.id}", "borrower.language_changed", "borrower",
                             borrower.id, old=borrower.language, new=lang)
                borrower.language = lang
                c.session.add(borrower)
            c.speaker = Speaker(lang, c.borrower.country, c.borrower.timezone)
        return action

    return [Option(str(k), (lambda c, lang=lang: i18n.language_name(lang)), "home", action=choose(lang))
            for k, lang in enumerate(ctx.languages(), start=1)]


def _request_callback(ctx: Ctx) -> None:
    ref = f"ussd:{ctx.session_id}"
    if ctx.session.exec(select(CallbackRequest.id).where(CallbackRequest.source_ref == ref)).first():
        return
    request = CallbackRequest(borrower_id=ctx.borrower.id, loan_id=ctx.loan.id, reason="ussd_request", source_ref=ref)
    ctx.session.add(request)
    ctx.session.flush()
    audit.record(ctx.session, f"borrower:{ctx.borrower.id}", "callback.requested", "callback_request", request.id)


PROMISE_DAYS = 7  # a borrower can promise a date within the next week


def _in_arrears(ctx: Ctx) -> bool:
    return ctx.loan.status in (LoanStatus.active, LoanStatus.defaulted) and ctx.balance().arrears > 0


def _promise_date_options(ctx: Ctx) -> list[Option]:
    def choose(day):
        def action(c: Ctx):
            c.promise_date = day
        return action

    days = [ctx.today + dt.timedelta(days=k) for k in range(1, PROMISE_DAYS + 1)]
    return [Option(str(k), (lambda c, d=day: c.speaker.date(d, "EEE d MMM")), "promise_amount", action=choose(day))
            for k, day in enumerate(days, start=1)]


def _read_promise_amount(ctx: Ctx, raw: str) -> str:
    currency = ctx.loan.currency
    if not raw.isdigit() or len(raw) > 9:
        raise Invalid("Enter the amount in numbers only, e.g. 500.")
    minor = to_minor(raw, currency)
    unit = to_minor(1, currency)
    outstanding = -(-ctx.balance().net_outstanding // unit) * unit
    if minor <= 0:
        raise Invalid("The amount must be more than zero.")
    if minor > outstanding:
        raise Invalid("The most you can pay is {amount}.", amount=ctx.money(outstanding))
    ctx.amount = minor
    return "promise_confirm"


def _make_promise(ctx: Ctx) -> None:
    from gateway.ops import promises  # the collections domain owns promises

    same = ctx.session.exec(select(Promise.id).where(
        Promise.loan_id == ctx.loan.id, Promise.status == "open", Promise.source == "ussd",
        Promise.promised_date == ctx.promise_date, Promise.amount == ctx.amount)).first()
    if same:  # the same hop answered twice (a retried request): one promise
        return
    promises.make_promise(ctx.session, ctx.session.get(Loan, ctx.loan.id), ctx.promise_date, ctx.amount, "ussd",
                          actor=f"borrower:{ctx.borrower.id}", today=ctx.today)


MAIN_OPTIONS = [
    Option("1", N_("Balance"), "balance"),
    Option("2", N_("Next payment"), "next_payment"),
    Option("3", N_("Pay now"), "pay"),
    Option("4", N_("Last payments"), "last_payments"),
    Option("5", N_("Language"), "language"),
    Option("6", N_("Promise to pay"), "promise_date", visible=_in_arrears),
    payg_ussd.LAST_CODE_OPTION,  # "7 My last code", for loans with a PAYG device
    Option("8", N_("Call me back"), "callback_confirm"),  # not "0": that is "Menu" on every other screen
]

SCREENS = [
    Screen("pick_loan", lambda c: c._("Choose a loan:"), options=_pick_loan_options),
    Screen("main", _main_text, options=MAIN_OPTIONS),
    Screen("balance", _balance_text),
    Screen("next_payment", _next_payment_text),
    Screen("pay", _pay_text, options=_pay_options),
    Screen("pay_amount", lambda c: c._("Enter the amount to pay:"), on_input=_read_amount),
    Screen("pay_confirm", _pay_confirm_text, options=[Option("1", N_("Confirm"), "pay_started"),
                                                       Option("2", N_("Cancel"), "home")]),
    Screen("pay_started", lambda c: c._("You will get an M-Pesa prompt for {amount}. Enter your PIN to pay.",
                                         amount=c.money(c.amount)), on_show=_start_payment, end=True),
    Screen("last_payments", _last_payments_text),
    Screen("language", lambda c: c._("Choose your language:"), options=_language_options),
    Screen("promise_date", lambda c: c._("When will you pay?"), options=_promise_date_options),
    Screen("promise_amount", lambda c: c._("Enter the amount you will pay:"), on_input=_read_promise_amount),
    Screen("promise_confirm", lambda c: c._("You promise to pay {amount} by {date}.", amount=c.money(c.amount),
                                            date=c.speaker.date(c.promise_date)),
           options=[Option("1", N_("Confirm"), "promise_made"), Option("2", N_("Cancel"), "home")]),
    Screen("promise_made", lambda c: c._("Thank you. No reminders until {date}. Please pay {amount} by then.",
                                         date=c.speaker.date(c.promise_date), amount=c.money(c.amount)),
           on_show=_make_promise, end=True),
    Screen("callback_confirm", lambda c: c._("Do you want us to call you back?"),
           options=[Option("1", N_("Yes, call me"), "callback"), Option("2", N_("Cancel"), "home")]),
    Screen("callback", lambda c: c._("Thank you. We will call you back within one working day."),
           on_show=_request_callback, end=True),
    *payg_ussd.SCREENS,
]

FLOW = Flow(SCREENS, start="main", home="main")
FLOW_SEVERAL_LOANS = Flow(SCREENS, start="pick_loan", home="main")


def unknown_number_text(settings: Settings, service_code: str = "") -> str:
    """On a USSD code of one lender: in its languages, with its help line; otherwise the gateway's."""
    help_line, languages = settings.help_line, settings.unknown_number_languages
    if service_code:
        with Session(get_engine(settings)) as session:
            owners = session.exec(select(FieldPartner).join(LenderCode, LenderCode.field_partner_id == FieldPartner.id)
                                  .where(LenderCode.kind == CodeKind.USSD, LenderCode.code == service_code)).all()
            if len(owners) == 1:
                known = [lang for lang in owners[0].language_list if lang in i18n.languages()]
                help_line, languages = owners[0].help_line or help_line, known or languages
    return "\n".join(Speaker(lang)._("Sorry, this number is not registered. Call {help_line} for help.",
                                     help_line=help_line) for lang in languages)

