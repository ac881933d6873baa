"""The Flask app: `create_app()` registers one blueprint per domain."""
from __future__ import annotations

import logging
import secrets
from importlib.resources import files

from flask import Flask, Response, jsonify
from werkzeug.routing import IntegerConverter

from gateway import keyring
from gateway.config import Settings


class IdConverter(IntegerConverter):
    """`<id:loan_id>`: a database id, 1 to MAX_ID; anything else is a 404 before the view runs
    (a larger number would overflow the database's integer)."""

    def __init__(self, url_map):
        from gateway.db import MAX_ID

        super().__init__(url_map, min=1, max=MAX_ID)


class MissingSecretKey(RuntimeError):
    def __init__(self):
        super().__init__("SECRET_KEY is not set: it signs the console's login cookies. Set it to a long random value "
                         "(python -c 'import secrets; print(secrets.token_hex(32))'), or run the demo with "
                         "`gateway serve --stand-ins` (DEMO_MODE=1)")


DEV_KEY_FILE = "secret_key"


def secret_key(settings: Settings, serving: bool = True) -> str:
    """SECRET_KEY; in demo mode without one, a random key generated once in the instance folder;
    for a command that serves no browser (serving=False), a throwaway key. Else MissingSecretKey."""
    if settings.secret_key:
        return settings.secret_key
    if not settings.demo_mode:
        if serving:
            raise MissingSecretKey
        return secrets.token_hex(32)
    return keyring.dev_key(settings.instance_path, DEV_KEY_FILE, lambda: secrets.token_hex(32).encode()).decode()


def create_app(settings: Settings | None = None, serving: bool = True) -> Flask:
    """The app; `serving=False` for CLI commands (no browser, so no SECRET_KEY needed)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__, instance_path=settings.instance_path)
    app.config.update(SECRET_KEY=secret_key(settings, serving), GATEWAY=settings)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    app.url_map.converters["id"] = IdConverter

    from gateway import ops  # one blueprint per domain
    from gateway.borrowers import views as borrowers
    from gateway.messaging import sms_views, voice_views
    from gateway.payg import views as payg  # also connects PAYG codes to payment_posted
    from gateway.payments import views as payments
    from gateway.ussd import views as ussd

    for blueprint in (ussd.bp, payments.bp, sms_views.bp, voice_views.bp, borrowers.bp, payg.bp):
        app.register_blueprint(blueprint)
    ops.register(app)

    from gateway import limits  # after the blueprints: it wraps their views

    limits.init_app(app, settings)

    @app.get("/health")
    def health():
        return jsonify(status="ok")

    openapi = files("gateway").joinpath("openapi.json").read_bytes()

    @app.get("/openapi.json")
    def openapi_document():  # the staff APIs' OpenAPI document; public: it holds no secrets
        return Response(openapi, mimetype="application/json")

    @app.errorhandler(404)
    @app.errorhandler(405)
    def http_error(err):
        return jsonify(error=err.name, detail=err.description), err.code

    return app
