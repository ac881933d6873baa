"""Staff authentication for the API: `Authorization: Bearer <token>` (or the console's login
session), role-checked; and the check that a provider's callback really comes from the provider.

Staff are Agent rows: field agents, call-centre agents, collections managers and admins. Only
a SHA-256 of each token is stored, so a database leak does not leak working tokens.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from functools import wraps

from flask import Response, current_app, g, jsonify, request, session
from sqlmodel import select

from gateway.db import session_scope
from gateway.models import Agent
from gateway.web import callback_auth as authenticity
from gateway.web import console_session
from gateway.web.roles import Role

log = logging.getLogger(__name__)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(agent: Agent) -> str:
    """Give an agent a new API token; returns it once (only its hash is kept)."""
    token = secrets.token_urlsafe(32)
    agent.api_token_hash = hash_token(token)
    return token


def authenticate(header: str | None) -> Agent | None:
    if not header or not header.startswith("Bearer "):
        return None
    digest = hash_token(header[7:].strip())
    with session_scope() as session:
        agent = session.exec(select(Agent).where(Agent.api_token_hash == digest, Agent.active)).first()
    return agent if agent and hmac.compare_digest(agent.api_token_hash, digest) else None


def require_role(*roles: str):
    """401 without a valid token, 403 with a token whose role is not allowed; sets g.agent."""
    unknown = set(roles) - set(Role)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            agent = authenticate(request.headers.get("Authorization"))
            if agent is None:
                return jsonify(error="unauthorized", detail="a valid Bearer token is required"), 401
            if roles and agent.role not in roles:
                return jsonify(error="forbidden", detail=f"role {agent.role!r} may not do this"), 403
            g.agent = agent
            g.actor = f"agent:{agent.id}"
            return view(*args, **kwargs)

        wrapper.roles = roles  # read by tests/test_openapi.py against the document's x-roles
        return wrapper

    return decorator


def staff(*roles: str):
    """A Bearer token (require_role), or the operator console's login session; a session caller
    must echo the page's CSRF token in X-CSRF-Token for anything but reading."""
    def decorator(view):
        by_token = require_role(*roles)(view)

        @wraps(view)
        def wrapper(*args, **kwargs):
            if request.headers.get("Authorization") or not session.get("agent_id"):
                return by_token(*args, **kwargs)
            agent = console_session.session_agent()
            if agent is None:
                return jsonify(error="unauthorized", detail="log in again"), 401
            if (request.method not in ("GET", "HEAD")
                    and not console_session.csrf_ok(request.headers.get("X-CSRF-Token"))):
                return jsonify(error="forbidden", detail="X-CSRF-Token header missing or wrong"), 403
            if roles and agent.role not in roles:
                return jsonify(error="forbidden", detail=f"role {agent.role!r} may not do this"), 403
            g.agent, g.actor = agent, f"agent:{agent.id}"
            return view(*args, **kwargs)

        wrapper.roles = roles
        return wrapper

    return decorator


def from_provider(provider: str, refuse: Callable[[str], Response]):
    """A `before_request` hook for a blueprint of provider callbacks: the request must carry the
    provider's token (`X-Callback-Token` or `?token=`) and/or come from its allowlist (see
    gateway.web.callback_auth); otherwise `refuse(reason)` answers. A hook rather than a view
    decorator so that it runs before the rate limits, which wrap the views: forged requests must
    not use up a real borrower's allowance."""

    def check():
        reason = authenticity.refusal(current_app.config["GATEWAY"], provider, request.remote_addr or "",
                                      request.headers.get("X-Callback-Token") or request.args.get("token"))
        if reason:
            log.warning("refused %s %s from %s: %s", request.method, request.path, request.remote_addr, reason)
            return refuse(reason)
        return None

    return check


def forbidden_json(reason: str):
    return jsonify(error="forbidden", detail=reason), 403
