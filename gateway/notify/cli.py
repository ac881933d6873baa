"""`gateway notify add|list|test|remove`: a lender's outbound webhooks from the shell. The URL is
never printed back (only its masked form); a generic endpoint's signing secret is printed once."""
from __future__ import annotations

import click

from gateway.cli_support import ID, Refused
from gateway.notify.endpoints import EVENTS, KINDS


def _run(work):
    from gateway.db import session_scope

    try:
        with session_scope() as session:
            return work(session)
    except ValueError as exc:  # a lender not found, a bad URL or event: one line, exit code 2
        raise Refused(str(exc)) from None


@click.group("notify")
def notify_group() -> None:
    """Outbound webhooks (Slack or signed JSON) per lender, and their delivery log."""


@notify_group.command("add")
@click.option("--partner", "partner_name", required=True, help="the lender's name")
@click.option("--kind", type=click.Choice(KINDS), required=True)
@click.option("--name", default="", help="a label, e.g. the Slack channel")
@click.option("--url", prompt=True, hide_input=True, help="the webhook URL (a secret: asked for when not given)")
@click.option("--events", required=True, help=f"comma-separated: {','.join(EVENTS)}")
@click.option("--language", default="en", show_default=True, help="staff language of the messages")
@click.option("--hour", "daily_hour", type=int, default=7, show_default=True, help="local hour of the daily summary")
@click.option("--payment-threshold", default="0", show_default=True,
              help="announce payments at or above this amount (major units; 0: none)")
@click.option("--currency", default=None, help="currency of the payment threshold (default: the lender's)")
@click.option("--failure-threshold", type=int, default=5, show_default=True, help="failures in an hour that alert")
def add(partner_name, kind, name, url, events, language, daily_hour, payment_threshold, currency, failure_threshold):
    """Add a webhook for a lender."""
    from gateway.lenders import partners
    from gateway.money import to_minor
    from gateway.notify import endpoints

    def work(s):
        partner = partners.find(s, partner_name)
        endpoint, secret = endpoints.add(
            s, partner.id, kind, name, url, [e.strip() for e in events.split(",") if e.strip()], "cli",
            language=language, daily_hour=daily_hour,
            payment_threshold=to_minor(payment_threshold, currency or partner.currency),
            failure_threshold=failure_threshold)
        return endpoint.id, endpoint.url_hint, secret

    endpoint_id, hint, secret = _run(work)
    click.echo(f"webhook {endpoint_id} added ({kind}, {hint})")
    if secret:
        click.echo(f"signing secret (shown once, give it to the receiver): {secret}")


@notify_group.command("list")
@click.option("--partner", "partner_name", default=None,
              help="the lender's name (required once the gateway serves several lenders)")
@click.option("--deliveries", type=int, default=10, show_default=True, help="recent deliveries per lender")
def list_endpoints(partner_name, deliveries):
    """Webhooks (masked URLs) and their recent deliveries."""
    from gateway.notify import endpoints
    from gateway.web import scope

    def work(s):
        out = []
        lenders = scope.cli_lenders(s, partner_name)
        hooks = endpoints.listing(s, lenders[0] if lenders else None)
        for e in hooks:
            out.append(f"{e.id:>4}  partner {e.field_partner_id}  {e.kind:<7} {e.name:<20} {e.url_hint:<32} "
                       f"{e.language}  {','.join(e.events)}")
        for partner in sorted({e.field_partner_id for e in hooks}):
            for n, e in endpoints.recent(s, partner, deliveries):
                when = n.delivered_at or n.next_at
                out.append(f"      #{n.id} {n.event:<14} -> {e.id}  {n.status:<9} attempts {n.attempts}  "
                           f"{when:%Y-%m-%d %H:%M}Z  {n.last_error}")
        return out

    for line in _run(work) or ["no webhooks"]:
        click.echo(line)


@notify_group.command("test")
@click.argument("endpoint_id", type=ID)
def test(endpoint_id):
    """Queue a test message to a webhook (see `list` for how it went)."""
    from gateway.notify import delivery

    note_id = _run(lambda s: delivery.send_test(s, endpoint_id).id)
    click.echo(f"test notification {note_id} queued for webhook {endpoint_id}")


@notify_group.command("remove")
@click.argument("endpoint_id", type=ID)
def remove(endpoint_id):
    """Deactivate a webhook (its delivery log is kept)."""
    from gateway.notify import endpoints

    _run(lambda s: endpoints.remove(s, endpoint_id, "cli"))
    click.echo(f"webhook {endpoint_id} removed")


