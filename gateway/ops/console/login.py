"""Log in, log out, and the start page of each role."""
from __future__ import annotations

from flask import flash, g, redirect, render_template, request, session, url_for

from gateway import phones
from gateway.ops.console.base import bp, settings
from gateway.web.console_session import LockedOut, LoginUnavailable, log_in, login_required
from gateway.web.roles import ROLES, Role


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        phone = phones.try_normalize(request.form.get("phone", ""), settings().default_country)
        try:
            agent = log_in(phone, request.form.get("password", ""), request.remote_addr or "")
        except LoginUnavailable:
            flash(g.speaker._("Logging in is not possible right now. Try again in a few minutes."), "error")
            return render_template("login.html"), 503
        except LockedOut:
            flash(g.speaker._("Too many wrong passwords. Try again in 15 minutes."), "error")
            return render_template("login.html"), 429
        if agent is None:
            flash(g.speaker._("Wrong phone number or password."), "error")
            return render_template("login.html"), 401
        target = request.args.get("next") or ""
        return redirect(target if target.startswith("/ops/") else url_for("ops_console.home"))
    return render_template("login.html")


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("ops_console.login"))


@bp.get("/")
@login_required(*ROLES, Role.PLATFORM)
def home():
    if g.operator.role == Role.FIELD:
        return redirect(url_for("ops_console.commissions_page"))
    if g.operator.role == Role.CALLCENTRE:
        return redirect(url_for("ops_console.queue_page"))
    return redirect(url_for("ops_console.dashboard"))
