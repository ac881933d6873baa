"""Which lender? On a USSD code shared by several lenders, a caller who borrows from more than one
is asked first ("1 Jirani Finance / 2 Sola Bora"); a caller at only one goes straight in.

The choice is the first level of the text path Africa's Talking sends ("2*1" is Sola Bora's
"1 Balance"): `choose` takes it off the inputs, and the chosen lender's menu replays the rest.
Inputs before a valid choice are refused like any invalid choice (the screen is shown again with
the error), so "7*1" is lender 1. The lender's menu never sees the other lender's loans.
"""
from __future__ import annotations

from dataclasses import dataclass

from gateway.i18n import N_, Speaker
from gateway.ussd.engine import Flow, Option, Reply, Screen
from gateway.ussd.snapshot import Snapshot

CHOOSE_LENDER = N_("Choose a lender:")


@dataclass
class _Ctx:
    speaker: Speaker
    live: bool = False

    def _(self, msgid: str, **values) -> str:
        return self.speaker._(msgid, **values)


def _flow(accounts: tuple[Snapshot, ...]) -> Flow:
    options = [Option(str(k), (lambda c, name=snap.lender.name: name), "chosen")
               for k, snap in enumerate(accounts, start=1)]
    return Flow([Screen("choose_lender", lambda c: c._(CHOOSE_LENDER), options=options, footer=False),
                 Screen("chosen", lambda c: "", end=True)], start="choose_lender", home="choose_lender")


def choose(accounts: tuple[Snapshot, ...], inputs: list[str]) -> tuple[Snapshot, list[str]] | Reply:
    """(the chosen account, the inputs left for its menu), or the screen asking which lender."""
    if len(accounts) == 1:
        return accounts[0], inputs
    keys = [str(k) for k in range(1, len(accounts) + 1)]
    for k, raw in enumerate(inputs):
        if raw.strip() in keys:
            return accounts[keys.index(raw.strip())], inputs[k + 1:]
    return _flow(accounts).respond(_Ctx(Speaker.for_borrower(accounts[0].caller)), inputs)
