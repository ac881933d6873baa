"""USSD menus. `answer()` is the one entry point the webhook calls."""
from __future__ import annotations

import datetime as dt
import logging

from sqlmodel import Session

from gateway import phones
from gateway.config import Settings
from gateway.db import get_engine, utcnow
from gateway.queue import get_redis
from gateway.ussd import choice, snapshot
from gateway.ussd.engine import Left, Reply, split_inputs
from gateway.ussd.menu import FLOW, FLOW_SEVERAL_LOANS, Ctx, unknown_number_text

log = logging.getLogger(__name__)
NOT_FETCHED = object()


def answer(settings: Settings, session_id: str, phone: str, text: str, now: dt.datetime | None = None,
           fetched=NOT_FETCHED, service_code: str = "") -> Reply:
    """One USSD hop: who is calling, at which lender (the code dialled, then the caller's choice when they
    borrow from several lenders behind it), which menu, and the screen for the inputs so far.

    `fetched`: the session's snapshot as the rate limiter's round trip already read it from Redis (None:
    there was none), so the hop does not read it again."""
    e164 = phones.try_normalize(phone, settings.default_country)
    code = service_code.strip()
    keep = e164 and settings.ussd_snapshot_ttl > 0
    if not keep:
        accounts = None
    elif fetched is NOT_FETCHED:
        accounts = snapshot.cached(get_redis(settings), session_id, e164, code)
    else:
        accounts = snapshot.parse(fetched, session_id, e164, code)
    if accounts is None and e164:
        accounts = snapshot.read_alone(settings, e164, code)  # one statement, no transaction around it
        if accounts and keep:
            snapshot.keep(get_redis(settings), session_id, accounts, settings.ussd_snapshot_ttl, code)
    if not accounts:
        log.info("USSD session %s from a number with no loan: %s", session_id, phones.mask(e164 or phone.strip()))
        return Reply(unknown_number_text(settings, code), end=True)
    inputs = split_inputs(text)
    while True:  # each turn takes inputs off the path, so it ends
        chosen = choice.choose(accounts, inputs)
        if isinstance(chosen, Reply):
            return chosen
        snap, inputs = chosen
        reply = _lender_menu(settings, session_id, snap, inputs, now, can_leave=len(accounts) > 1)
        if not isinstance(reply, Left):
            return reply
        inputs = reply.rest  # `00` on the lender's menu: back to the lender choice


def _lender_menu(settings: Settings, session_id: str, snap: snapshot.Snapshot, inputs: list[str],
                 now: dt.datetime | None, *, can_leave: bool) -> Reply | Left:
    # Writes (payment intents, promises, language, call-back requests) go through this session. It takes no
    # connection and begins no transaction unless a screen uses it: hops that only read open none.
    with Session(get_engine(settings), expire_on_commit=False) as session:
        try:
            ctx = Ctx(session=session, settings=settings, borrower=snap.caller, loans=list(snap.loans),
                      session_id=session_id, now=now or utcnow(), lender=snap.lender)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("USSD session %s, borrower %s (%s), %d inputs", session_id, snap.caller.id,
                          phones.mask(snap.caller.phone), len(inputs))
            flow = FLOW if len(snap.loans) == 1 else FLOW_SEVERAL_LOANS
            reply = flow.respond(ctx, inputs, can_leave=can_leave)
            if session.in_transaction():
                session.commit()
            return reply
        except BaseException:
            session.rollback()
            raise
