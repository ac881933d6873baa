"""Africa's Talking voice: the welcome call's XML callback and the audio prompts it plays."""
from pathlib import Path

from flask import Blueprint, Response, abort, current_app, jsonify, request, send_from_directory

from gateway.auth import forbidden_json, from_provider
from gateway.db import session_scope
from gateway.messaging import callbacks, voice_callbacks, voice_script

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
        with session_scope(settings) as session:
            xml = voice_callbacks.welcome_callback(session, form, settings)
    except callbacks.CallbackError as exc:
        with session_scope(settings) as session:
            callbacks.reject(session, "at.voice.welcome", str(exc), form)
        return jsonify(error="bad_request", detail=str(exc)), 400
    return Response(xml, status=200, mimetype="application/xml")


@bp.get("/audio/<lang>/<name>.wav")
def audio(lang: str, name: str):
    settings = current_app.config["GATEWAY"]
    if not (lang.isalpha() and name.replace("_", "").isalnum()):
        abort(404)
    folder = Path(settings.voice_prompts_dir or voice_script.PROMPTS_DIR) / lang
    return send_from_directory(folder, f"{name}.wav", mimetype="audio/wav", max_age=86400)
