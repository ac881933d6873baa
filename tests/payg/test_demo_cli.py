"""The demo device and the operator's command line: what the README shows."""
import openpaygo
from click.testing import CliRunner
from openpaygo import TokenType
from sqlmodel import select

from gateway.cli import main
from gateway.models import AuditEvent, Device, Message, PaygToken
from gateway.payg.demo import add_demo_device, demo_secret_key
from tests.helpers import codes_in, pay, sms_for


def test_a_demo_device_gets_a_code_decode_token_accepts(factory, session):
    loan = factory.loan(factory.borrower(language="en"), principal="13000", count=26, frequency="weekly",
                        rate="0.01", product="solar home system", prefix="SOL")
    add_demo_device(session, loan, "SOL-DEMO-1")
    session.commit()
    code = codes_in(sms_for(session, pay(session, loan, 35000, "DEMOPAY1")).text)[0]  # KSh 350 = 7 days
    value, kind, count, _ = openpaygo.decode_token(token=code.replace(" ", ""),
                                                   secret_key=demo_secret_key("SOL-DEMO-1"), count=0, used_counts=[])
    assert (value, kind, count) == (7, TokenType.ADD_TIME, 2)


def test_operator_issues_a_code_from_the_command_line(factory, session):
    loan = factory.loan(factory.borrower(language="sw"), product="solar home system", prefix="SOL")
    add_demo_device(session, loan, "SOL-CLI-1")
    session.commit()
    runner = CliRunner()
    refused = runner.invoke(main, ["payg-token", "sol-cli-1", "--days", "0", "--reason", "test"])
    assert refused.exit_code == 2 and "days must be a whole number from 1 to 995" in refused.output
    unknown = runner.invoke(main, ["payg-token", "NOPE", "--days", "2", "--reason", "test"])
    assert unknown.exit_code == 2 and "no device NOPE" in unknown.output
    result = runner.invoke(main, ["payg-token", "sol-cli-1", "--days", "2", "--reason", "flood week"])
    assert result.exit_code == 0, result.output
    token = session.exec(select(PaygToken)).one()
    assert result.output.startswith(f"SOL-CLI-1 count 2: {token.token[:3]} ")
    value, kind, _, _ = openpaygo.decode_token(token=token.token, secret_key=demo_secret_key("SOL-CLI-1"), count=0,
                                               used_counts=[])
    assert (value, kind) == (2, TokenType.ADD_TIME)
    event = session.exec(select(AuditEvent).where(AuditEvent.action == "payg.token_add_time")).one()
    assert event.actor.startswith("cli:") and event.data["reason"] == "flood week"
    assert session.exec(select(Message).where(Message.template == "payg_manual")).one().language == "sw"
    assert session.exec(select(Device)).one().days_credited == 2


def test_an_installed_device_is_registered_from_the_command_line(factory, session, tmp_path):
    """For a portfolio imported from a file: its PAYG loans get their devices by account number."""
    solar = factory.loan(factory.borrower(language="en"), principal="18000", count=12, rate="0",
                         product="solar home system", prefix="SOL")
    business = factory.loan(factory.borrower(language="en"))
    key = tmp_path / "key.txt"
    key.write_text("0123456789abcdef0123456789ABCDEF\n")
    runner = CliRunner()

    def register(ref, *more, key_file=str(key)):
        return runner.invoke(main, ["payg-device", ref, "--serial", "shs-5501", "--daily-rate", "50",
                                    "--secret-key-file", key_file, *more])

    refused = register(business.account_ref)
    assert refused.exit_code == 2
    assert refused.output == (f"Error: loan {business.account_ref} is a 'business loan' loan, not of a PAYG "
                              "product: no device goes with it\n")
    assert register("NOPE1").output == "Error: no loan with account number NOPE1\n"
    assert register(solar.account_ref, key_file=str(tmp_path / "missing")).exit_code == 2
    bad_key = tmp_path / "bad.txt"
    bad_key.write_text("not a key")
    assert "secret_key must be 32 hexadecimal characters" in register(solar.account_ref, key_file=str(bad_key)).output
    assert session.exec(select(Device)).all() == []
    ref, loan_id = solar.account_ref, solar.id
    session.rollback()  # end the test's read: the command writes

    done = register(ref, "--restricted-digits")
    assert done.exit_code == 0, done.output
    assert done.output == f"device SHS-5501 registered on loan {ref}: 50.00 KES a day, restricted digits\n"
    device = session.exec(select(Device)).one()
    assert (device.loan_id, device.daily_rate, device.restricted_digits) == (loan_id, 5000, True)
    assert "0123456789abcdef" not in done.output and "0123456789abcdef" not in device.secret_key_encrypted
    assert session.exec(select(AuditEvent.actor).where(AuditEvent.action == "payg.device_registered")).one() \
        .startswith("cli:")
    assert session.exec(select(Message).where(Message.template == "payg_device_registered")).one()
    again = register(ref)
    assert again.exit_code == 2 and "already has a device" in again.output
