"""The operator console's login session: hashed passwords (werkzeug), login with a lockout after
wrong passwords, the signed session cookie that remembers the operator, the CSRF token every
form and every console-session API call must echo, and the role check for console pages."""
from __future__ import annotations

import hmac
import secrets
from functools import wraps

from flask import current_app, g, redirect, render_template, request, session, url_for
from sqlmodel import select
from werkzeug.security import check_password_hash, generate_password_hash

from gateway import audit, phones
from gateway.db import session_scope
from gateway.models import Agent

MIN_PASSWORD = 10
LOGIN_TRIES, LOGIN_LOCK_SECONDS = 5, 15 * 60  # wrong passwords per phone before a pause


class LockedOut(Exception):
    """Too many wrong passwords for this phone lately."""


def set_password(agent: Agent, password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
    agent.password_hash = generate_password_hash(password)


def init_app(app) -> None:
    # The session cookie is the console's login: not readable by scripts, not sent cross-site.
    app.config.setdefault("SESSION_COOKIE_HTTPONLY", True)
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def csrf_ok(sent: str | None) -> bool:
    """Whether `sent` is this session's CSRF token: the form or call came from a page we served it."""
    return bool(sent) and hmac.compare_digest(sent, session.get("csrf", ""))


def session_agent() -> Agent | None:
    """The agent this session logged in as, if still active and still with a password."""
    if not session.get("agent_id"):
        return None
    with session_scope() as db:
        agent = db.get(Agent, session["agent_id"])
    return agent if agent and agent.active and agent.password_hash else None


def load_operator() -> Agent | None:
    """The logged-in operator; a session whose agent is gone, inactive or without password is cleared."""
    agent = session_agent()
    if agent is None and session.get("agent_id"):
        session.clear()
    return agent


def _login_failures(phone: str):
    """Wrong passwords per phone, counted in Redis and forgotten after the lock period."""
    from gateway.queue import get_redis

    return get_redis(current_app.config["GATEWAY"]), f"gateway:console-login-failures:{phone}"


def log_in(phone: str | None, password: str) -> Agent | None:
    """Check a phone (E.164, None when not a phone number) and password, audited; on success start
    a fresh session (and CSRF token) for the agent, keeping the chosen language. Raises LockedOut
    after LOGIN_TRIES wrong passwords for the phone within LOGIN_LOCK_SECONDS."""
    redis, key = _login_failures(phone or "invalid")
    if int(redis.get(key) or 0) >= LOGIN_TRIES:
        raise LockedOut
    with session_scope() as db:
        agent = phone and db.exec(select(Agent).where(Agent.phone == phone, Agent.active)).first()
        ok = bool(agent and agent.password_hash and check_password_hash(agent.password_hash, password))
        audit.record(db, f"agent:{agent.id}" if agent else "anonymous", "console.login" if ok else "console.login_failed",
                     "agent", agent.id if agent else "-", phone=phones.mask(phone) if phone else "")
    if not ok:
        with redis.pipeline() as pipe:
            pipe.incr(key).expire(key, LOGIN_LOCK_SECONDS).execute()
        return None
    redis.delete(key)
    lang = session.get("lang")
    session.clear()
    session.update(agent_id=agent.id, **({"lang": lang} if lang else {}))
    return agent


def login_required(*roles: str):
    """A console page for `roles` (any logged-in operator when none): not logged in goes to the
    blueprint's login page, a role not allowed gets its forbidden.html (403). Reads g.operator."""
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if g.operator is None:
                return redirect(url_for(f"{request.blueprint}.login", next=request.full_path))
            if roles and g.operator.role not in roles:
                return render_template("forbidden.html"), 403
            return view(*args, **kwargs)
        return wrapper
    return decorator
