"""Africa's Talking voice: the welcome call's XML callback and the audio prompts it plays."""
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, jsonify, request, send_from_directory

from gateway import inbox
from gateway.db import session_scope
from gateway.messaging import voice_callbacks
from gateway.providers.africastalking import voice as at_voice
from gateway.web.auth import forbidden_json, from_provider

bp = Blueprint("voice", __name__, url_prefix="/voice")
_from_at = from_provider("at", forbidden_json)


@bp.before_request
def _only_at_calls_back():
    # The call's XML names the borrower and their loan. The audio prompts are the same for
    # everyone (no personal data): public, so AT fetches them by plain URL.
    if request.endpoint != "voice.audio":
        return _from_at()
    return None


@bp.post("/welcome")
def welcome():
    settings = current_app.config["GATEWAY"]
    form = request.form.to_dict()
    try:
        event = at_voice.read_event(inbox.read_form(form))
        with session_scope(settings) as session:
            step, call = voice_callbacks.on_call_event(session, event, settings)
            script = voice_callbacks.script_values(session, call, settings) if call else None
            xml = at_voice.answer(step, script)
    except inbox.CallbackError as exc:
        with session_scope(settings) as session:
            inbox.reject_form(session, "at.voice.welcome", str(exc), form)
        return jsonify(error="bad_request", detail=str(exc)), 400
    return Response(xml, status=200, mimetype="application/xml")


@bp.get("/audio/<lang>/<name>.wav")
def audio(lang: str, name: str):
    settings = current_app.config["GATEWAY"]
    if not (lang.isalpha() and name.replace("_", "").isalnum()):
        abort(404)
    folder = Path(settings.voice_prompts_dir or at_voice.PROMPTS_DIR) / lang
    return send_from_directory(folder, f"{name}.wav", mimetype="audio/wav", max_age=86400)
