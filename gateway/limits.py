"""Rate limits per phone number and per source IP, counted in the app's Redis in one round trip.

A phone that hammers the USSD code or the inbound SMS number gets a 429 with a clear reply;
for USSD the reply is still a valid `END ...` screen so the handset shows it. Limits are written
as before ("40/minute", "40/minute;300/hour": the `limits` library's notation, which Flask-Limiter
used) and counted in fixed windows. One Lua script checks every counter of a request (per phone
and per IP) and, only if all are under their limit, counts the request in all of them: atomic, so
N concurrent requests never let more than the limit through, and a refused request uses up
nothing. The same round trip can fetch one more key (the USSD session's snapshot).

If Redis is unreachable the limits fall back to per-process memory and requests are still
answered: a rate limiter must never take the gateway down.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from functools import wraps

from flask import Flask, Response, g, jsonify, request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter
from redis.exceptions import RedisError

from gateway import phones
from gateway.config import Settings
from gateway.i18n import N_, Speaker
from gateway.queue import get_redis, resolve_redis_url

log = logging.getLogger(__name__)
TOO_MANY = N_("Too many requests. Please try again in a few minutes.")
PREFIX = "gateway-limits"

# KEYS: one counter per limit, then (optionally) one key to read back; ARGV: each limit's amount, then each
# limit's window in seconds. Returns {1 if allowed else 0, the extra key's value or false}.
_SCRIPT = """
local n = #ARGV / 2
local extra = false
if #KEYS > n then extra = redis.call('GET', KEYS[n + 1]) end
for i = 1, n do
  if tonumber(redis.call('GET', KEYS[i]) or '0') >= tonumber(ARGV[i]) then return {0, extra} end
end
for i = 1, n do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], ARGV[n + i]) end
end
return {1, extra}
"""


@dataclass(frozen=True)
class Rule:
    scope: str  # "ussd.ussd:phone"
    items: tuple[RateLimitItem, ...]


class Limiter:
    """Both limits of a request in one Redis round trip; per-process memory while Redis is down."""

    def __init__(self, settings: Settings):
        self.settings = settings
        # "memory://" (a Redis URL only tools use): count in this process's memory
        in_memory = resolve_redis_url(settings).startswith("memory://")
        self._script = None if in_memory else get_redis(settings).register_script(_SCRIPT)
        self._memory = FixedWindowRateLimiter(MemoryStorage())
        self._memory_lock = threading.Lock()
        self._redis_failed_at = 0.0

    def hit(self, counted: list[tuple[Rule, str]], also_get: str | None = None) -> tuple[bool, bytes | None]:
        """Count one request against each (rule, key); True if every limit allows it. Also returns the
        value of `also_get` (None if absent or if Redis is down)."""
        if self._script is None:
            return self._hit_in_memory(counted), None
        keys, amounts, windows = [], [], []
        for rule, key in counted:
            for item in rule.items:
                keys.append(f"{PREFIX}:{rule.scope}:{key}:{item.amount}/{item.multiples}/{item.GRANULARITY.name}")
                amounts.append(item.amount)
                windows.append(item.get_expiry())
        try:
            allowed, extra = self._script(keys=keys + ([also_get] if also_get else []), args=amounts + windows)
        except RedisError as exc:
            if time.monotonic() - self._redis_failed_at > 60:  # one warning a minute, not one per request
                log.warning("rate limits counted in memory: Redis unreachable: %s", exc)
            self._redis_failed_at = time.monotonic()
            return self._hit_in_memory(counted), None
        return bool(allowed), extra

    def _hit_in_memory(self, counted: list[tuple[Rule, str]]) -> bool:
        pairs = [(item, rule.scope, key) for rule, key in counted for item in rule.items]
        with self._memory_lock:
            if not all(self._memory.test(item, scope, key) for item, scope, key in pairs):
                return False
            for item, scope, key in pairs:
                self._memory.hit(item, scope, key)
        return True


def _remote_address() -> str:
    return request.remote_addr or "127.0.0.1"


def _phone_key(raw: str, settings: Settings) -> str:
    return phones.try_normalize(raw, settings.default_country) or raw.strip()[:32] or _remote_address()


def _too_many_text(settings: Settings) -> str:
    return "\n".join(Speaker(lang)._(TOO_MANY) for lang in settings.unknown_number_languages)


def ussd_breach(settings: Settings):
    body = "END " + _too_many_text(settings)  # the same for everyone: built once
    return lambda: Response(body, status=429, mimetype="text/plain")


def json_breach() -> Response:
    res = jsonify(error="too_many_requests", detail=TOO_MANY)
    res.status_code = 429
    return res


def protect(app: Flask, limiter: Limiter, endpoint: str, *, per_phone: str, per_ip: str, phone_field: str,
            on_breach, also_get=None) -> None:
    """Wrap an already registered view with a per-phone and a per-IP limit, checked together.

    `also_get(form)` may name one Redis key to read in the same round trip; the view finds its value
    (None if absent) in `flask.g.limits_fetched`."""
    view = app.view_functions[endpoint]
    phone_rule = Rule(f"{endpoint}:phone", tuple(parse_many(per_phone)))
    ip_rule = Rule(f"{endpoint}:ip", tuple(parse_many(per_ip)))
    settings = limiter.settings

    @wraps(view)
    def limited(*args, **kwargs):
        form = request.form
        counted = [(phone_rule, _phone_key(form.get(phone_field, ""), settings)), (ip_rule, _remote_address())]
        allowed, fetched = limiter.hit(counted, also_get(form) if also_get else None)
        if not allowed:
            return on_breach()
        if also_get:
            g.limits_fetched = fetched
        return view(*args, **kwargs)

    app.view_functions[endpoint] = limited


def init_app(app: Flask, settings: Settings) -> Limiter | None:
    if not settings.rate_limits_enabled:
        return None
    from gateway.ussd import snapshot

    limiter = Limiter(settings)
    app.extensions["gateway_limiter"] = limiter
    prefetch = snapshot.prefetch_key(settings)
    protect(app, limiter, "ussd.ussd", per_phone=settings.ussd_limit_per_phone, per_ip=settings.ussd_limit_per_ip,
            phone_field="phoneNumber", on_breach=ussd_breach(settings), also_get=prefetch)
    # Inbound SMS: a 429 makes AT retry later (it retries for about 10 minutes), which is what we want from a flood.
    protect(app, limiter, "sms.inbound", per_phone=settings.sms_limit_per_phone, per_ip=settings.sms_limit_per_ip,
            phone_field="from", on_breach=json_breach)
    return limiter
