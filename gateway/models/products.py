
from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from gateway.models.types import json_field, money_field


class Product(SQLModel, table=True):
    """One loan product of one lender (its catalogue is data: seeded from
    gateway/borrowers/products.toml, changed per lender). `code` is what loans store as their product."""

    __table_args__ = (UniqueConstraint("field_partner_id", "code"),
                      UniqueConstraint("field_partner_id", "account_prefix", name="uq_product_field_partner_id_prefix"))

    id: int | None = Field(default=None, primary_key=True)
    field_partner_id: int = Field(foreign_key="fieldpartner.id", index=True)
    code: str = Field(max_length=60)  # "business loan"; what field agents send and loans keep
    names: dict = json_field()  # {"en": "business loan", "sw": "mkopo wa biashara", ...}
    account_prefix: str = Field(max_length=6)  # what borrowers type first in M-Pesa's account number; one per lender
    ladder: str = Field(default="", max_length=60)  # a named ladder of ladders.toml; "" (or unknown) the default one
    currency: str = Field(default="KES", max_length=3)
    principal_min: int = money_field()
    principal_max: int = money_field()
    installments_min: int = 1
    installments_max: int = 12
    frequency: str = Field(default="monthly", max_length=10)  # weekly | monthly: when the request names none
    first_due_within_days: int = 45  # the first due date lies from today to this many days ahead
    round_to: int = 1  # each installment in multiples of this many whole currency units (0: to the cent)
    payg: bool = False  # a PAYG device (solar) goes with each loan
    active: bool = True
    # Cost against recovery (gateway/ops/costs.py): stop automated reminders on a loan in arrears once what
    # pursuing it has cost reaches what is expected back (arrears x expected_recovery_percent / 100); the
    # loan goes to the managers' "Pursuit stopped: decide" list instead.
    stop_pursuit_over_cost: bool = False
    expected_recovery_percent: int = 50
