"""Two lenders on one gateway, one person borrowing from both: each USSD code shows its own lender's
loan, a shared code asks which lender first, a paybill payment goes only to its own lender's loans
(and its receipt leaves under that lender's sender id and name), and money sent to a shortcode no
lender has waits for review."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select

from gateway.borrowers import onboarding
from gateway.models import Borrower, CodeKind, FieldPartner, LenderCode, Payment
from tests.helpers import c2b, ledger_of, payments, post_callback, read, run_jobs, run_payment_jobs, staff

pytestmark = pytest.mark.usefixtures("frozen_clock")  # NOW, 12:00 in Nairobi
AMINA = "+254712345678"


@pytest.fixture
def lenders(session, factory):
    """Jirani Finance (MFI, *384*1#, paybill 600100) and Sola Bora (PAYG solar, *384*2#, paybill 600200);
    *384*9# is shared by both. Amina has a loan at each: (jirani loan, sola loan)."""
    jirani = factory.partner
    jirani.paybill, jirani.sender_id = "600100", "JIRANI"
    sola = FieldPartner(name="Sola Bora", help_line="0800 222 333", paybill="600200", sender_id="SOLABORA")
    session.add_all([jirani, sola])
    session.flush()
    session.add_all([LenderCode(field_partner_id=jirani.id, kind=CodeKind.USSD, code="*384*1#"),
                     LenderCode(field_partner_id=sola.id, kind=CodeKind.USSD, code="*384*2#"),
                     LenderCode(field_partner_id=jirani.id, kind=CodeKind.USSD, code="*384*9#"),
                     LenderCode(field_partner_id=sola.id, kind=CodeKind.USSD, code="*384*9#"),
                     LenderCode(field_partner_id=jirani.id, kind=CodeKind.SHORTCODE, code="600100"),
                     LenderCode(field_partner_id=sola.id, kind=CodeKind.SHORTCODE, code="600200")])
    session.commit()
    at_jirani = factory.borrower("Amina Wanjiru", AMINA, language="en")
    jirani_loan = factory.loan(at_jirani, principal="4000", count=4, first_due=dt.date(2026, 12, 1))
    at_sola = onboarding.create_borrower(session, sola, "Amina Wanjiru", AMINA, "sw")
    session.commit()
    sola_loan = factory.loan(at_sola, principal="18000", count=12, rate="0", product="solar home system",
                             prefix="SOL")
    return jirani_loan, sola_loan


def ussd(client, code, text="", session_id=None):
    res = client.post("/ussd", data={"sessionId": session_id or f"ATUid_{code}_{text}", "serviceCode": code,
                                     "phoneNumber": AMINA, "networkCode": "63902", "text": text})
    assert res.status_code == 200
    return res.get_data(as_text=True)


def test_each_lenders_code_shows_only_that_lenders_loan(client, lenders):
    jirani_loan, sola_loan = lenders
    jirani = ussd(client, "*384*1#")
    assert jirani.startswith(f"CON Jirani Finance\nHello Amina. Loan {jirani_loan.account_ref}\n1 Balance")
    assert sola_loan.account_ref not in jirani
    sola = ussd(client, "*384*2#")
    assert sola.startswith(f"CON Sola Bora\nHabari Amina. Mkopo {sola_loan.account_ref}\n1 Salio")
    assert jirani_loan.account_ref not in sola
    assert ussd(client, "*384*2#", "1") == (f"CON Mkopo {sola_loan.account_ref}\nSalio: Ksh 18,000\n"
                                           "0 Menyu 00 Rudi")


def test_a_shared_code_asks_which_lender_first(client, session, lenders):
    jirani_loan, sola_loan = lenders
    assert ussd(client, "*384*9#", session_id="S9") == "CON Choose a lender:\n1 Jirani Finance\n2 Sola Bora"
    assert ussd(client, "*384*9#", "2", session_id="S9").startswith(
        f"CON Sola Bora\nHabari Amina. Mkopo {sola_loan.account_ref}")
    assert ussd(client, "*384*9#", "2*1", session_id="S9") == (
        f"CON Mkopo {sola_loan.account_ref}\nSalio: Ksh 18,000\n0 Menyu 00 Rudi")
    assert ussd(client, "*384*9#", "1*1", session_id="S9") == (  # same session, the other lender: never mixed
        f"CON Loan {jirani_loan.account_ref}\nBalance: Ksh4,800\n0 Menu 00 Back")
    assert ussd(client, "*384*9#", "7", session_id="S9") == (
        "CON Invalid choice. Try again.\nChoose a lender:\n1 Jirani Finance\n2 Sola Bora")
    assert ussd(client, "*384*9#", "7*1", session_id="S9").startswith("CON Jirani Finance\nHello Amina.")


def test_back_on_the_chosen_lenders_menu_goes_back_to_the_lender_choice(client, lenders):
    jirani_loan, sola_loan = lenders
    choose = "CON Choose a lender:\n1 Jirani Finance\n2 Sola Bora"
    assert ussd(client, "*384*9#", "2*00", session_id="B9") == choose
    assert ussd(client, "*384*9#", "2*5*00*00", session_id="B9") == choose  # back from Language, then the menu
    assert ussd(client, "*384*9#", "2*00*1", session_id="B9").startswith(
        f"CON Jirani Finance\nHello Amina. Loan {jirani_loan.account_ref}\n1 Balance")
    assert ussd(client, "*384*9#", "2*00*1*1", session_id="B9") == (
        f"CON Loan {jirani_loan.account_ref}\nBalance: Ksh4,800\n0 Menu 00 Back")
    # 00 below the menu goes back one screen as always; twice, to the lender choice
    assert ussd(client, "*384*9#", "2*1*00", session_id="B9").startswith(
        f"CON Sola Bora\nHabari Amina. Mkopo {sola_loan.account_ref}\n1 Salio")
    assert ussd(client, "*384*9#", "2*1*00*00", session_id="B9") == choose
    assert ussd(client, "*384*9#", "2*00*7", session_id="B9") == (
        "CON Invalid choice. Try again.\nChoose a lender:\n1 Jirani Finance\n2 Sola Bora")
    assert ussd(client, "*384*9#", "2*00*00", session_id="B9") == choose  # nothing before the choice


def test_back_on_a_lenders_own_code_stays_on_its_menu(client, lenders):
    jirani_loan, _ = lenders
    assert ussd(client, "*384*1#", "00").startswith(
        f"CON Jirani Finance\nHello Amina. Loan {jirani_loan.account_ref}\n1 Balance")


def test_a_shared_code_goes_straight_in_for_a_borrower_of_one_lender(client, factory, lenders):
    john = factory.borrower("John Otieno", "+254722000111", language="en")
    loan = factory.loan(john, principal="4000", count=4, first_due=dt.date(2026, 12, 1))
    res = client.post("/ussd", data={"sessionId": "J1", "serviceCode": "*384*9#", "phoneNumber": john.phone,
                                     "text": ""})
    assert res.get_data(as_text=True).startswith(f"CON Jirani Finance\nHello John. Loan {loan.account_ref}")
    res = client.post("/ussd", data={"sessionId": "J2", "serviceCode": "*384*2#", "phoneNumber": john.phone,
                                     "text": ""})  # Sola's own code: John has no loan there
    assert res.get_data(as_text=True) == (
        "END Samahani, nambari hii haijasajiliwa. Piga 0800 222 333 kwa msaada.\n"
        "Sorry, this number is not registered. Call 0800 222 333 for help.")


def test_a_paybill_payment_posts_only_to_its_lenders_loan_and_the_receipt_is_the_lenders(
        pay_client, session, lenders, at_server):
    jirani_loan, sola_loan = lenders
    res = post_callback(pay_client, "/payments/daraja/c2b/confirmation",
                        c2b("RKL51ZDR4F", "1500.00", sola_loan.account_ref, BusinessShortCode="600200"))
    assert res.status_code == 200
    run_payment_jobs()
    [payment] = payments(session)
    assert (payment.status, payment.loan_id) == ("posted", sola_loan.id)
    assert sum(amount for _, amount, _ in ledger_of(session, payment.id)) == 150_000
    run_jobs()
    [sms] = at_server.sms
    assert sms["from"] == "SOLABORA" and sms["to"] == AMINA
    assert sms["message"].startswith(f"Sola Bora: Tumepokea Ksh 1,500 kwa mkopo {sola_loan.account_ref}.")


def test_an_account_number_sent_to_another_lenders_paybill_is_not_posted(pay_client, session, lenders):
    _, sola_loan = lenders
    post_callback(pay_client, "/payments/daraja/c2b/confirmation",
                  c2b("RKL51ZDR4G", "500.00", sola_loan.account_ref, BusinessShortCode="600100"))
    run_payment_jobs()
    [payment] = payments(session)
    assert (payment.status, payment.loan_id) == ("suspense", None)
    assert payment.note == "no loan matches the account number or the payer's phone"


def test_a_payment_to_a_shortcode_no_lender_has_is_kept_for_review(pay_client, session, lenders, factory):
    _, sola_loan = lenders
    res = post_callback(pay_client, "/payments/daraja/c2b/validation",
                        c2b("RKL51ZDR4H", "500.00", sola_loan.account_ref, BusinessShortCode="999999"))
    assert res.get_json() == {"ResultCode": "0", "ResultDesc": "Accepted"}
    post_callback(pay_client, "/payments/daraja/c2b/confirmation",
                  c2b("RKL51ZDR4H", "500.00", sola_loan.account_ref, BusinessShortCode="999999"))
    run_payment_jobs()
    [payment] = payments(session)
    assert (payment.status, payment.loan_id, payment.note) == ("suspense", None, "unknown shortcode 999999")
    # no lender's money yet: the platform role reviews it, a lender's staff never see it
    for role, notes in (("platform", ["unknown shortcode 999999"]), ("manager", [])):
        listed = pay_client.get("/api/payments/suspense", headers=staff(session, factory, role)[1])
        assert [p["note"] for p in listed.get_json()["payments"]] == notes
    assert read(session, select(Payment).where(Payment.loan_id == sola_loan.id)) == []


def test_the_lender_choice_is_in_the_callers_language(client, session, lenders):
    jirani_loan, _ = lenders
    borrower = read(session, select(Borrower).where(Borrower.id == jirani_loan.borrower_id))[0]
    borrower.language = "sw"
    session.add(borrower)
    session.commit()
    assert ussd(client, "*384*9#") == "CON Chagua mkopeshaji:\n1 Jirani Finance\n2 Sola Bora"


def test_long_lender_names_are_paged_never_cut(client, session, lenders):
    for partner in read(session, select(FieldPartner)):
        partner.name = f"{partner.name} Microfinance Bank and Savings Cooperative of the Lake Region of Kenya Ltd"
        session.add(partner)
    session.commit()
    for path in ("", "98", "1", "1*98", "2", "2*98"):
        page = ussd(client, "*384*9#", path, session_id=f"L{path}")
        assert len(page) <= 182, (path, page)
    first, second = ussd(client, "*384*9#", "", "L1"), ussd(client, "*384*9#", "98", "L1")
    assert first.endswith("\n98 More") and "1 Jirani Finance Microfinance" in first
    assert "2 Sola Bora Microfinance Bank and Savings Cooperative of the Lake Region of Kenya Ltd" in first + second
    main = ussd(client, "*384*9#", "2", "L2") + ussd(client, "*384*9#", "2*98", "L2")
    assert main.startswith("CON Sola Bora Microfinance") and "8 Nipigie simu" in main


def test_an_operator_cannot_put_one_lenders_money_on_anothers_loan(pay_client, session, factory, lenders):
    jirani_loan, sola_loan = lenders
    _, auth = staff(session, factory, "manager")
    post_callback(pay_client, "/payments/daraja/c2b/confirmation",
                  c2b("RKL51ZDR4J", "500.00", "NOSUCH", BusinessShortCode="600100"))
    post_callback(pay_client, "/payments/daraja/c2b/confirmation",
                  c2b("RKL51ZDR4K", "500.00", "NOSUCH", BusinessShortCode="999999"))
    run_payment_jobs()
    to_jirani, unknown = payments(session)
    # the money sent to Jirani's paybill is Jirani's to review, though it matched no loan
    listed = pay_client.get("/api/payments/suspense", headers=auth).get_json()["payments"]
    assert [p["provider_txn_id"] for p in listed] == ["RKL51ZDR4J"]
    res = pay_client.post(f"/api/payments/{to_jirani.id}/assign", json={"account_ref": sola_loan.account_ref},
                          headers=auth)
    assert res.status_code == 404  # Sola Bora's loan: not one Jirani's staff can see
    _, platform = staff(session, factory, "platform")
    res = pay_client.post(f"/api/payments/{to_jirani.id}/assign", json={"account_ref": sola_loan.account_ref},
                          headers=platform)
    assert res.status_code == 409 and res.get_json()["error"] == "other_lender"  # not even the platform role
    res = pay_client.post(f"/api/payments/{to_jirani.id}/assign", json={"account_ref": jirani_loan.account_ref},
                          headers=auth)
    assert res.get_json()["payment"]["status"] == "posted"
    # money to a shortcode no lender has: the platform role, having found out whose it is, decides
    res = pay_client.post(f"/api/payments/{unknown.id}/assign", json={"account_ref": sola_loan.account_ref},
                          headers=auth)
    assert res.status_code == 404
    res = pay_client.post(f"/api/payments/{unknown.id}/assign", json={"account_ref": sola_loan.account_ref},
                          headers=platform)
    assert res.get_json()["payment"]["loan_id"] == sola_loan.id


def test_a_lenders_menu_speaks_only_its_languages(client, session, lenders):
    _, sola_loan = lenders
    sola = read(session, select(FieldPartner).where(FieldPartner.name == "Sola Bora"))[0]
    sola.languages = "sw"
    at_sola = read(session, select(Borrower).where(Borrower.id == sola_loan.borrower_id))[0]
    at_sola.language = "fr"  # chosen when Sola Bora still offered French
    session.add_all([sola, at_sola])
    session.commit()
    assert ussd(client, "*384*2#").startswith(f"CON Sola Bora\nHabari Amina. Mkopo {sola_loan.account_ref}")
    assert ussd(client, "*384*2#", "5") == "CON Chagua lugha yako:\n1 Kiswahili\n0 Menyu 00 Rudi"
    assert "1 Balance" in ussd(client, "*384*1#")  # Jirani Finance: her English there is unchanged


STATEMENT = """Receipt No.,Completion Time,Initiation Time,Details,Transaction Status,Paid In,Withdrawn,Balance,Balance Confirmed,Reason Type,Other Party Info,Linked Transaction ID,A/C No.
RKL51ZDR9M,2026-11-21 12:13:25,2026-11-21 12:13:25,Pay Bill from 254708374149 - JOHN DOE Acc. {ref},Completed,500.00,,25500.00,true,Pay Bill Online,254708374149 - JOHN DOE,,{ref}
"""  # noqa: E501


def test_a_statement_is_one_lenders_and_its_payments_go_only_to_that_lenders_loans(session, lenders, tmp_path):
    """`payments import` matched a statement's rows against every lender's loans: a payment into Jirani's
    paybill naming Sola's account number was posted to Sola's loan. Now the lender is named (required
    among several) and such a row waits in suspense, as its callback would have."""
    from click.testing import CliRunner

    from gateway.cli import main

    _, sola_loan = lenders
    statement = tmp_path / "jirani.csv"
    statement.write_text(STATEMENT.format(ref=sola_loan.account_ref))
    unnamed = CliRunner().invoke(main, ["payments", "import", str(statement)])
    assert unnamed.exit_code == 2 and "say which lender with --partner NAME" in unnamed.output
    assert payments(session) == []
    result = CliRunner().invoke(main, ["payments", "import", str(statement), "--partner", "Jirani Finance"])
    assert result.exit_code == 0, result.output
    run_payment_jobs()
    [payment] = payments(session)
    assert (payment.status, payment.loan_id) == ("suspense", None)


@pytest.mark.parametrize("phone", [AMINA, "+254799000999"])  # a borrower, and a number with no loan
def test_a_service_code_with_a_nul_character_is_a_bad_request(client, lenders, phone):
    """The USSD code selects the lender in a query: with a NUL, PostgreSQL refused it and AT got a 500."""
    res = client.post("/ussd", data={"sessionId": "ATUid_nul", "serviceCode": "*384*1\x00#", "phoneNumber": phone,
                                     "networkCode": "63902", "text": ""})
    assert (res.status_code, res.get_data(as_text=True)) == (400, "END Bad request: invalid serviceCode")


def test_a_confirmation_naming_a_shortcode_with_a_nul_is_kept_in_suspense(pay_client, session, lenders):
    """"600\\u0000200" (valid JSON) reached the lender lookup: PostgreSQL refused it, the callback failed at
    every retry and the money was never recorded. Now it is written out and the payment waits for review."""
    _, sola_loan = lenders
    res = post_callback(pay_client, "/payments/daraja/c2b/confirmation",
                        c2b("RKL51ZDR4Q", "500.00", sola_loan.account_ref, BusinessShortCode="600\u0000200"))
    assert res.status_code == 200
    run_payment_jobs()
    [payment] = payments(session)
    assert (payment.status, payment.loan_id, payment.amount) == ("suspense", None, 50_000)
    assert payment.note == "unknown shortcode 600\\x00200"
