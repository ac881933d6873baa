import datetime as dt

from sqlmodel import Field, SQLModel

from gateway.models.types import utc_field


class FieldPartner(SQLModel, table=True):
    """A lender (microfinance institution or PAYG solar company) using the gateway."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120, unique=True)
    help_line: str = Field(max_length=40)
    paybill: str = Field(default="", max_length=20)
    country: str = Field(default="KE", max_length=2)


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
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    phone: str = Field(max_length=20, unique=True, index=True)  # E.164, via gateway.phones
    language: str = Field(default="sw", max_length=8)
    country: str = Field(default="KE", max_length=2)
    timezone: str = Field(default="Africa/Nairobi", max_length=40)
    national_id: str | None = Field(default=None, max_length=40)
    field_partner_id: int = Field(foreign_key="fieldpartner.id", index=True)
    branch: str = Field(default="", max_length=80)
    onboarded_by_agent_id: int | None = Field(default=None, foreign_key="agent.id", index=True)
    opted_out: bool = False
    created_at: dt.datetime = utc_field()
