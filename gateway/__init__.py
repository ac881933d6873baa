"""Repayment gateway: USSD menus, mobile-money callbacks, SMS and voice for lenders.

The app is built by `gateway.app.create_app`; the map of the packages is in README.md."""
from gateway import logs

logs.install()  # phone numbers masked in every log record of every process importing the gateway
