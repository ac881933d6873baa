"""Column helpers shared by the models."""

from sqlalchemy import JSON, BigInteger, Column
from sqlmodel import Field

from gateway.db import UTCDateTime, utcnow


def money_field(default: int = 0, **kw):
    """Money in integer minor units of the row's currency (cents for KES); never float."""
    return Field(default=default, sa_type=BigInteger, **kw)


def utc_field(default_now: bool = True, **kw):
    if default_now:
        return Field(default_factory=utcnow, sa_type=UTCDateTime, **kw)
    return Field(default=None, sa_type=UTCDateTime, **kw)


def json_field(default_factory=dict, **kw):
    return Field(default_factory=default_factory, sa_column=Column(JSON, nullable=False), **kw)



