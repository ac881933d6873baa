"""AT SMS callbacks: delivery reports (with re-sends), incoming SMS keywords in both languages,
AT's opt-out callback. Idempotent on AT's ids; malformed posts answered 400 and kept for review."""
import datetime as dt

import time_machine
from sqlmodel import select

from gateway.messaging import queue_sms
from gateway.models import AuditEvent, CallbackRequest, DeliveryReport, InboundSms, Message, RejectedCallback
from tests.helpers import read, run_jobs, scheduled_at

T0 = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


def sent_message(session, borrower):
    m = queue_sms(session, borrower, "balance_none", kind="reply", lender="Jirani Finance", help_line="0800 720 000")
    session.commit()
    run_jobs()
    (m,) = read(session, select(Message).where(Message.id == m.id))
    assert m.status == "sent"
    return m


def test_delivery_report_marks_delivered_once(at_server, factory, session, client):
    b = factory.borrower()
    m = sent_message(session, b)
    form = {"id": m.provider_message_id, "status": "Success", "phoneNumber": b.phone, "networkCode": "63902",
            "retryCount": "0"}
    for _ in range(2):  # AT repeats a report it thinks we missed
        r = client.post("/sms/delivery-report", data=form)
        assert r.status_code == 200
    (m,) = read(session, select(Message).where(Message.id == m.id))
    assert m.status == "delivered" and m.delivered_at is not None
    assert [h["status"] for h in m.status_history] == ["sending", "sent", "dlr:Success"]
    assert len(read(session, select(DeliveryReport))) == 1


def test_failed_delivery_is_sent_again_with_backoff_permanent_is_not(at_server, factory, session, client):
    b, c = factory.borrower(), factory.borrower()
    with time_machine.travel(T0, tick=False) as clock:  # frozen: the backoff is measured from T0 exactly
        absent = sent_message(session, b)
        blacklisted = sent_message(session, c)
        client.post("/sms/delivery-report", data={"id": absent.provider_message_id, "status": "Submitted"})
        client.post("/sms/delivery-report", data={"id": absent.provider_message_id, "status": "AbsentSubscriber",
                                                  "phoneNumber": b.phone})
        client.post("/sms/delivery-report", data={"id": blacklisted.provider_message_id, "status": "Rejected",
                                                  "failureReason": "UserInBlackList"})
        run_jobs()
        assert len(at_server.sms) == 2  # the re-send waits for its backoff
        (due,) = scheduled_at()
        assert due == T0 + dt.timedelta(seconds=60)  # the first retry's backoff (SMS_RETRY_BASE_SECONDS)
        clock.move_to(due + dt.timedelta(seconds=1))
        run_jobs()
    absent, blacklisted = read(session, select(Message).order_by(Message.id))
    assert [s["to"] for s in at_server.sms] == [b.phone, c.phone, b.phone]
    assert (absent.status, absent.attempts, absent.provider_message_id) == ("sent", 2, "ATXid_0003")
    assert (blacklisted.status, blacklisted.failure_reason) == ("undelivered", "UserInBlackList")


def test_malformed_delivery_report_is_400_and_kept(at_server, factory, session, client):
    r = client.post("/sms/delivery-report", data={"status": "Success"})
    assert r.status_code == 400 and r.get_json()["error"] == "bad_request"
    r = client.post("/sms/delivery-report", data={"id": "ATXid_1", "status": "Teleported"})
    assert r.status_code == 400
    rows = read(session, select(RejectedCallback))
    assert [(x.source, x.payload) for x in rows] == [
        ("at.sms.delivery-report", {"status": "Success"}),
        ("at.sms.delivery-report", {"id": "ATXid_1", "status": "Teleported"})]
    # a report for a message we do not know is stored and acknowledged (AT would retry otherwise)
    r = client.post("/sms/delivery-report", data={"id": "ATXid_unknown", "status": "Success"})
    assert r.status_code == 200 and r.get_json()["result"] == "unknown_message"


def inbound(client, phone, text, id_):
    return client.post("/sms/inbound", data={"from": phone, "to": "22384", "text": text, "id": id_,
                                             "date": "2026-11-25 09:00:00", "linkId": "", "networkCode": "63902"})


