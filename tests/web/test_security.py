"""Phone numbers never appear in full in the logs; secrets come only from the environment."""
import logging
import re
from pathlib import Path

from gateway.app import create_app
from gateway.config import Settings

ROOT = Path(__file__).resolve().parents[2]
NUMBERS = ["+254712345678", "+254799888777", "+254700111222"]


def full_numbers_in(text):
    # the subscriber digits of each number, in any format (+2547..., 2547..., 07..., 0712 345 678)
    return [n for n in NUMBERS if re.search(r"\s?".join(n[-9:]), text)]


def test_requests_leave_only_masked_numbers_in_the_logs(settings, factory, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    b = factory.borrower("Amina Wanjiru", NUMBERS[0], language="sw")
    loan = factory.loan(b)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")  # enqueueing fails: logged with its arguments
    client = create_app(settings.with_(mpesa_callback_token="tok")).test_client()
    for k, (phone, text) in enumerate(((NUMBERS[0], ""), (NUMBERS[0], "1"), (NUMBERS[1], ""), ("0799 888 777", "2"))):
        client.post("/ussd", data={"sessionId": f"ATUid_{k}", "phoneNumber": phone, "text": text})
    c2b = {"TransactionType": "Pay Bill", "TransID": "RKL51ZDR4F", "TransTime": "20261120121325",
           "TransAmount": "500.00", "BusinessShortCode": "600966", "BillRefNumber": loan.account_ref,
           "MSISDN": NUMBERS[2][1:], "FirstName": "A"}
    headers = {"X-Callback-Token": "tok"}
    client.post("/payments/daraja/c2b/confirmation", json=c2b, headers=headers)
    client.post("/payments/daraja/c2b/confirmation", json={**c2b, "TransAmount": "600.00"}, headers=headers)  # warns
    logging.getLogger("gateway.anything").error("provider said: %s", {"to": NUMBERS[2], "from": NUMBERS[1][1:]})
    try:
        raise ValueError(f"no borrower for {NUMBERS[1]}")
    except ValueError:
        logging.getLogger("gateway.anything").exception("lookup failed")
    text = caplog.text + "".join(r.exc_text or "" for r in caplog.records)
    assert "+254712***678" in text and "could not enqueue" in text and "seen again" in text  # the logs were written
    assert "lookup failed" in text and "ValueError: no borrower for +254799***777" in text
    assert full_numbers_in(text) == []


def test_every_secret_setting_comes_from_the_environment(monkeypatch):
    secrets = {"SECRET_KEY": "secret_key", "MPESA_CONSUMER_KEY": "mpesa_consumer_key",
               "MPESA_CONSUMER_SECRET": "mpesa_consumer_secret", "MPESA_PASSKEY": "mpesa_passkey",
               "MPESA_CALLBACK_TOKEN": "mpesa_callback_token",
               "AT_PAYMENTS_CALLBACK_TOKEN": "at_payments_callback_token",
               "AT_CALLBACK_TOKEN": "at_callback_token", "AT_API_KEY": "at_api_key"}
    for env in secrets:
        monkeypatch.setenv(env, f"from-env-{env}")
    s = Settings.from_env()
    assert {env: getattr(s, field) for env, field in secrets.items()} == {env: f"from-env-{env}" for env in secrets}
    for env in secrets:
        monkeypatch.delenv(env)
    s = Settings.from_env()
    # without the environment: empty (the feature refuses to run), or a value that says it is not a secret
    assert all(getattr(s, field) == "" or getattr(s, field).startswith("dev-only-") for field in secrets.values())


SECRET_ASSIGNMENT = re.compile(
    r"""\b\w*(secret|passkey|password|api_?key|token)\w*\s*(:\s*[\w\[\], .|]+)?=\s*["']([^"']{6,})["']""",
    re.IGNORECASE)


DEMO_DATA = {"gateway/demo.py"}  # the demo portfolio's published password is demo data, not a secret


def test_no_secret_is_written_in_the_code():
    found = []
    for path in (ROOT / "gateway").rglob("*.py"):
        if str(path.relative_to(ROOT)) in DEMO_DATA:
            continue
        for line_no, line in enumerate(path.read_text().splitlines(), 1):
            m = SECRET_ASSIGNMENT.search(line)
            if m and not m.group(3).startswith("dev-only-") and "_env(" not in line:
                found.append(f"{path.relative_to(ROOT)}:{line_no}: {line.strip()}")
    assert found == []
