"""The operator console: server-rendered pages under /ops for managers, admins, call-centre and
field agents. Login with a hashed password (werkzeug), a CSRF token on every form, roles per
page, English and Kiswahili through the same catalogs as the rest of the gateway. Views stay
thin: they read the form, call the ops services, and render or redirect."""
from __future__ import annotations

import datetime as dt
import hmac
import io
import secrets
from decimal import Decimal
from functools import wraps

from flask import (Blueprint, abort, current_app, flash, g, redirect, render_template, request, send_file, session,
                   url_for)
from sqlmodel import select
from werkzeug.security import check_password_hash, generate_password_hash

from gateway import audit, i18n, phones
from gateway.db import session_scope
from gateway.i18n import N_, Speaker
from gateway.models import (Agent, Borrower, CallLog, FieldPartner, Flag, Installment, LedgerEntry, Loan, Message,
                            Payment, Promise)
from gateway.money import MoneyError, to_minor
from gateway.ops import callcentre, charts, commissions, flags, loan_ops, portfolio, reports, suspense
from gateway import ledger

bp = Blueprint("ops_console", __name__, url_prefix="/ops", template_folder="templates", static_folder="static")
MANAGERS = ("manager", "admin")
CALLERS = ("callcentre", "manager", "admin")
ALL = ("field", "callcentre", "manager", "admin")
MIN_PASSWORD = 10
LOGIN_TRIES, LOGIN_LOCK_SECONDS = 5, 15 * 60  # wrong passwords per phone before a pause
# Values the templates show through _(value): listed so extraction keeps them in the catalogs.
SHOWN_VALUES = (
    N_("field_partner"), N_("branch"), N_("product"), N_("agent"), N_("portfolio"),
    N_("reached"), N_("no_answer"), N_("wrong_number"), N_("promise"), N_("dispute"),
    N_("pending"), N_("active"), N_("repaid"), N_("written_off"), N_("defaulted"), N_("partial"), N_("paid"),
    N_("open"), N_("kept"), N_("broken"), N_("replaced"), N_("resolved"),
    N_("default_eligible"), N_("foreign_payer"), N_("reversals"), N_("overpayment"), N_("bad_number"),
    N_("onboarding"), N_("recovery"),
    N_("allocation"), N_("reversal"), N_("writeoff"), N_("restructure"),
    N_("fees"), N_("interest"), N_("principal"), N_("credit"),
    N_("collections report"), N_("funders report"), N_("commissions report"), N_("messaging report"),
)