def test_inbound_keywords_in_both_languages(at_server, factory, session, client):
    amina = factory.borrower(name="Amina Wanjiru", language="sw")
    john = factory.borrower(name="John Otieno", language="en")
    loan = factory.loan(john, first_due=dt.date(2026, 12, 1))
    with time_machine.travel(T0, tick=True):
        cases = [(amina, "SITISHA", "opt_out"), (amina, "anza tafadhali", "opt_in"), (amina, "Salio", "balance"),
                 (john, "stop", "opt_out"), (john, "START", "opt_in"), (john, "balance", "balance"),
                 (john, "Habari, nimelipa jana lakini sijapata risiti", "callcentre")]
        for k, (who, text, action) in enumerate(cases):
            r = inbound(client, who.phone, text, f"in-{k}")
            assert (r.status_code, r.get_json()["result"]) == (200, action)
        run_jobs()
    replies = [(s["to"], s["message"]) for s in at_server.sms]
    assert replies == [
        (amina.phone, "Jirani Finance: Hutapokea tena vikumbusho. Bado utapokea risiti za malipo yako. Tuma ANZA "
                      "kupokea vikumbusho tena."),
        (amina.phone, "Jirani Finance: Vikumbusho vimewashwa tena. Tuma ACHA kuvisitisha."),
        (amina.phone, "Jirani Finance: Huna mkopo unaoendelea nasi. Msaada: 0800 720 000"),
        (john.phone, "Jirani Finance: You will no longer receive reminders. You will still get receipts for your "
                     "payments. Send START to receive reminders again."),
        (john.phone, "Jirani Finance: Reminders are on again. Send STOP to stop them."),
        (john.phone, f"Jirani Finance: Loan {loan.account_ref} balance Ksh12,000. Next payment Ksh3,000 due "
                     f"1 Dec 2026. Paybill 600966, account {loan.account_ref}."),
        (john.phone, "Jirani Finance: We received your message. An agent will call you soon. Help line: 0800 720 000"),
    ]
    (task,) = read(session, select(CallbackRequest))
    assert (task.borrower_id, task.loan_id, task.reason, task.note) == (
        john.id, loan.id, "inbound_sms", "Habari, nimelipa jana lakini sijapata risiti")
    actions = read(session, select(AuditEvent.action).where(AuditEvent.action.like("borrower.opt%"))
                   .order_by(AuditEvent.id))
    assert actions == ["borrower.opted_out", "borrower.opted_in"] * 2


def test_balance_reply_in_kiswahili_with_arrears(at_server, factory, session, client):
    b = factory.borrower(name="Amina Wanjiru", language="sw")
    loan = factory.loan(b, first_due=dt.date(2026, 11, 1))
    with time_machine.travel(T0, tick=True):
        inbound(client, b.phone, "salio", "in-1")
        run_jobs()
    assert at_server.sms[0]["message"] == (
        f"Jirani Finance: Salio la mkopo {loan.account_ref} ni Ksh 12,000, deni lililochelewa Ksh 3,000 tangu 1 Nov. "
        f"Malipo yajayo Ksh 3,000 tarehe 1 Des 2026. Paybill 600966, akaunti {loan.account_ref}.")


def test_inbound_is_idempotent_on_at_id(at_server, factory, session, client):
    b = factory.borrower(language="en")
    for _ in range(3):
        r = inbound(client, b.phone, "I need help", "in-dup")
        assert r.status_code == 200
    run_jobs()
    assert [r.get_json()["result"] for r in [inbound(client, b.phone, "x", "in-dup")]] == ["duplicate"]
    assert len(read(session, select(InboundSms))) == 1
    assert len(read(session, select(CallbackRequest))) == 1
    assert len(at_server.sms) == 1


def test_inbound_from_unknown_number_is_stored_without_reply(at_server, factory, session, client):
    r = inbound(client, "+254799000111", "STOP", "in-x")
    assert (r.status_code, r.get_json()["result"]) == (200, "unknown_number")
    r = client.post("/sms/inbound", data={"from": "not-a-phone", "id": "in-y", "text": "hi"})
    assert r.status_code == 400
    run_jobs()
    assert at_server.sms == []
    assert [x.action for x in read(session, select(InboundSms))] == ["unknown_number"]
    assert [x.reason for x in read(session, select(RejectedCallback))] == ["from is not a phone number: 'not-a-phone'"]


def test_at_opt_out_callback(at_server, factory, session, client):
    b = factory.borrower()
    for _ in range(2):
        r = client.post("/sms/opt-out", data={"senderId": "JIRANI", "phoneNumber": b.phone})
        assert (r.status_code, r.get_json()["result"]) == (200, "opted_out")
    (b2,) = read(session, select(type(b)).where(type(b).id == b.id))
    assert b2.opted_out
    assert client.post("/sms/opt-out", data={"senderId": "JIRANI"}).status_code == 400


def test_local_standin_posts_delivery_reports(factory, session, monkeypatch):
    """`gateway at-standin --report-to ...` closes the loop for local runs: sent, then delivered."""
    import threading

    from werkzeug.serving import make_server

    from gateway.app import create_app
    from gateway.config import Settings
    from gateway.standins import africastalking as at_standin

    web = make_server("127.0.0.1", 0, create_app(Settings.from_env()), threaded=True)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    fake, server = at_standin.start(report_to=f"http://127.0.0.1:{web.server_port}/sms/delivery-report")
    base = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("AT_SMS_BASE_URL", base + "/version1")
    monkeypatch.setenv("AT_VOICE_BASE_URL", base)
    monkeypatch.setenv("AT_USERNAME", "jirani")
    try:
        b = factory.borrower()
        m = queue_sms(session, b, "balance_none", kind="reply", lender="Jirani Finance", help_line="0800 720 000")
        session.commit()
        run_jobs()  # sent; the stand-in's report may already be back by the time we look
        import time
        for _ in range(50):
            (m,) = read(session, select(Message).where(Message.id == m.id))
            if m.status == "delivered":
                break
            time.sleep(0.1)
        assert m.status == "delivered"
    finally:
        server.shutdown()
        web.shutdown()
