"""The operator console: server-rendered pages under /ops for managers, admins, call-centre and
field agents. Login with a hashed password, a CSRF token on every form, roles per page (the
session plumbing is gateway.web.console_session), English and Kiswahili through the same catalogs
as the rest of the gateway. Views stay thin: they read the form, call the ops services, and
render or redirect. One module per topic; base.py holds the blueprint and what pages share."""
from __future__ import annotations

from gateway.ops.console import (  # noqa: F401  (register the pages)
    admin,
    dashboard,
    loans,
    login,
    messages,
    monthly,
    products,
    pursuit,
    queue,
    review,
    spotchecks,
    statements,
    webhooks,
)
from gateway.ops.console.base import bp
from gateway.web import console_session


def init_app(app) -> None:
    console_session.init_app(app)
    app.register_blueprint(bp)
