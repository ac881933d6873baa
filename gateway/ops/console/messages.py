"""SMS waiting for an operator: their send died half-way (status `unknown`), so nobody knows whether
the borrower got them. Resending is the operator's decision, never automatic."""
from __future__ import annotations

from flask import flash, g, redirect, render_template, url_for

from gateway.db import session_scope
from gateway.messaging import stuck
from gateway.models import Message
from gateway.ops.console.base import actor, bp
from gateway.web import scope
from gateway.web.console_session import login_required
from gateway.web.roles import MANAGERS


@bp.get("/messages/unknown")
@login_required(*MANAGERS)
def unknown_messages_page():
    with session_scope() as db:
        lenders = scope.lenders(db)
        items = [m for m in stuck.review_list(db) if lenders is None or scope.lender_of(db, Message, m.id) in lenders]
    return render_template("unknown_messages.html", messages=items)


@bp.post("/messages/<id:message_id>/resend")
@login_required(*MANAGERS)
def resend_message(message_id: int):
    try:
        with session_scope() as db:
            scope.guard(db, Message, message_id)
            stuck.resend(db, message_id, actor())
        flash(g.speaker._("Message {id} will be sent again.", id=message_id), "ok")
    except stuck.NotResendable as exc:
        flash(str(exc), "error")
    return redirect(url_for("ops_console.unknown_messages_page"))
