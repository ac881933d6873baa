"""Staff roles are defined once (gateway/web/roles.py): no module repeats a group of role names,
and no console template decides by role itself (the views pass `is_manager`, `is_caller`)."""
from __future__ import annotations

import re
from pathlib import Path

from gateway.web.roles import ADMINS, CALLERS, MANAGERS, ROLES, STAFF, Role

GATEWAY = Path(__file__).resolve().parent.parent / "gateway"
NAMES = "|".join(Role)
GROUP = re.compile(rf'"(?:{NAMES})"\s*,\s*"(?:{NAMES})"')  # two role names in a row: a group written out
NOT_YET = {"borrowers/views.py"}  # require_role("field", "admin"): moves to Role with the borrowers' views


def test_the_groups():
    assert ROLES == STAFF == ("field", "callcentre", "manager", "admin")
    assert MANAGERS == ("manager", "admin") and CALLERS == ("callcentre", "manager", "admin")
    assert ADMINS == ("admin", "platform") and "platform" not in STAFF


def test_no_module_writes_out_a_group_of_roles():
    written = [str(p.relative_to(GATEWAY)) for p in GATEWAY.rglob("*.py") if GROUP.search(p.read_text())]
    assert sorted(set(written) - NOT_YET) == []


def test_console_templates_do_not_test_roles():
    assert [p.name for p in (GATEWAY / "ops" / "templates").glob("*.html") if "operator.role" in p.read_text()] == []
