"""The lender's outbound webhooks: endpoints (masked URLs), the events each wants, recent deliveries."""
from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, url_for

from gateway.db import session_scope
from gateway.models import FieldPartner, WebhookEndpoint
from gateway.notify import delivery, endpoints
from gateway.ops.console.base import bp
from gateway.web.console_session import login_required
from gateway.web.roles import MANAGERS


@bp.get("/webhooks")
@login_required(*MANAGERS)
def webhooks_page():
    partner_id = g.operator.field_partner_id
    with session_scope() as db:
        partner = db.get(FieldPartner, partner_id)
        hooks = endpoints.listing(db, partner_id)
        recent = endpoints.recent(db, partner_id)
    return render_template("webhooks.html", partner=partner, hooks=hooks, recent=recent)


@bp.post("/webhooks/<id:endpoint_id>/test")
@login_required(*MANAGERS)
def test_webhook(endpoint_id: int):
    with session_scope() as db:
        hook = db.get(WebhookEndpoint, endpoint_id)
        if hook is not None and hook.field_partner_id != g.operator.field_partner_id:
            abort(404)  # another lender's: not even "no such webhook"
        if hook is None or not hook.active:
            flash(g.speaker._("No such webhook."), "error")
        else:
            delivery.send_test(db, endpoint_id)
            flash(g.speaker._("Test message queued."), "ok")
    return redirect(url_for("ops_console.webhooks_page"))
