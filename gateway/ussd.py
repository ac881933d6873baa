"""USSD webhook (Africa's Talking format). Thin: parse the form, hand it to the flow."""
from flask import Blueprint

bp = Blueprint("ussd", __name__)
