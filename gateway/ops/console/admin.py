"""Lender administration: a lender's settings and codes (a shortcode's Daraja credentials only as
"own keys" or "the environment's", never their values), its staff (a new API token is shown once on
the page that made it, never flashed: flashes live in the session cookie), and for the platform role
every lender and a form to add one. Every change is audited by the services; another lender's pages
are a 404 (gateway.web.scope)."""
from __future__ import annotations

from flask import flash, g, make_response, redirect, render_template, request, url_for

from gateway import phones
from gateway.db import session_scope
from gateway.i18n import N_
from gateway.lenders import checks, partners, staff
from gateway.models import Agent, CodeKind, FieldPartner, LenderCode
from gateway.ops.console.base import actor, bp, settings
from gateway.web import scope
from gateway.web.console_session import login_required
from gateway.web.roles import ADMINS, STAFF, Role

SHOWN_ROLES = (N_("field"), N_("callcentre"), N_("manager"), N_("admin"), N_("platform"), N_("disabled"))
# What a lender's admin (and the platform) may change here; the checks are the CLI's (gateway/lenders/checks.py).
ADMIN_CHANGES = ("help_line", "sender_id", "languages", "paybill", "country", "currency", "timezone")


def _form(*names: str) -> dict[str, str]:
    return {name: request.form.get(name, "").strip() for name in names}


@bp.get("/lenders")
@login_required(Role.PLATFORM)
def lenders_page(status: int = 200):
    with session_scope() as db:
        rows = [(p, partners.code_rows(db, p.id)) for p in partners.listing(db)]
    s = settings()
    defaults = {"country": s.default_country, "timezone": s.default_timezone, "languages": "sw,en",
                "help_line": s.help_line, "sender_id": s.at_sender_id}
    return render_template("lenders.html", lenders=rows, defaults=defaults, CodeKind=CodeKind), status


@bp.post("/lenders")
@login_required(Role.PLATFORM)
def add_lender():
    form = _form("name", "country", "currency", "timezone", "languages", "help_line", "sender_id", "ussd_code",
                 "paybill")
    try:
        with session_scope() as db:
            partner = partners.add(db, form["name"], actor(), help_line=form["help_line"], country=form["country"],
                                   currency=form["currency"] or None, timezone=form["timezone"],
                                   languages=form["languages"], sender_id=form["sender_id"],
                                   ussd_codes=(form["ussd_code"],) if form["ussd_code"] else (),
                                   paybill=form["paybill"])
            partner_id = partner.id
    except partners.PartnerError as exc:
        flash(str(exc), "error")
        return lenders_page(400)
    flash(g.speaker._("Lender {name} added.", name=form["name"]), "ok")
    return redirect(url_for("ops_console.lender_page", partner_id=partner_id))


def _partner(db, partner_id: int) -> FieldPartner:
    scope.own(partner_id)
    partner = db.get(FieldPartner, partner_id)
    if partner is None:
        scope.own(None)  # 404
    return partner


@bp.get("/lenders/<id:partner_id>")
@login_required(*ADMINS)
def lender_page(partner_id: int, status: int = 200):
    with session_scope() as db:
        partner = _partner(db, partner_id)
        codes = partners.code_rows(db, partner_id)
    return render_template("lender.html", partner=partner, codes=codes, CodeKind=CodeKind), status


@bp.post("/lenders/<id:partner_id>")
@login_required(*ADMINS)
def change_lender(partner_id: int):
    sent = {name: request.form[name].strip() for name in ADMIN_CHANGES if name in request.form}  # absent: unchanged
    try:
        with session_scope() as db:
            partner = _partner(db, partner_id)
            if sent.get("currency") == "":  # as on the add form: the country's
                sent["currency"] = checks.currency_of(checks.country(sent.get("country") or partner.country))
            partners.change(db, partner, actor(), **sent)
    except partners.PartnerError as exc:
        flash(str(exc), "error")
        return lender_page(partner_id, 400)
    flash(g.speaker._("Settings saved."), "ok")
    return redirect(url_for("ops_console.lender_page", partner_id=partner_id))


