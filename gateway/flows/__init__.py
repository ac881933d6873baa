"""USSD menus. `answer()` is the one entry point the webhook calls."""
from __future__ import annotations

import datetime as dt
import logging

from gateway import phones
from gateway.config import Settings
from gateway.db import session_scope, utcnow
from gateway.flows.borrower import FLOW, FLOW_SEVERAL_LOANS, Ctx, borrower_and_loans, unknown_number_text
from gateway.flows.engine import Reply, split_inputs

log = logging.getLogger(__name__)


def answer(settings: Settings, session_id: str, phone: str, text: str, now: dt.datetime | None = None) -> Reply:
    """One USSD hop: who is calling, which menu, and the screen for the inputs so far."""
    e164 = phones.try_normalize(phone, settings.default_country)
    with session_scope(settings) as session:
        borrower, loans = borrower_and_loans(session, e164) if e164 else (None, [])
        if not loans:
            log.info("USSD session %s from a number with no loan: %s", session_id, phones.mask(e164 or phone.strip()))
            return Reply(unknown_number_text(settings), end=True)
        ctx = Ctx(session=session, settings=settings, borrower=borrower, loans=loans,
                  session_id=session_id, now=now or utcnow())
        log.debug("USSD session %s, borrower %s (%s), %d inputs", session_id, borrower.id,
                  phones.mask(borrower.phone), len(split_inputs(text)))
        flow = FLOW if len(loans) == 1 else FLOW_SEVERAL_LOANS
        return flow.respond(ctx, split_inputs(text))
