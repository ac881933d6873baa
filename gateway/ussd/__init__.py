"""USSD: the webhook (views.py), one hop (session.py), the engine, the menu as data, the session snapshot."""
