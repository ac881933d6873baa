"""The yardstick: a bare Flask handler answering a fixed USSD screen, no database, no Redis."""
from flask import Flask, Response

app = Flask(__name__)


@app.post("/ussd")
def ussd():
    return Response("CON Hello Borrower. Loan BIZ0000001\n1 Balance\n2 Next payment", mimetype="text/plain")
