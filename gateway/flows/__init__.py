"""USSD menus. `answer()` is the one entry point the webhook calls."""
from __future__ import annotations

import datetime as dt

from sqlmodel import select

from gateway import phones
from gateway.config import Settings
from gateway.db import session_scope, utcnow
from gateway.flows.borrower import FLOW, FLOW_SEVERAL_LOANS, Ctx, borrower_loans, unknown_number_text
from gateway.flows.engine import Reply, split_inputs
from gateway.models import Borrower


def answer(settings: Settings, session_id: str, phone: str, text: str, now: dt.datetime | None = None) -> Reply:
    """One USSD hop: who is calling, which menu, and the screen for the inputs so far."""
    e164 = phones.try_normalize(phone, settings.default_country)
    with session_scope(settings) as session:
        borrower = e164 and session.exec(select(Borrower).where(Borrower.phone == e164)).first()
        loans = borrower_loans(session, borrower) if borrower else []
        if not loans:
            return Reply(unknown_number_text(settings), end=True)
        ctx = Ctx(session=session, settings=settings, borrower=borrower, loans=loans,
                  session_id=session_id, now=now or utcnow())
        flow = FLOW if len(loans) == 1 else FLOW_SEVERAL_LOANS
        return flow.respond(ctx, split_inputs(text))