@bp.post("/lenders/<id:partner_id>/codes")
@login_required(*ADMINS)
def add_code(partner_id: int):
    form = _form("kind", "code")
    try:
        with session_scope() as db:
            partner = _partner(db, partner_id)
            if form["kind"] not in set(CodeKind):
                raise partners.PartnerError("kind is ussd or shortcode")
            partners.add_code(db, partner, form["kind"], form["code"], actor())
    except partners.PartnerError as exc:
        flash(str(exc), "error")
        return lender_page(partner_id, 400)
    flash(g.speaker._("Code {code} added.", code=form["code"]), "ok")
    return redirect(url_for("ops_console.lender_page", partner_id=partner_id))


@bp.post("/lenders/<id:partner_id>/codes/<id:code_id>/remove")
@login_required(*ADMINS)
def remove_code(partner_id: int, code_id: int):
    try:
        with session_scope() as db:
            partner = _partner(db, partner_id)
            row = db.get(LenderCode, code_id)
            if row is None or row.field_partner_id != partner_id:
                scope.own(None)
            code = row.code
            partners.remove_code(db, partner, row.kind, code, actor())
    except partners.PartnerError as exc:
        flash(str(exc), "error")
        return lender_page(partner_id, 400)
    flash(g.speaker._("Code {code} removed.", code=code), "ok")
    return redirect(url_for("ops_console.lender_page", partner_id=partner_id))


# --- staff ------------------------------------------------------------------------------------------

def _roles() -> list[str]:
    """Roles the operator may give: a lender's admin never gives the platform role."""
    return [*STAFF, Role.PLATFORM] if g.operator.role == Role.PLATFORM else list(STAFF)


@bp.get("/lenders/<id:partner_id>/staff")
@login_required(*ADMINS)
def staff_page(partner_id: int, status: int = 200, issued: tuple[Agent, str] | None = None):
    with session_scope() as db:
        partner = _partner(db, partner_id)
        members = [agent for agent, _ in staff.listing(db, partner)]
    # an admin gives tokens to and disables their lender's active staff, never platform staff
    manageable = {a.id for a in members if a.active and (a.role != Role.PLATFORM or g.operator.role == Role.PLATFORM)}
    response = make_response(render_template("lender_staff.html", partner=partner, members=members, roles=_roles(),
                                              issued=issued, mask=phones.mask, manageable=manageable), status)
    if issued:  # the token is on this page only: no browser or proxy keeps a copy
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/lenders/<id:partner_id>/staff")
@login_required(*ADMINS)
def add_staff(partner_id: int):
    form = _form("phone", "name", "role", "branch")
    try:
        with session_scope() as db:
            partner = _partner(db, partner_id)
            agent, token = staff.add(db, partner, form["phone"], form["name"], form["role"], actor(),
                                     branch=form["branch"], by=g.operator)
    except (staff.StaffError, partners.PartnerError) as exc:
        flash(str(exc), "error")
        return staff_page(partner_id, 400)
    return staff_page(partner_id, 201, issued=(agent, token))


def _member(db, partner_id: int, agent_id: int) -> Agent:
    _partner(db, partner_id)
    agent = db.get(Agent, agent_id)
    if agent is None or agent.field_partner_id != partner_id:
        scope.own(None)  # 404
    return agent


@bp.post("/lenders/<id:partner_id>/staff/<id:agent_id>/token")
@login_required(*ADMINS)
def new_staff_token(partner_id: int, agent_id: int):
    try:
        with session_scope() as db:
            agent = _member(db, partner_id, agent_id)
            token = staff.new_token(db, agent, actor(), by=g.operator)
    except staff.StaffError as exc:
        flash(str(exc), "error")
        return staff_page(partner_id, 400)
    return staff_page(partner_id, issued=(agent, token))


@bp.post("/lenders/<id:partner_id>/staff/<id:agent_id>/disable")
@login_required(*ADMINS)
def disable_staff(partner_id: int, agent_id: int):
    try:
        with session_scope() as db:
            agent = _member(db, partner_id, agent_id)
            staff.disable(db, agent, actor(), by=g.operator)
            name = agent.name
    except staff.StaffError as exc:
        flash(str(exc), "error")
        return staff_page(partner_id, 400)
    flash(g.speaker._("{name} can no longer sign in.", name=name), "ok")
    return redirect(url_for("ops_console.staff_page", partner_id=partner_id))
