"""What a staff member may see: their own lender's data; the platform role sees every lender.

Every staff route (API, console page, report, export) narrows its queries with `lender_ids()` or
checks one record with `own()`: another lender's record is a 404, never data and never a 403 (a 403
would say the record exists)."""
from __future__ import annotations

from flask import abort, g

from gateway.models import Agent
from gateway.web.roles import Role


def current_staff() -> Agent:
    """The staff member of this request: API token (g.agent) or console session (g.operator)."""
    staff = getattr(g, "agent", None) or getattr(g, "operator", None)
    if staff is None:  # a route that forgot its auth decorator: fail closed
        abort(404)
    return staff


def lender_ids(staff: Agent | None = None) -> tuple[int, ...] | None:
    """The lenders this staff member sees; None: all of them (platform role)."""
    staff = staff or current_staff()
    return None if staff.role == Role.PLATFORM else (staff.field_partner_id,)


def sees(partner_id: int | None, staff: Agent | None = None) -> bool:
    ids = lender_ids(staff)
    return ids is None or partner_id in ids


def own(partner_id: int | None, staff: Agent | None = None) -> None:
    """404 unless the record's lender is one this staff member sees."""
    if partner_id is None or not sees(partner_id, staff):
        abort(404)


def narrow(query, partner_column, staff: Agent | None = None):
    """`query` limited to the staff member's lenders (`partner_column` e.g. Borrower.field_partner_id)."""
    ids = lender_ids(staff)
    return query if ids is None else query.where(partner_column.in_(ids))
