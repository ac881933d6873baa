"""Staff authentication for the API: `Authorization: Bearer <token>`, role-checked.

Staff are Agent rows: field agents, call-centre agents, collections managers and admins. Only
a SHA-256 of each token is stored, so a database leak does not leak working tokens.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import wraps

from flask import g, jsonify, request
from sqlmodel import select

from gateway.db import session_scope
from gateway.models import Agent

ROLES = ("field", "callcentre", "manager", "admin")


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
    unknown = set(roles) - set(ROLES)
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