def set_password(agent: Agent, password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
    agent.password_hash = generate_password_hash(password)


def init_app(app) -> None:
    # The session cookie is the console's login: not readable by scripts, not sent cross-site.
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.register_blueprint(bp)


def _settings():
    return current_app.config["GATEWAY"]


def _today() -> dt.date:
    return Speaker("en", timezone=_settings().default_timezone).today()


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


@bp.before_request
def _load_operator():
    lang = request.args.get("lang")
    if lang in i18n.languages():
        session["lang"] = lang
    s = _settings()
    g.speaker = Speaker(session.get("lang", "en"), s.default_country, s.default_timezone)
    g.operator = None
    if session.get("agent_id"):
        with session_scope() as db:
            agent = db.get(Agent, session["agent_id"])
        if agent and agent.active and agent.password_hash:
            g.operator = agent
        else:
            session.clear()
    if request.method == "POST":
        sent = request.form.get("csrf_token", "")
        if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
            # the form did not come from a page we served to this session (CSRF), or the session expired
            return render_template("expired.html"), 400


@bp.context_processor
def _helpers():
    sp = g.speaker
    return {"_": sp._, "money": sp.money, "date": sp.date, "time": sp.time, "csrf_token": csrf_token,
            "operator": g.operator, "lang": sp.lang, "languages": i18n.languages(), "language_name": i18n.language_name,
            "pct": lambda r: f"{(r * 100):.1f}%", "flag_reason": lambda f: flags.reason_text(f, sp)}


def login_required(*roles):
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if g.operator is None:
                return redirect(url_for("ops_console.login", next=request.full_path))
            if roles and g.operator.role not in roles:
                return render_template("forbidden.html"), 403
            return view(*args, **kwargs)
        return wrapper
    return decorator


def _back(default: str):
    """Back to the page the form came from (only our own pages), else `default`."""
    target = request.form.get("next") or default
    return redirect(target if target.startswith("/ops/") else default)


def _login_failures(phone: str):
    """Wrong passwords per phone, counted in Redis and forgotten after the lock period."""
    from gateway.queue import get_redis

    return get_redis(_settings()), f"gateway:console-login-failures:{phone}"


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "POST":
        phone = phones.try_normalize(request.form.get("phone", ""), _settings().default_country)
        redis, key = _login_failures(phone or "invalid")
        if int(redis.get(key) or 0) >= LOGIN_TRIES:
            flash(g.speaker._("Too many wrong passwords. Try again in 15 minutes."), "error")
            return render_template("login.html"), 429
        with session_scope() as db:
            agent = phone and db.exec(select(Agent).where(Agent.phone == phone, Agent.active)).first()
            ok = bool(agent and agent.password_hash and check_password_hash(agent.password_hash,
                                                                            request.form.get("password", "")))
            audit.record(db, f"agent:{agent.id}" if agent else "anonymous", "console.login" if ok else "console.login_failed",
                         "agent", agent.id if agent else "-", phone=phones.mask(phone) if phone else "")
        if ok:
            redis.delete(key)
            lang = session.get("lang")
            session.clear()  # a fresh session (and CSRF token) at login
            session.update(agent_id=agent.id, **({"lang": lang} if lang else {}))
            target = request.args.get("next") or ""
            return redirect(target if target.startswith("/ops/") else url_for("ops_console.home"))
        with redis.pipeline() as pipe:
            pipe.incr(key).expire(key, LOGIN_LOCK_SECONDS).execute()
        flash(g.speaker._("Wrong phone number or password."), "error")
        return render_template("login.html"), 401
    return render_template("login.html")


@bp.post("/logout")
def logout():
    session.clear()
    return redirect(url_for("ops_console.login"))


@bp.get("/")
@login_required(*ALL)
def home():
    if g.operator.role == "field":
        return redirect(url_for("ops_console.commissions_page"))
    if g.operator.role == "callcentre":
        return redirect(url_for("ops_console.queue_page"))
    return redirect(url_for("ops_console.dashboard"))


@bp.get("/dashboard")
@login_required(*MANAGERS)
def dashboard():
    today = _today()
    by = request.args.get("by", "field_partner")
    if by not in portfolio.DIMENSIONS:
        by = "field_partner"
    with session_scope() as db:
        rows = portfolio.loan_arrears(db, today)
        trend = portfolio.par_trend(db, portfolio.month_ends(today, 5))
        table = portfolio.par_table(rows, by)
        names = {"field_partner": {}, "agent": {}}
        names["field_partner"] = dict(db.exec(select(FieldPartner.id, FieldPartner.name)).all())
        names["agent"] = dict(db.exec(select(Agent.id, Agent.name)).all())
        open_flags = len(flags.open_flags(db))
    buckets = portfolio.bucket_table(rows)
    return render_template("dashboard.html", today=today, by=by, table=table, names=names.get(by, {}),
                           whole=portfolio.par_table(rows), buckets=buckets, open_flags=open_flags,
                           trend_chart=charts.par_trend(trend, g.speaker),
                           bucket_chart=charts.buckets(buckets, g.speaker), dimensions=portfolio.DIMENSIONS)


@bp.get("/loans/<int:loan_id>")
@login_required(*ALL)
def loan_page(loan_id: int):
    today = _today()
    with session_scope() as db:
        loan = db.get(Loan, loan_id)
        if loan is None:
            abort(404)
        borrower = db.get(Borrower, loan.borrower_id)
        data = dict(
            loan=loan, borrower=borrower, today=today,
            arrears=portfolio.arrears_of(db, loan_id, today), balance=ledger.balance(db, loan, today),
            installments=db.exec(select(Installment).where(Installment.loan_id == loan_id)
                                 .order_by(Installment.due_date, Installment.seq)).all(),
            entries=db.exec(select(LedgerEntry).where(LedgerEntry.loan_id == loan_id)
                            .order_by(LedgerEntry.created_at, LedgerEntry.id)).all(),
            payments={p.id: p for p in db.exec(select(Payment).where(Payment.loan_id == loan_id))},
            messages=db.exec(select(Message).where(Message.borrower_id == borrower.id)
                             .order_by(Message.created_at.desc()).limit(50)).all(),
            calls=db.exec(select(CallLog).where(CallLog.loan_id == loan_id).order_by(CallLog.created_at.desc())).all(),
            promises=db.exec(select(Promise).where(Promise.loan_id == loan_id).order_by(Promise.created_at.desc())).all(),
            flags=db.exec(select(Flag).where((Flag.loan_id == loan_id) | (Flag.borrower_id == borrower.id))
                          .order_by(Flag.created_at.desc())).all(),
            agents=dict(db.exec(select(Agent.id, Agent.name)).all()),
            outcomes=callcentre.OUTCOMES,
        )
    return render_template("loan.html", **data)


@bp.post("/loans/<int:loan_id>/calls")
@login_required(*CALLERS)
def log_call(loan_id: int):
    form, today = request.form, _today()
    try:
        with session_scope() as db:
            loan = db.get(Loan, loan_id)
            if loan is None:
                abort(404)
            date = amount = None
            if form.get("outcome") == "promise":
                try:
                    date = dt.date.fromisoformat(form.get("promise_date", ""))
                    amount = to_minor(form.get("promise_amount", ""), loan.currency)
                except (ValueError, MoneyError):
                    raise callcentre.CallCentreError(g.speaker._("A promise needs a date and an amount.")) from None
            callcentre.log_call(db, loan_id, db.get(Agent, g.operator.id), form.get("outcome", ""), form.get("note", ""),
                                promise_date=date, promise_amount=amount, today=today)
        flash(g.speaker._("Call saved."), "ok")
    except ValueError as exc:
        flash(str(exc), "error")
    return _back(url_for("ops_console.loan_page", loan_id=loan_id))


@bp.post("/loans/<int:loan_id>/write-off")
@login_required(*MANAGERS)
def write_off(loan_id: int):
    try:
        with session_scope() as db:
            entries = loan_ops.write_off(db, loan_id, f"agent:{g.operator.id}", request.form.get("reason", ""))
            loan = db.get(Loan, loan_id)
        flash(g.speaker._("Written off: {amount}.", amount=g.speaker.money(sum(e.amount for e in entries), loan.currency)),
              "ok")
    except ValueError as exc:
        flash(str(exc), "error")
    return redirect(url_for("ops_console.loan_page", loan_id=loan_id))


@bp.post("/loans/<int:loan_id>/restructure")
@login_required(*MANAGERS)
def restructure(loan_id: int):
    form = request.form
    try:
        try:
            count, first_due = int(form.get("count", "")), dt.date.fromisoformat(form.get("first_due", ""))
            rate = Decimal(form.get("rate") or "0")
        except (ValueError, ArithmeticError):
            raise loan_ops.LoanOpError(g.speaker._("Give the number of installments, the first due date and the rate.")) from None
        with session_scope() as db:
            new = loan_ops.restructure(db, loan_id, f"agent:{g.operator.id}", form.get("reason", ""), count=count,
                                       first_due=first_due, frequency=form.get("frequency", "monthly"), rate=rate)
        flash(g.speaker._("New schedule of {count} installments.", count=len(new)), "ok")
    except ValueError as exc:
        flash(str(exc), "error")
    return redirect(url_for("ops_console.loan_page", loan_id=loan_id))


@bp.get("/flags")
@login_required(*MANAGERS)
def flags_page():
    with session_scope() as db:
        items = flags.open_flags(db)
    return render_template("flags.html", flags=items)


@bp.post("/flags/scan")
@login_required(*MANAGERS)
def scan_flags():
    with session_scope() as db:
        raised = flags.scan(db, _today(), _settings())
    flash(g.speaker._("{count} new flags.", count=len(raised)), "ok")
    return redirect(url_for("ops_console.flags_page"))


@bp.post("/flags/<int:flag_id>/resolve")
@login_required(*MANAGERS)
def resolve_flag(flag_id: int):
    try:
        with session_scope() as db:
            flags.resolve(db, flag_id, f"agent:{g.operator.id}", request.form.get("note", ""))
        flash(g.speaker._("Flag resolved."), "ok")
    except ValueError as exc:
        flash(str(exc), "error")
    return _back(url_for("ops_console.flags_page"))


@bp.get("/suspense")
@login_required(*MANAGERS)
def suspense_page():
    with session_scope() as db:
        items = suspense.suspense_payments(db)
    return render_template("suspense.html", payments=items)


@bp.post("/suspense/<int:payment_id>/resolve")
@login_required(*MANAGERS)
def resolve_suspense(payment_id: int):
    try:
        with session_scope() as db:
            p = suspense.resolve(db, payment_id, request.form.get("account_ref", ""), f"agent:{g.operator.id}")
            ref = db.get(Loan, p.loan_id).account_ref
        flash(g.speaker._("Payment {txn} posted to loan {ref}.", txn=p.provider_txn_id, ref=ref), "ok")
    except ValueError as exc:
        flash(str(exc), "error")
    return redirect(url_for("ops_console.suspense_page"))


@bp.post("/suspense/<int:payment_id>/refund")
@login_required(*MANAGERS)
def refund_suspense(payment_id: int):
    try:
        with session_scope() as db:
            p = suspense.refund(db, payment_id, f"agent:{g.operator.id}", request.form.get("reason", ""))
        flash(g.speaker._("Payment {txn} marked as refunded.", txn=p.provider_txn_id), "ok")
    except ValueError as exc:
        flash(str(exc), "error")
    return redirect(url_for("ops_console.suspense_page"))


@bp.get("/queue")
@login_required(*CALLERS)
def queue_page():
    today = _today()
    with session_scope() as db:
        items = callcentre.work_queue(db, today, g.operator.id, only_agent=g.operator.role == "callcentre")
        progress = callcentre.team_progress(db, today, _settings())
        agents = dict(db.exec(select(Agent.id, Agent.name)).all())
        callers = db.exec(select(Agent).where(Agent.role == "callcentre", Agent.active).order_by(Agent.name)).all()
    return render_template("queue.html", items=items[:200], total=len(items), progress=progress, agents=agents,
                           callers=callers, outcomes=callcentre.OUTCOMES, today=today,
                           max_promise=today + dt.timedelta(days=7))


@bp.post("/queue/assign")
@login_required(*MANAGERS)
def assign():
    try:
        ids = [int(x) for x in request.form.getlist("loan_id")]
        with session_scope() as db:
            n = callcentre.assign(db, ids, int(request.form.get("agent_id", "0")), f"agent:{g.operator.id}")
        flash(g.speaker._("{count} accounts assigned.", count=n), "ok")
    except ValueError as exc:
        flash(str(exc), "error")
    return redirect(url_for("ops_console.queue_page"))


def _month_arg() -> str:
    month = request.args.get("month") or (_today().replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
    return month


@bp.get("/reports")
@login_required(*ALL)
def reports_page():
    names = list(reports.REPORTS) if g.operator.role in MANAGERS else ["commissions"]
    return render_template("reports.html", names=names, month=_month_arg())


@bp.get("/reports/<name>.<fmt>")
@login_required(*ALL)
def download(name: str, fmt: str):
    if name not in reports.REPORTS or fmt not in reports.FORMATS:
        abort(404)
    mine = g.operator.role not in MANAGERS
    if mine and name != "commissions":
        return render_template("forbidden.html"), 403
    month = _month_arg()
    try:
        with session_scope() as db:
            kw = {"agent_id": g.operator.id} if mine else {}  # agents get only their own commissions
            report = reports.build(db, name, month, _settings(), **kw)
    except ValueError as exc:
        flash(str(exc), "error")
        return redirect(url_for("ops_console.reports_page"))
    mimetype = "text/csv" if fmt == "csv" else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return send_file(io.BytesIO(reports.render(report, fmt)), mimetype=mimetype, as_attachment=True,
                     download_name=report.filename(month, fmt))


@bp.get("/commissions")
@login_required(*ALL)
def commissions_page():
    month = _month_arg()
    try:
        with session_scope() as db:
            agents = commissions.commissions(db, month, _settings(),
                                             None if g.operator.role in MANAGERS else g.operator.id)
    except ValueError as exc:
        flash(str(exc), "error")
        agents = []
    return render_template("commissions.html", agents=agents, month=month)
