"""The money: allocation of payments to installments, reversals and balances (allocation.py),
repayment schedules (schedule.py). `from gateway import ledger` gives the allocation rules."""
from gateway.ledger.allocation import *  # noqa: F403  (the package's API is allocation's public names)
