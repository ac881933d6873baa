"""Staff roles, defined once: the API, the console and its templates check these groups."""
from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    FIELD = "field"  # field agents: onboard borrowers, see their own commissions
    CALLCENTRE = "callcentre"  # call-centre agents: work the collections queue
    MANAGER = "manager"  # collections managers
    ADMIN = "admin"  # a lender's admin: its settings, staff and products
    PLATFORM = "platform"  # the gateway's operator: adds and changes lenders, sees across lenders


# A lender's staff. The platform role is added route by route where the gateway's operator needs it.
ROLES = STAFF = (Role.FIELD, Role.CALLCENTRE, Role.MANAGER, Role.ADMIN)
MANAGERS = (Role.MANAGER, Role.ADMIN)
ADMINS = (Role.ADMIN, Role.PLATFORM)  # who may change a lender's settings, staff and products
CALLERS = (Role.CALLCENTRE, *MANAGERS)  # who may work the call queue
# Who reads dashboards, PAR, reports and commissions: a lender's managers (their lender only) and the
# platform role (every lender, the lender as a column). The platform role also handles what no lender
# can be told from (a payment that matched no loan, a raw callback) once several lenders share the gateway.
OVERSEERS = (*MANAGERS, Role.PLATFORM)
