"""A loan's page (schedule, ledger, payments, messages, calls, promises, flags) and what staff do
there: log a call, write off, restructure."""
from __future__ import annotations

from decimal import Decimal

from flask import abort, flash, g, redirect, render_template, request, url_for
from sqlmodel import select

from gateway import ledger
from gateway.db import session_scope
from gateway.models import (
    Agent,
    Borrower,
    CallLog,
    Device,
    Flag,
    Installment,
    LedgerEntry,
    Loan,
    Message,
    PaygToken,
    Payment,
    Promise,
    PursuitStop,
)
from gateway.money import MoneyError, to_minor
from gateway.ops import callcentre, costs, loan_ops, portfolio
from gateway.ops import flags as flag_rules
from gateway.ops.console.base import actor, back, bp, parse_day, settings, today
from gateway.payg import service as payg
from gateway.web import scope
from gateway.web.console_session import login_required
from gateway.web.roles import CALLERS, MANAGERS, ROLES, Role


@bp.get("/loans/<id:loan_id>")
@login_required(*ROLES, Role.PLATFORM)
def loan_page(loan_id: int):
    day = today()
    with session_scope() as db:
        scope.guard(db, Loan, loan_id)
        loan = db.get(Loan, loan_id)
        if loan is None:
            abort(404)
        borrower = db.get(Borrower, loan.borrower_id)
        scope.own(borrower.field_partner_id)  # another lender's loan: 404
        data = dict(
            loan=loan, borrower=borrower, today=day,
            arrears=portfolio.arrears_of(db, loan_id, day), balance=ledger.balance(db, loan, day),
            installments=db.exec(select(Installment).where(Installment.loan_id == loan_id)
                                 .order_by(Installment.due_date, Installment.seq)).all(),
            entries=db.exec(select(LedgerEntry).where(LedgerEntry.loan_id == loan_id)
                            .order_by(LedgerEntry.created_at, LedgerEntry.id)).all(),
            payments={p.id: p for p in db.exec(select(Payment).where(Payment.loan_id == loan_id))},
            messages=db.exec(select(Message).where(Message.borrower_id == borrower.id)
                             .order_by(Message.created_at.desc()).limit(50)).all(),
            calls=db.exec(select(CallLog).where(CallLog.loan_id == loan_id).order_by(CallLog.created_at.desc())).all(),
            promises=db.exec(select(Promise).where(Promise.loan_id == loan_id)
                             .order_by(Promise.created_at.desc())).all(),
            flags=db.exec(select(Flag).where((Flag.loan_id == loan_id) | (Flag.borrower_id == borrower.id))
                          .order_by(Flag.created_at.desc())).all(),
            device=db.exec(select(Device).where(Device.loan_id == loan_id)).first(),
            agents=dict(db.exec(select(Agent.id, Agent.name).where(
                Agent.field_partner_id == borrower.field_partner_id)).all()),  # the loan's lender's staff
            outcomes=callcentre.OUTCOMES,
        )
        data["flag_subjects"] = flag_rules.subjects(db, data["flags"])
        data["pursuit"] = costs.loan_cost(db, settings(), loan, day)  # cost against recovery
        data["pursuit_stop"] = db.exec(select(PursuitStop).where(PursuitStop.loan_id == loan_id)).first()
        device = data["device"]
        if device is not None:  # a PAYG loan: the device, its light and its latest codes
            data["light"] = payg.light_of(device.credit_until, device.payg_disabled, day)
            data["codes"] = db.exec(select(PaygToken).where(PaygToken.device_id == device.id)
                                    .order_by(PaygToken.count.desc()).limit(20)).all()
            data["group_code"] = payg.group_code
    return render_template("loan.html", **data)


@bp.post("/loans/<id:loan_id>/calls")
@login_required(*CALLERS)
def log_call(loan_id: int):
    form, day = request.form, today()
    try:
        with session_scope() as db:
            scope.guard(db, Loan, loan_id)
            loan = db.get(Loan, loan_id)
            if loan is None:
                abort(404)
            date = amount = None
            if form.get("outcome") == "promise":
                try:
                    date = parse_day(form.get("promise_date", ""))
                    amount = to_minor(form.get("promise_amount", ""), loan.currency)
                except (ValueError, MoneyError):
                    raise callcentre.CallCentreError(g.speaker._("A promise needs a date and an amount.")) from None
            minutes = (form.get("minutes") or "").strip()
            if minutes and not (minutes.isdigit() and int(minutes) <= 600):
                raise callcentre.CallCentreError(g.speaker._("Call minutes: a whole number from 0 to 600."))
            callcentre.log_call(db, loan_id, db.get(Agent, g.operator.id), form.get("outcome", ""),
                                form.get("note", ""), promise_date=date, promise_amount=amount, today=day,
                                duration_seconds=int(minutes) * 60 if minutes else None)
        flash(g.speaker._("Call saved."), "ok")
    except ValueError as exc:
        flash(str(exc), "error")
    return back(url_for("ops_console.loan_page", loan_id=loan_id))


@bp.post("/loans/<id:loan_id>/write-off")
@login_required(*MANAGERS)
def write_off(loan_id: int):
    with session_scope() as db:
        scope.guard(db, Loan, loan_id)
    try:
        with session_scope() as db:
            entries = loan_ops.write_off(db, loan_id, actor(), request.form.get("reason", ""))
            loan = db.get(Loan, loan_id)
        written_off = g.speaker.money(sum(e.amount for e in entries), loan.currency)
        flash(g.speaker._("Written off: {amount}.", amount=written_off), "ok")
    except ValueError as exc:
        flash(str(exc), "error")
    return redirect(url_for("ops_console.loan_page", loan_id=loan_id))


@bp.post("/loans/<id:loan_id>/restructure")
@login_required(*MANAGERS)
def restructure(loan_id: int):
    form = request.form
    with session_scope() as db:
        scope.guard(db, Loan, loan_id)
    try:
        try:
            count, first_due = int(form.get("count", "")), parse_day(form.get("first_due", ""))
            rate = Decimal(form.get("rate") or "0")
        except (ValueError, ArithmeticError):
            raise loan_ops.LoanOpError(
                g.speaker._("Give the number of installments, the first due date and the rate.")) from None
        with session_scope() as db:
            new = loan_ops.restructure(db, loan_id, actor(), form.get("reason", ""), count=count,
                                       first_due=first_due, frequency=form.get("frequency", "monthly"), rate=rate)
        flash(g.speaker._("New schedule of {count} installments.", count=len(new)), "ok")
    except ValueError as exc:
        flash(str(exc), "error")
    return redirect(url_for("ops_console.loan_page", loan_id=loan_id))
