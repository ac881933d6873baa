"""Per-phone and per-IP limits on the USSD webhook, counted in Redis; Redis down never blocks USSD."""
import pytest

from gateway.app import create_app

SW = "Maombi ni mengi mno. Tafadhali jaribu tena baada ya dakika chache."
EN = "Too many requests. Please try again in a few minutes."


@pytest.fixture
def settings(settings):
    """AT posts from several addresses (the limits are per address): all of them allowed."""
    return settings.with_(at_allowed_ips=("196.201.214.0/24", "10.0.0.0/8"))


def hop(client, phone, ip="196.201.214.200", session="ATUid_1"):
    return client.post("/ussd", data={"sessionId": session, "phoneNumber": phone, "text": ""},
                       environ_base={"REMOTE_ADDR": ip})


@pytest.fixture
def amina(factory):
    b = factory.borrower("Amina Wanjiru", "+254712345678", language="sw")
    factory.loan(b)
    return b


def test_one_phone_is_limited_in_any_number_format_and_told_so_in_both_languages(settings, amina):
    client = create_app(settings.with_(ussd_limit_per_phone="3/minute")).test_client()
    for phone in ("+254712345678", "0712 345 678", "254712345678"):
        assert hop(client, phone).get_data(as_text=True).startswith("CON Habari Amina")
    refused = hop(client, "+254712345678")
    assert refused.status_code == 429 and refused.mimetype == "text/plain"
    assert refused.get_data(as_text=True) == f"END {SW}\n{EN}"
    assert len(refused.get_data(as_text=True)) <= 182
    # another borrower on the same gateway is not affected
    assert hop(client, "+254733000222").status_code == 200


def test_one_source_ip_is_limited_across_phones(settings, amina):
    client = create_app(settings.with_(ussd_limit_per_ip="5/minute")).test_client()
    answers = [hop(client, f"+25473300{k:04d}", ip="10.9.8.7").status_code for k in range(6)]
    assert answers == [200] * 5 + [429]
    assert hop(client, "+254712345678", ip="10.9.8.6").status_code == 200


def test_forged_requests_are_refused_before_they_use_up_a_borrowers_allowance(settings, amina):
    client = create_app(settings.with_(ussd_limit_per_phone="3/minute", sms_limit_per_phone="2/minute")).test_client()
    for k in range(6):  # not from AT's addresses: refused, and not counted against Amina's phone
        assert hop(client, amina.phone, ip="41.90.1.2").status_code == 403
        assert client.post("/sms/inbound", data={"from": amina.phone, "text": "SALIO", "id": f"forged-{k}"},
                           environ_base={"REMOTE_ADDR": "41.90.1.2"}).status_code == 403
    assert hop(client, amina.phone).get_data(as_text=True).startswith("CON Habari Amina")
    assert client.post("/sms/inbound", data={"from": amina.phone, "to": "40404", "text": "SALIO", "id": "ATXid_real"},
                       environ_base={"REMOTE_ADDR": "196.201.214.200"}).status_code == 200


def test_limits_can_be_switched_off(settings, amina):
    client = create_app(settings.with_(ussd_limit_per_phone="1/minute", rate_limits_enabled=False)).test_client()
    assert [hop(client, "+254712345678").status_code for _ in range(3)] == [200, 200, 200]


def test_limits_are_shared_by_every_web_process_through_redis(settings, amina):
    limited = settings.with_(ussd_limit_per_phone="2/minute")
    first, second = create_app(limited).test_client(), create_app(limited).test_client()
    assert [hop(first, amina.phone).status_code, hop(second, amina.phone).status_code] == [200, 200]
    assert hop(first, amina.phone).status_code == 429 and hop(second, amina.phone).status_code == 429


def test_ussd_still_answers_when_redis_is_down(settings, amina):
    app = create_app(settings.with_(redis_url="redis://127.0.0.1:1/0", ussd_limit_per_phone="2/minute"))
    client = app.test_client()
    answers = [hop(client, amina.phone) for _ in range(3)]
    assert answers[0].status_code == 200 and answers[0].get_data(as_text=True).startswith("CON Habari Amina")
    # counted in this process's memory meanwhile: still limited, never an error
    assert [a.status_code for a in answers] == [200, 200, 429]


def test_inbound_sms_is_limited_per_sender_and_per_ip(settings, amina):
    client = create_app(settings.with_(sms_limit_per_phone="2/minute", sms_limit_per_ip="4/minute")).test_client()

    def sms(sender, k, ip="196.201.214.200"):
        return client.post("/sms/inbound", data={"from": sender, "to": "40404", "text": "SALIO",
                                                 "id": f"ATXid_{sender}_{k}", "date": "2026-11-20 12:00:00",
                                                 "networkCode": "63902"},
                           environ_base={"REMOTE_ADDR": ip})

    assert [sms(amina.phone, k, ip="10.0.0.1").status_code for k in range(3)] == [200, 200, 429]
    refused = sms("0712 345 678", 4, ip="10.0.0.2")
    assert refused.status_code == 429 and refused.get_json() == {"error": "too_many_requests", "detail": EN}
    # other senders through one source IP: limited once that IP has sent 4
    assert [sms(f"+25473300022{k}", k).status_code for k in range(5)] == [200, 200, 200, 200, 429]
    assert sms("+254733000333", 1, ip="196.201.214.206").status_code == 200


def test_env_configures_the_limits(monkeypatch):
    from gateway.config import Settings
    monkeypatch.setenv("USSD_LIMIT_PER_PHONE", "7/minute")
    monkeypatch.setenv("USSD_LIMIT_PER_IP", "70/minute")
    monkeypatch.setenv("SMS_LIMIT_PER_PHONE", "3/minute")
    monkeypatch.setenv("SMS_LIMIT_PER_IP", "30/minute")
    monkeypatch.setenv("RATE_LIMITS_ENABLED", "0")
    s = Settings.from_env()
    assert (s.ussd_limit_per_phone, s.ussd_limit_per_ip, s.rate_limits_enabled) == ("7/minute", "70/minute", False)
    assert (s.sms_limit_per_phone, s.sms_limit_per_ip) == ("3/minute", "30/minute")
