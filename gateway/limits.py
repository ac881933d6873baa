"""Rate limits per phone number and per source IP (Flask-Limiter, counted in the app's Redis).

A phone that hammers the USSD code or the inbound SMS number gets a 429 with a clear reply;
for USSD the reply is still a valid `END ...` screen so the handset shows it. If Redis is
unreachable the limits fall back to per-process memory and requests are still answered: a
rate limiter must never take the gateway down.
"""
from __future__ import annotations

from flask import Flask, Response, jsonify, request
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address

from gateway import phones
from gateway.config import Settings
from gateway.i18n import N_, Speaker
from gateway.queue import resolve_redis_url

TOO_MANY = N_("Too many requests. Please try again in a few minutes.")


def storage_uri(settings: Settings) -> str:
    url = resolve_redis_url(settings)
    return "redis+unix://" + url[len("unix://"):] if url.startswith("unix://") else url


def _phone_key(field: str, settings: Settings):
    def key() -> str:
        raw = request.form.get(field, "")
        return "phone:" + (phones.try_normalize(raw, settings.default_country) or raw.strip()[:32] or get_remote_address())
    return key


def _too_many_text(settings: Settings) -> str:
    return "\n".join(Speaker(lang)._(TOO_MANY) for lang in settings.unknown_number_languages)


def ussd_breach(settings: Settings):
    def reply(_limit: RequestLimit) -> Response:
        return Response("END " + _too_many_text(settings), status=429, mimetype="text/plain")
    return reply


def json_breach(_limit: RequestLimit) -> Response:
    res = jsonify(error="too_many_requests", detail=TOO_MANY)
    res.status_code = 429
    return res


def protect(app: Flask, limiter: Limiter, endpoint: str, *, per_phone: str, per_ip: str, phone_field: str,
            on_breach) -> None:
    """Wrap an already registered view with a per-phone and a per-IP limit."""
    view = app.view_functions[endpoint]
    settings: Settings = app.config["GATEWAY"]
    view = limiter.limit(per_ip, key_func=lambda: "ip:" + get_remote_address(), scope=f"{endpoint}:ip",
                         on_breach=on_breach)(view)
    view = limiter.limit(per_phone, key_func=_phone_key(phone_field, settings), scope=f"{endpoint}:phone",
                         on_breach=on_breach)(view)
    app.view_functions[endpoint] = view


def init_app(app: Flask, settings: Settings) -> Limiter:
    limiter = Limiter(get_remote_address, app=app, storage_uri=storage_uri(settings), strategy="fixed-window",
                      key_prefix="gateway-limits", swallow_errors=True, in_memory_fallback_enabled=True,
                      # no X-RateLimit headers: AT ignores them, and they cost a Redis read per limit per hop
                      headers_enabled=False, enabled=settings.rate_limits_enabled)
    app.extensions["gateway_limiter"] = limiter  # Flask-Limiter itself keeps only a weak reference
    protect(app, limiter, "ussd.ussd", per_phone=settings.ussd_limit_per_phone, per_ip=settings.ussd_limit_per_ip,
            phone_field="phoneNumber", on_breach=ussd_breach(settings))
    # Inbound SMS: a 429 makes AT retry later (it retries for about 10 minutes), which is what we want from a flood.
    protect(app, limiter, "sms.inbound", per_phone=settings.sms_limit_per_phone, per_ip=settings.sms_limit_per_ip,
            phone_field="from", on_breach=json_breach)
    return limiter
