"""What waits for a manager's decision: open flags, and payments in suspense."""
from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for

from gateway.db import session_scope
from gateway.models import Flag, Loan, Payment
from gateway.ops import flags, suspense
from gateway.ops.console.base import actor, back, bp, settings, today
from gateway.web import scope
from gateway.web.console_session import login_required
from gateway.web.roles import MANAGERS, OVERSEERS


@bp.get("/flags")
@login_required(*OVERSEERS)
def flags_page():
    with session_scope() as db:
        items = flags.open_flags(db, lenders=scope.lenders(db))
        about = flags.subjects(db, items)
    return render_template("flags.html", flags=items, flag_subjects=about)


@bp.post("/flags/scan")
@login_required(*MANAGERS)
def scan_flags():
    with session_scope() as db:
        raised = flags.scan(db, today(), settings(), scope.lenders(db))  # the lender's own book
    flash(g.speaker._("{count} new flags.", count=len(raised)), "ok")
    return redirect(url_for("ops_console.flags_page"))


@bp.post("/flags/<id:flag_id>/resolve")
@login_required(*MANAGERS)
def resolve_flag(flag_id: int):
    try:
        with session_scope() as db:
            scope.guard(db, Flag, flag_id)
            flags.resolve(db, flag_id, actor(), request.form.get("note", ""))
        flash(g.speaker._("Flag resolved."), "ok")
    except ValueError as exc:
        flash(str(exc), "error")
    return back(url_for("ops_console.flags_page"))


@bp.get("/suspense")
@login_required(*OVERSEERS)
def suspense_page():
    with session_scope() as db:
        items = suspense.suspense_payments(db, scope.lenders(db))
    return render_template("suspense.html", payments=items)


@bp.post("/suspense/<id:payment_id>/resolve")
@login_required(*OVERSEERS)
def resolve_suspense(payment_id: int):
    try:
        with session_scope() as db:
            scope.guard(db, Payment, payment_id)
            scope.guard_account(db, request.form.get("account_ref", ""))
            p = suspense.resolve(db, payment_id, request.form.get("account_ref", ""), actor())
            ref = db.get(Loan, p.loan_id).account_ref
        flash(g.speaker._("Payment {txn} posted to loan {ref}.", txn=p.provider_txn_id, ref=ref), "ok")
    except ValueError as exc:
        flash(str(exc), "error")
    return redirect(url_for("ops_console.suspense_page"))


@bp.post("/suspense/<id:payment_id>/refund")
@login_required(*OVERSEERS)
def refund_suspense(payment_id: int):
    try:
        with session_scope() as db:
            scope.guard(db, Payment, payment_id)
            p = suspense.refund(db, payment_id, actor(), request.form.get("reason", ""))
        flash(g.speaker._("Payment {txn} marked as refunded.", txn=p.provider_txn_id), "ok")
    except ValueError as exc:
        flash(str(exc), "error")
    return redirect(url_for("ops_console.suspense_page"))
