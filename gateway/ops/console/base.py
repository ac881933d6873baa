"""The console's blueprint and what every page shares: the operator and language of the request,
the CSRF check on every form, the helpers templates use, and small helpers for the views."""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from babel.dates import get_date_format, parse_date
from flask import Blueprint, abort, current_app, g, redirect, render_template, request, session

from gateway import i18n
from gateway.i18n import N_, Speaker
from gateway.ops import flags
from gateway.web import console_session
from gateway.web.roles import CALLERS, MANAGERS, OVERSEERS, Role

OPS = Path(__file__).resolve().parent.parent  # gateway/ops: templates/ and static/ live there
bp = Blueprint("ops_console", __name__, url_prefix="/ops", template_folder=str(OPS / "templates"),
               static_folder=str(OPS / "static"))
# Values the templates show through _(value): listed so extraction keeps them in the catalogs.
SHOWN_VALUES = (
    N_("field_partner"), N_("branch"), N_("product"), N_("agent"), N_("portfolio"),
    N_("reached"), N_("no_answer"), N_("wrong_number"), N_("promise"), N_("dispute"),
    N_("pending"), N_("active"), N_("repaid"), N_("written_off"), N_("defaulted"), N_("partial"), N_("paid"),
    N_("open"), N_("kept"), N_("broken"), N_("replaced"), N_("resolved"),
    N_("default_eligible"), N_("foreign_payer"), N_("reversals"), N_("overpayment"), N_("bad_number"),
    N_("reversal_unmatched"), N_("conflicting_duplicate"), N_("spot_check_discrepancy"), N_("field_visit"),
    N_("new"), N_("arrears"), N_("confirmed"), N_("discrepancy"), N_("unreachable"),
    N_("write_off"), N_("decided"), N_("resumed"),
    N_("onboarding"), N_("recovery"), N_("approved"), N_("returned"), N_("delivered"), N_("failed"),
    N_("allocation"), N_("reversal"), N_("writeoff"), N_("restructure"),
    N_("fees"), N_("interest"), N_("principal"), N_("credit"),
    N_("add_time"), N_("disable"), N_("counter_sync"),
    N_("collections report"), N_("funders report"), N_("commissions report"), N_("messaging report"),
    N_("pursuit-cost report"),
)


def settings():
    return current_app.config["GATEWAY"]


def today() -> dt.date:
    return Speaker("en", timezone=settings().default_timezone).today()


def actor() -> str:
    return f"agent:{g.operator.id}"


def is_manager() -> bool:
    return g.operator is not None and g.operator.role in MANAGERS


def is_overseer() -> bool:
    """Reads dashboards, reports and everyone's commissions: a lender's managers and the platform role."""
    return g.operator is not None and g.operator.role in OVERSEERS


def back(default: str):
    """Back to the page the form came from (only our own pages), else `default`."""
    target = request.form.get("next") or default
    return redirect(target if target.startswith("/ops/") else default)


def month_arg() -> str:
    return request.args.get("month") or (today().replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")


@bp.before_request
def _load_operator():
    lang = request.args.get("lang")
    if lang in i18n.languages():
        session["lang"] = lang
    s = settings()
    g.speaker = Speaker(session.get("lang", "en"), s.default_country, s.default_timezone)
    g.operator = console_session.load_operator()
    if request.method == "POST" and not console_session.csrf_ok(request.form.get("csrf_token")):
        # the form did not come from a page we served to this session (CSRF), or the session expired
        return render_template("expired.html"), 400
    if any("\x00" in value for values in (*request.form.listvalues(), *request.args.listvalues()) for value in values):
        abort(400)  # PostgreSQL text cannot hold NUL: no form field or argument of ours has one


@bp.context_processor
def _helpers():
    sp = g.speaker
    return {"_": sp._, "money": sp.money, "date": sp.date, "time": sp.time, "csrf_token": console_session.csrf_token,
            "operator": g.operator, "is_manager": is_manager(), "is_overseer": is_overseer(),
            "is_caller": g.operator is not None and g.operator.role in CALLERS,
            "is_admin": g.operator is not None and g.operator.role == Role.ADMIN,
            "is_platform": g.operator is not None and g.operator.role == Role.PLATFORM,
            "lang": sp.lang, "languages": i18n.languages(), "language_name": i18n.language_name,
            "pct": lambda r: f"{(r * 100):.1f}%", "flag_reason": lambda f: flags.reason_text(f, sp),
            "date_hint": date_hint(sp)}


def date_hint(sp: Speaker) -> str:
    """How the staff member writes a date in their locale ('dd/mm/yyyy' in Kenya), for date fields'
    placeholders: the browser's own date picker shows its UI locale's format (mm/dd/yyyy), not theirs."""
    pattern = get_date_format("short", locale=sp.locale).pattern
    return re.sub("y+", "yyyy", re.sub("M+", "mm", re.sub("d+", "dd", pattern)))


def parse_day(text: str) -> dt.date:
    """A date typed in the staff member's locale (or ISO, YYYY-MM-DD); ValueError otherwise."""
    text = (text or "").strip()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return parse_date(text, locale=g.speaker.locale)
    except (ValueError, IndexError):
        raise ValueError(f"not a date: {text!r} (write it as {date_hint(g.speaker)})") from None
