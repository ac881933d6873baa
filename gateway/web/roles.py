"""Staff roles, defined once: the API, the console and its templates check these groups."""
from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    FIELD = "field"  # field agents: onboard borrowers, see their own commissions
    CALLCENTRE = "callcentre"  # call-centre agents: work the collections queue
    MANAGER = "manager"  # collections managers
    ADMIN = "admin"


ROLES = STAFF = tuple(Role)  # every staff member
MANAGERS = (Role.MANAGER, Role.ADMIN)
CALLERS = (Role.CALLCENTRE, *MANAGERS)  # who may work the call queue
