"""The operator console's login session: hashed passwords (werkzeug), login with a lockout after
wrong passwords, the signed session cookie that remembers the operator, the CSRF token every
form and every console-session API call must echo, and the role check for console pages.

Login attempts are counted in Redis before the password is checked (INCR, so concurrent tries
cannot slip past the limit): LOGIN_TRIES per phone and source address, and PHONE_TRIES per phone
from all addresses together, except from an address that logged in as that phone lately (a
stranger cannot lock a manager out of their own desk)."""
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
LOGIN_TRIES, LOGIN_LOCK_SECONDS = 5, 15 * 60  # attempts per phone and address before a pause
PHONE_TRIES = 50  # attempts per phone from addresses it never logged in from, in LOGIN_LOCK_SECONDS
KNOWN_ADDRESS_SECONDS = 30 * 24 * 3600  # an address that logged in as a phone stays known this long


class LockedOut(Exception):
    """Too many wrong passwords for this phone lately."""


class LoginUnavailable(Exception):
    """The attempt counter (Redis) cannot be reached: no password is checked without it."""


def set_password(agent: Agent, password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise ValueError(f"a password needs at least {MIN_PASSWORD} characters")
    agent.password_hash = generate_password_hash(password)


def init_app(app) -> None:
    # The session cookie is the console's login: not readable by scripts, not sent cross-site, and
    # sent over HTTPS only when the console is served behind HTTPS (CONSOLE_HTTPS=1). Assigned, not
    # setdefault: Flask's defaults already hold these keys.
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=app.config["GATEWAY"].console_https)


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


def _reserve_attempt(redis, phone: str, address: str) -> tuple[str, str | None, str]:
    """Count one attempt for (phone, address) and, from an address not known for the phone, for
    the phone; raises LockedOut when over a limit. Returns the keys: pair and phone counters
    (None: not counted), known address."""
    pair, every, known = (f"gateway:console-login:{phone}:{address}", f"gateway:console-login:{phone}",
                          f"gateway:console-login-known:{phone}:{address}")
    with redis.pipeline() as pipe:
        tries, _, is_known = pipe.incr(pair).expire(pair, LOGIN_LOCK_SECONDS).exists(known).execute()
    if tries > LOGIN_TRIES:
        raise LockedOut
    if is_known:
        return pair, None, known
    with redis.pipeline() as pipe:
        phone_tries, _ = pipe.incr(every).expire(every, LOGIN_LOCK_SECONDS).execute()
    if phone_tries > PHONE_TRIES:
        raise LockedOut
    return pair, every, known


def log_in(phone: str | None, password: str, address: str) -> Agent | None:
    """Check a phone (E.164, None when not a phone number) and password sent from `address`,
    audited; on success start a fresh session (and CSRF token) for the agent, keeping the chosen
    language. Raises LockedOut over the limits above, LoginUnavailable when Redis is down."""
    from redis.exceptions import RedisError

    from gateway.queue import get_redis

    redis = get_redis(current_app.config["GATEWAY"])
    try:
        pair, every, known = _reserve_attempt(redis, phone or "invalid", address or "-")
    except RedisError as err:
        raise LoginUnavailable from err
    with session_scope() as db:
        agent = phone and db.exec(select(Agent).where(Agent.phone == phone, Agent.active)).first()
        ok = bool(agent and agent.password_hash and check_password_hash(agent.password_hash, password))
        audit.record(db, f"agent:{agent.id}" if agent else "anonymous",
                     "console.login" if ok else "console.login_failed", "agent", agent.id if agent else "-",
                     phone=phones.mask(phone) if phone else "")
    if not ok:
        return None
    try:  # the right password: this address's attempts are forgiven, and it is known for the phone
        with redis.pipeline() as pipe:
            pipe.delete(pair).set(known, 1, ex=KNOWN_ADDRESS_SECONDS)
            if every:
                pipe.decr(every)
            pipe.execute()
    except RedisError as err:
        raise LoginUnavailable from err
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
