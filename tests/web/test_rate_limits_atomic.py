"""The limits hold under concurrency: many threads at once against the real app and Redis let exactly N through."""
import threading

import pytest

from gateway.app import create_app

THREADS = 12


@pytest.fixture
def settings(settings):
    return settings.with_(at_allowed_ips=("196.201.214.0/24", "10.0.0.0/8"))


@pytest.fixture
def amina(factory):
    b = factory.borrower("Amina Wanjiru", "+254712345678", language="sw")
    factory.loan(b)
    return b


def at_once(app, requests):
    """Each (path, form, ip) posted by its own thread with its own client, all released together."""
    barrier, answers = threading.Barrier(len(requests)), [None] * len(requests)

    def post(k, path, form, ip):
        client = app.test_client()
        barrier.wait()
        res = client.post(path, data=form, environ_base={"REMOTE_ADDR": ip})
        answers[k] = (res.status_code, res.get_data(as_text=True))

    threads = [threading.Thread(target=post, args=(k, *r)) for k, r in enumerate(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return answers


def test_one_phone_dialling_from_many_threads_gets_exactly_its_allowance(settings, amina):
    app = create_app(settings.with_(ussd_limit_per_phone="4/minute"))
    answers = at_once(app, [("/ussd", {"sessionId": f"ATUid_{k}", "phoneNumber": "0712 345 678", "text": ""},
                             f"10.0.{k}.1") for k in range(THREADS)])
    allowed = [body for status, body in answers if status == 200]
    assert len(allowed) == 4 and all(body.startswith("CON Habari Amina") for body in allowed)
    assert [body for status, body in answers if status == 429] == [
        "END Maombi ni mengi mno. Tafadhali jaribu tena baada ya dakika chache.\n"
        "Too many requests. Please try again in a few minutes."] * (THREADS - 4)


def test_one_source_ip_across_many_phones_at_once_gets_exactly_its_allowance(settings, amina):
    app = create_app(settings.with_(ussd_limit_per_ip="5/minute"))
    answers = at_once(app, [("/ussd", {"sessionId": f"ATUid_{k}", "phoneNumber": f"+2547330{k:05d}", "text": ""},
                             "10.9.8.7") for k in range(THREADS)])
    assert sorted(status for status, _ in answers) == [200] * 5 + [429] * (THREADS - 5)
    # a refused request used up nothing: the phones refused by the IP limit may still dial from elsewhere
    refused = [k for k, (status, _) in enumerate(answers) if status == 429]
    again = at_once(app, [("/ussd", {"sessionId": "ATUid_x", "phoneNumber": f"+2547330{k:05d}", "text": ""},
                           "10.9.8.6") for k in refused[:3]])
    assert [status for status, _ in again] == [200] * 3


def test_inbound_sms_from_many_threads_gets_exactly_the_allowance_of_both_limits(settings, amina):
    app = create_app(settings.with_(sms_limit_per_phone="3/minute;100/hour", sms_limit_per_ip="7/minute"))
    same_sender = at_once(app, [("/sms/inbound", {"from": amina.phone, "to": "40404", "text": "SALIO",
                                                  "id": f"ATXid_a{k}"}, f"10.1.{k}.1") for k in range(THREADS)])
    assert sorted(status for status, _ in same_sender) == [200] * 3 + [429] * (THREADS - 3)
    one_ip = at_once(app, [("/sms/inbound", {"from": f"+2547330{k:05d}", "to": "40404", "text": "SALIO",
                                             "id": f"ATXid_b{k}"}, "10.2.0.1") for k in range(THREADS)])
    assert sorted(status for status, _ in one_ip) == [200] * 7 + [429] * (THREADS - 7)
    assert {body for status, body in one_ip if status == 429} == {
        '{"detail":"Too many requests. Please try again in a few minutes.","error":"too_many_requests"}\n'}
