"""The layout's rules, checked on every run (issue: the house). A failure names the file and the
rule; fix the code, not the rule, unless the layout itself changes (then README's map too)."""
import ast
import re
from pathlib import Path

import pytest

GATEWAY = Path(__file__).resolve().parents[1] / "gateway"
MAX_LINES = 400
# Words of the providers' wire formats (shared/providers.md): only adapters and stand-ins speak them.
WIRE_WORDS = ("TransID", "TransAmount", "BillRefNumber", "MpesaReceiptNumber", "CheckoutRequestID", "stkCallback",
              "ResultCode", "OriginalTransactionID", "C2B000", "AbsentSubscriber", "failureReason", "SMSMessageData",
              "statusCode", "dtmfDigits", "isActive", "hangupCause", "<Say", "<Play", "GetDigits", "transactionId")
ADAPTERS = ("providers", "standins")
# (importing package, the packages it must not import, files allowed to): layers point down only.
DOMAINS = ("ledger", "borrowers", "lenders", "payments", "payg", "messaging", "reminders", "ops", "ussd")
EDGE_FILES = ("views.py", "sms_views.py", "voice_views.py", "cli.py")  # web and command-line edges
RULES = [
    *[(d, ("gateway.workers", "gateway.standins"), ("cli.py",)) for d in DOMAINS],
    *[(d, ("gateway.providers",), EDGE_FILES) for d in DOMAINS],
    ("payments", ("gateway.payg",), ()),
    ("web", ("gateway.payments",), ()),
    *[(low, ("gateway.web", "gateway.workers", *[f"gateway.{d}" for d in DOMAINS]), ())
      for low in ("models",)],
]


def sources():
    return sorted(p for p in GATEWAY.rglob("*.py"))


def rel(path: Path) -> str:
    return str(path.relative_to(GATEWAY.parent))


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def test_no_module_is_over_400_lines():
    big = [(rel(p), n) for p in sources() if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert big == [], f"split these (a module over {MAX_LINES} lines does several jobs)"


def test_provider_wire_words_only_in_adapters():
    leaks = []
    for path in sources():
        if path.relative_to(GATEWAY).parts[0] in ADAPTERS:
            continue
        text = path.read_text()
        leaks += [(rel(path), w) for w in WIRE_WORDS if re.search(re.escape(w), text)]
    assert leaks == [], "a provider's wire format belongs in gateway/providers/ (turn it into a domain event there)"


@pytest.mark.parametrize("package,forbidden,allowed_files", RULES)
def test_layers_point_down(package, forbidden, allowed_files):
    broken = []
    for path in sorted((GATEWAY / package).rglob("*.py")):
        if path.name in allowed_files:
            continue
        bad = sorted(m for m in imports_of(path) if m.startswith(forbidden) and not m.startswith(f"gateway.{package}"))
        broken += [(rel(path), m) for m in bad]
    assert broken == [], f"gateway/{package} must not import {', '.join(forbidden)}"


def test_the_rules_would_catch_a_violation(tmp_path):
    """The checks above can fail: the same readers find a planted violation."""
    planted = tmp_path / "service.py"
    planted.write_text("from gateway.payg import service\nX = 'TransID'\n" + "x = 1\n" * MAX_LINES)
    assert "gateway.payg" in imports_of(planted)
    assert len(planted.read_text().splitlines()) > MAX_LINES
    assert any(re.search(re.escape(w), planted.read_text()) for w in WIRE_WORDS)
