"""`gateway messages`, `gateway plan-reminders`, `gateway at-standin`."""
from __future__ import annotations

import click

from gateway.cli_support import Refused, port_taken
from gateway.config import Settings


@click.command("messages")
@click.option("--limit", default=20, show_default=True, help="How many of the most recent messages.")
@click.option("--phone", default="", help="Only messages to this phone number.")
@click.option("--partner", default=None, help="The lender (its name); required when there are several.")
def list_messages(limit: int, phone: str, partner: str | None) -> None:
    """Recent SMS of one lender's borrowers: time in the borrower's timezone, masked phone, template, status."""
    from zoneinfo import ZoneInfo

    from sqlmodel import select

    from gateway import phones
    from gateway.db import session_scope
    from gateway.models import Borrower, Message
    from gateway.web import scope

    settings = Settings.from_env()
    if limit < 1:
        raise Refused(f"--limit must be at least 1, not {limit}")
    try:
        e164 = phones.normalize(phone, settings.default_country) if phone else ""
    except phones.PhoneError as exc:
        raise Refused(str(exc)) from None
    with session_scope(settings) as session:
        try:
            lenders = scope.cli_lenders(session, partner)
        except scope.NoSuchLender as exc:
            raise Refused(str(exc)) from None
        query = select(Message, Borrower.timezone).join(Borrower, Borrower.id == Message.borrower_id, isouter=True)
        if lenders is not None:
            query = query.where(Borrower.field_partner_id.in_(lenders))
        if e164:
            query = query.where(Message.phone == e164)
        rows = session.exec(query.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit)).all()
    if not rows:
        click.echo(f"no messages to {phones.mask(e164)}" if e164 else "no messages yet")
        return
    click.echo(f"{'when (local)':<22} {'phone':<15} {'kind':<13} {'template':<22} {'lang':<4} {'status':<11} text")
    for message, timezone in rows:
        when = message.created_at.astimezone(ZoneInfo(timezone or settings.default_timezone))
        click.echo(f"{when:%Y-%m-%d %H:%M %Z}".ljust(22) + f" {phones.mask(message.phone):<15} {message.kind:<13} "
                   f"{message.template:<22} {message.language:<4} {message.status:<11} {message.text[:50]}")


@click.command("plan-reminders")
def plan_reminders_now() -> None:
    """Plan due reminders now (RQ's cron does this every 15 minutes) and enqueue their sends."""
    from gateway.workers.reminders import plan_reminders

    click.echo(f"planned {plan_reminders()} reminders")


@click.command("at-standin")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8090, show_default=True)
@click.option("--report-to", default="", help="Post a Success delivery report for each SMS to this URL, "
                                               "e.g. http://127.0.0.1:5000/sms/delivery-report.")
def at_standin_command(host: str, port: int, report_to: str) -> None:
    """Run a local Africa's Talking stand-in (SMS and Voice) for runs without network. Point the
    gateway at it: AT_SMS_BASE_URL=http://HOST:PORT/version1 AT_VOICE_BASE_URL=http://HOST:PORT."""
    import time

    from gateway.standins import africastalking as at_standin

    def show(path: str, form: dict) -> None:
        sender = f"from {form['from']} " if form.get("from") else ""  # the lender's sender id, if it has one
        what = f"SMS {sender}to {form.get('to')}: {form.get('message')}" if path.endswith("/messaging") \
            else f"call to {form.get('to')} from {form.get('from')}"
        click.echo(f"{time.strftime('%H:%M:%S')} {what}")

    try:
        _, server = at_standin.start(host, port, report_to=report_to, on_request=show)
    except OSError as exc:
        raise Refused(port_taken(port, exc)) from None
    click.echo(f"Africa's Talking stand-in on http://{host}:{server.server_address[1]} (Ctrl-C to stop)")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()
