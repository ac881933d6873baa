"""Phone numbers never reach the logs in full, and secrets not at all.

Call sites mask what they log (`phones.mask`); this is the safety net for what they cannot see:
database errors quoting their parameters, provider replies, tracebacks. Every log record's
message and traceback are masked when the record is made, so every handler gets the masked text:
ours, gunicorn's access log (whose format also leaves the query string out, gateway/serve.py) and
werkzeug's request lines. Secrets: the value after `token=`, `X-Callback-Token:`, `password=`, ...
(a callback URL's `?token=...` lets whoever reads it forge payment confirmations).
"""
from __future__ import annotations

import logging
import re

# E.164 with '+' (any country), the bare MSISDNs M-Pesa sends (2547..., 2557...) and local 07.../01...
_PHONE = re.compile(r"(?<![\d+])(?:\+\d{8,14}|2[5-6]\d{10}|0[17]\d{8})(?!\d)")


_SECRET = re.compile(r"(?i)((?:token|api_?key|password|passkey|secret|authorization)[\"']?\s*[=:]\s*[\"']?"
                     r"(?:bearer\s+|basic\s+)?)[^\s&\"',;}]+")


def mask_text(text: str) -> str:
    text = _SECRET.sub(r"\1***", text)
    return _PHONE.sub(lambda m: m.group()[:-6] + "***" + m.group()[-3:], text)


def install() -> None:
    """Idempotent: wraps the log record factory once per process."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "masks_phones", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it for logging to report
            return record
        masked = mask_text(message)
        if masked != message or record.args:
            record.msg, record.args = masked, ()
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
        return record

    factory.masks_phones = True
    logging.setLogRecordFactory(factory)
