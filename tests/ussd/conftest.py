import datetime as dt

import pytest


@pytest.fixture
def john(factory):
    """John, in English, his first installment overdue since 1 Nov: (borrower, loan)."""
    b = factory.borrower("John Otieno", "+254722000111", language="en")
    loan = factory.loan(b, principal="4000", count=4, rate="0.05", first_due=dt.date(2026, 11, 1))
    return b, loan  # 4 x (1,000 principal + 200 interest)
