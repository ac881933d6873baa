"""Dialling the USSD webhook as Africa's Talking does, for the tests of every domain."""
import itertools

_sessions = itertools.count(1)


def dial(client, phone, text="", session_id=None):
    """One hop: POST the form AT sends; the reply must be a 200 text/plain USSD screen."""
    res = client.post("/ussd", data={"sessionId": session_id or f"ATUid_test_{next(_sessions)}",
                                     "serviceCode": "*384*1234#", "phoneNumber": phone, "networkCode": "63902",
                                     "text": text})
    assert res.status_code == 200 and res.mimetype == "text/plain"
    return res.get_data(as_text=True)
