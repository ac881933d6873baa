import datetime as dt
from enum import StrEnum

from sqlalchemy import Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from gateway.models.types import utc_field


class FieldPartner(SQLModel, table=True):
    """A lender (microfinance institution or PAYG solar company) using the gateway."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    help_line: str = Field(max_length=40)
    paybill: str = Field(default="", max_length=20)  # the paybill quoted in messages (also one of its shortcodes)
    country: str = Field(default="KE", max_length=2)
    currency: str = Field(default="KES", max_length=3)
    timezone: str = Field(default="Africa/Nairobi", max_length=40)
    languages: str = Field(default="sw,en", max_length=60)  # comma-separated, the first is the default
    sender_id: str = Field(default="", max_length=11)  # AT alphanumeric sender id; empty: AT_SENDER_ID

    @property
    def language_list(self) -> list[str]:
        return [code.strip() for code in self.languages.split(",") if code.strip()]


class CodeKind(StrEnum):
    USSD = "ussd"  # a USSD service code (*384*123#); several lenders may share one
    SHORTCODE = "shortcode"  # an M-Pesa paybill or till: it selects the lender of a payment (never shared)


class LenderCode(SQLModel, table=True):
    """A USSD code or M-Pesa shortcode of one lender. A shortcode may carry its own Daraja
    credentials, encrypted at rest (gateway/lenders/partners.py), never printed or logged."""

    # A USSD code may be shared by lenders; a shortcode selects exactly one lender, in the database too.
    __table_args__ = (UniqueConstraint("kind", "code", "field_partner_id"),
                      Index("uq_lendercode_shortcode", "code", unique=True,
                            sqlite_where=text("kind = 'shortcode'"), postgresql_where=text("kind = 'shortcode'")))

    id: int | None = Field(default=None, primary_key=True)
    field_partner_id: int = Field(foreign_key="fieldpartner.id", index=True)
    kind: str = Field(max_length=12)
    code: str = Field(max_length=40, index=True)
    credentials: str = Field(default="", max_length=2000)  # Fernet token of the Daraja keys; "" the global ones


class Agent(SQLModel, table=True):
    """A field agent (onboards borrowers) or call-centre agent (works the collections queue)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    phone: str = Field(max_length=20, unique=True)
    role: str = Field(default="field", max_length=20)  # field | callcentre | manager | admin
    field_partner_id: int = Field(foreign_key="fieldpartner.id", index=True)
    branch: str = Field(default="", max_length=80)
    api_token_hash: str = Field(default="", max_length=128, index=True)
    password_hash: str = Field(default="", max_length=256)  # werkzeug.security; empty: no console login
    active: bool = True
    created_at: dt.datetime = utc_field()


class Borrower(SQLModel, table=True):
    """One person's account at one lender: identity is (lender, phone); a person may borrow from two lenders."""

    __table_args__ = (UniqueConstraint("field_partner_id", "phone", name="uq_borrower_field_partner_id_phone"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    phone: str = Field(max_length=20, index=True)  # E.164, via gateway.phones
    language: str = Field(default="sw", max_length=8)
    country: str = Field(default="KE", max_length=2)
    timezone: str = Field(default="Africa/Nairobi", max_length=40)
    national_id: str | None = Field(default=None, max_length=40)
    field_partner_id: int = Field(foreign_key="fieldpartner.id", index=True)
    branch: str = Field(default="", max_length=80)
    onboarded_by_agent_id: int | None = Field(default=None, foreign_key="agent.id", index=True)
    opted_out: bool = False
    created_at: dt.datetime = utc_field()
