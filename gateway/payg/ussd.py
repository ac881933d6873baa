"""PAYG additions to the borrower's USSD menu, as data for gateway.flows: a "My last code"
option (shown only for loans with a device) and the days of light on the balance screen.
gateway.ussd.menu imports this module: import gateway.flows, not this module, first."""
from __future__ import annotations

import datetime as dt

from gateway.i18n import N_
from gateway.payg import service
from gateway.ussd.engine import Option, Screen


def has_device(ctx) -> bool:
    return ctx.loan is not None and ctx.loan.device is not None


def balance_lines(ctx) -> list[str]:
    device = ctx.loan.device  # from the hop's snapshot
    if device is None:
        return []
    status = service.light_of(device.credit_until, device.unlocked, ctx.today)
    if status.unlocked:
        return [ctx._("Solar system unlocked for good")]
    return [ctx._("Days of light left: {days}", days=status.days_left)]


def _last_code_text(ctx) -> str:
    token = service.last_code(ctx.session, ctx.loan)
    if token is None:
        return ctx._("No code has been sent yet. Pay to get a code.")
    code = service.group_code(token.token)
    if token.kind == "disable":
        text = ctx._("Your solar system is unlocked for good. Last code: {code}", code=code)
    else:
        text = ctx._("Your last code: {code}", code=code)
    resend = ctx.memo("payg_resend", lambda: None)  # set by on_show on the hop that shows this screen
    if resend is None or resend.sent:
        return text + "\n" + ctx._("We have sent it to you by SMS too.")
    return text + "\n" + ctx._("Sent by SMS at {time}. One SMS every {minutes} min.",
                                 time=ctx.speaker.time(resend.last_sent_at),
                                 minutes=ctx.settings.payg_code_resend_minutes)


def _resend_last_code(ctx) -> None:
    ctx._memo["payg_resend"] = service.resend_last_code(
        ctx.session, ctx.loan, f"ussd:{ctx.session_id}",
        every=dt.timedelta(minutes=ctx.settings.payg_code_resend_minutes), now=ctx.now)


LAST_CODE_OPTION = Option("7", N_("My last code"), "payg_last_code", visible=has_device)
SCREENS = [Screen("payg_last_code", _last_code_text, on_show=_resend_last_code)]
