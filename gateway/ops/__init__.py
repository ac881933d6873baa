"""Collections operations: portfolio numbers, flags, the call-centre queue, reports, the console."""


def register(app) -> None:
    """The JSON API (/api/ops) and the operator console (/ops)."""
    from gateway.ops import api, console

    app.register_blueprint(api.bp)
    console.init_app(app)
