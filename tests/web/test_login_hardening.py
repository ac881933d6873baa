"""Staff login under attack: concurrent guesses, lockouts aimed at someone else, Redis down, and
the key that signs the session cookie."""
import subprocess
import sys
import threading

import pytest
import requests
from click.testing import CliRunner
from sqlmodel import Session, func, select
from werkzeug.serving import make_server

from gateway.app import DEV_KEY_FILE, MissingSecretKey, create_app
from gateway.cli import main
from gateway.config import ROOT
from gateway.db import engine_for
from gateway.models import AuditEvent
from gateway.web.console_session import LOGIN_TRIES, PHONE_TRIES
from tests.helpers import PASSWORD, make_staff, token

MANAGER_PHONE, MANAGER_DESK, STRANGER = "+254700100004", "10.0.0.7", "203.0.113.9"
DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
def manager(session, factory):
    return make_staff(session, factory, "manager", "Moses", MANAGER_PHONE)


def login(client, password=PASSWORD, address="127.0.0.1", phone=MANAGER_PHONE, lang="en"):
    """A browser at `address` opens the login page and sends the form."""
    environ = {"REMOTE_ADDR": address}
    page = client.get(f"/ops/login?lang={lang}", environ_base=environ).get_data(as_text=True)
    return client.post("/ops/login", data={"phone": phone, "password": password, "csrf_token": token(page)},
                       environ_base=environ)


def failed_checks(settings) -> int:
    with Session(engine_for(settings.database_url, immediate=False)) as s:
        return s.exec(select(func.count()).select_from(AuditEvent)
                      .where(AuditEvent.action == "console.login_failed")).one()


def test_forty_concurrent_wrong_passwords_get_five_checks(app, settings, manager):
    web = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{web.server_port}/ops/login"
    try:
        browser = requests.Session()
        csrf = token(browser.get(base, timeout=10).text)
        start = threading.Barrier(40)
        statuses = []

        def guess(i):
            start.wait()
            r = requests.post(base, data={"phone": MANAGER_PHONE, "password": f"guess number {i}", "csrf_token": csrf},
                              cookies=browser.cookies, timeout=30, allow_redirects=False)
            statuses.append(r.status_code)

        threads = [threading.Thread(target=guess, args=(i,)) for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(statuses) == [401] * LOGIN_TRIES + [429] * (40 - LOGIN_TRIES)
        assert failed_checks(settings) == LOGIN_TRIES  # only five passwords were ever compared
        r = requests.post(base, data={"phone": MANAGER_PHONE, "password": PASSWORD, "csrf_token": csrf},
                          cookies=browser.cookies, timeout=30, allow_redirects=False)
        assert r.status_code == 429 and "Too many wrong passwords. Try again in 15 minutes." in r.text
    finally:
        web.shutdown()


def test_a_stranger_cannot_lock_the_manager_out(client, manager):
    assert login(client, address=MANAGER_DESK).status_code == 302  # the manager's desk is known from now on
    for _ in range(LOGIN_TRIES):
        assert login(client, "guessing away", address=STRANGER).status_code == 401
    assert login(client, address=STRANGER).status_code == 429  # the stranger's address is locked, right password or not
    assert login(client, address=MANAGER_DESK).status_code == 302
    assert login(client, address="10.0.0.8").status_code == 302  # the manager at a new desk: only slowed down globally


def test_guesses_from_many_addresses_hit_the_phone_cap_but_not_the_managers_desk(client, manager):
    assert login(client, address=MANAGER_DESK).status_code == 302
    for i in range(PHONE_TRIES):  # a botnet: under the per-address limit everywhere
        address = f"198.51.{i // (LOGIN_TRIES - 1)}.{i % (LOGIN_TRIES - 1) + 1}"
        assert login(client, "guessing away", address=address).status_code == 401
    r = login(client, address="192.0.2.1")  # any new address is paused, even with the right password
    assert r.status_code == 429 and "Too many wrong passwords. Try again in 15 minutes." in r.get_data(as_text=True)
    assert login(client, address=MANAGER_DESK).status_code == 302  # the manager's own desk still works


def test_other_staff_and_the_right_password_reset_the_count(client, session, factory, manager):
    for _ in range(LOGIN_TRIES - 1):
        assert login(client, "wrong password!").status_code == 401
    assert login(client).status_code == 302  # the right one forgives this address's tries
    for _ in range(LOGIN_TRIES):
        assert login(client, "wrong password!").status_code == 401
    assert login(client).status_code == 429
    make_staff(session, factory, "admin", "Ada", "+254700100005")
    assert login(client, phone="+254700100005").status_code == 302


def test_with_redis_down_login_answers_the_page_with_a_message(settings, manager):
    client = create_app(settings.with_(redis_url=DEAD_REDIS)).test_client()
    assert client.get("/ops/login").status_code == 200
    r = login(client)
    assert r.status_code == 503
    assert "Logging in is not possible right now. Try again in a few minutes." in r.get_data(as_text=True)
    assert '<form method="post"' in r.get_data(as_text=True)  # the login page, ready for another try
    sw = login(client, lang="sw")
    assert sw.status_code == 503 and "Huwezi kuingia sasa hivi. Jaribu tena baada ya dakika chache." in sw.get_data(
        as_text=True)
    assert client.get("/ops/dashboard").headers["Location"].startswith("/ops/login")  # and nobody got in


def test_the_app_refuses_to_start_without_a_secret_key(settings):
    with pytest.raises(MissingSecretKey, match="SECRET_KEY is not set"):
        create_app(settings.with_(secret_key="", demo_mode=False))
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
           "GATEWAY_INSTANCE_PATH": settings.instance_path}
    web = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert web.returncode != 0 and "SECRET_KEY is not set" in web.stderr  # what gunicorn shows when it cannot boot
    result = CliRunner().invoke(main, ["serve"], env={"SECRET_KEY": "", "DEMO_MODE": "0"})
    assert result.exit_code == 1 and "SECRET_KEY is not set" in result.output
    assert create_app(settings.with_(secret_key="k" * 64, demo_mode=False)).secret_key == "k" * 64


def test_demo_mode_keeps_a_random_key_and_the_old_known_key_opens_nothing(settings, session, factory, tmp_path):
    admin = make_staff(session, factory, "admin", "Ada", "+254700100005")
    app = create_app(settings)  # tests run in demo mode without SECRET_KEY
    key = (tmp_path / DEV_KEY_FILE).read_text().strip()
    assert app.secret_key == key and len(key) == 64 and create_app(settings).secret_key == key
    assert (tmp_path / DEV_KEY_FILE).stat().st_mode & 0o077 == 0
    forger = create_app(settings.with_(secret_key="dev-only-not-secret")).test_client()
    with forger.session_transaction() as s:
        s["agent_id"] = admin.id
    client = app.test_client()
    client.set_cookie("session", forger.get_cookie("session").value)
    assert client.get("/ops/dashboard").headers["Location"].startswith("/ops/login")


def session_cookie(response) -> str:
    (cookie,) = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    return cookie


def test_session_cookie_is_httponly_samesite_lax_and_secure_behind_https(settings, manager):
    cookie = session_cookie(login(create_app(settings).test_client()))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    cookie = session_cookie(create_app(settings.with_(console_https=True)).test_client().get("/ops/login"))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
