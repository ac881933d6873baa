"""Each lender's loan products, as data: the `product` table, seeded for a new lender (and the
demo) from products.toml. Onboarding only opens loans the catalogue allows."""
from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

from sqlmodel import Session, select

from gateway.models import Borrower, FieldPartner, Product
from gateway.money import digits, format_money, to_minor

DEFAULT_FILE = Path(__file__).with_name("products.toml")


class ProductError(ValueError):
    pass


def default_products() -> list[dict]:
    """products.toml as Product fields (amounts in minor units)."""
    data = tomllib.loads(DEFAULT_FILE.read_text())
    out = []
    for code, spec in data["products"].items():
        low, high = spec["principal"]
        out.append(dict(code=code, names=dict(spec["names"]), account_prefix=spec["account_prefix"],
                        ladder=spec.get("ladder", ""), currency=spec["currency"],
                        principal_min=to_minor(low, spec["currency"]), principal_max=to_minor(high, spec["currency"]),
                        installments_min=spec["installments"][0], installments_max=spec["installments"][1],
                        frequency=spec["frequency"], first_due_within_days=spec["first_due_within_days"],
                        round_to=spec.get("round_to", 1), payg=spec.get("payg", False)))
    return out


def seed(session: Session, partner: FieldPartner) -> list[Product]:
    """Give a lender without products the default catalogue."""
    if products(session, partner.id):
        return products(session, partner.id)
    rows = [Product(field_partner_id=partner.id, **fields) for fields in default_products()]
    session.add_all(rows)
    session.flush()
    return rows


def products(session: Session, partner_id: int) -> list[Product]:
    return list(session.exec(select(Product).where(Product.field_partner_id == partner_id, Product.active)
                             .order_by(Product.code)))


def find(session: Session, partner_id: int, code: str) -> Product:
    """The lender's product of that name (any case); an unknown one names those there are."""
    known = products(session, partner_id)
    wanted = " ".join(code.split()).casefold()
    for product in known:
        if product.code.casefold() == wanted:
            return product
    names = ", ".join(repr(p.code) for p in known) or "none: the lender has no products yet"
    raise ProductError(f"unknown product {code!r}: the products are {names}")


def shown_name(names: dict | None, code: str, lang: str, lender_languages: list[str] | tuple[str, ...] = ()) -> str:
    """The product as a borrower reads it: its name in `lang`, else in the lender's first language
    (their default), else its code."""
    names = names or {}
    first = lender_languages[0] if lender_languages else ""
    return names.get(lang) or names.get(first) or code


def name_of(session: Session, partner: FieldPartner, code: str, lang: str) -> str:
    """`shown_name` of the lender's product `code` (an inactive one too: its loans still run)."""
    product = session.exec(select(Product).where(Product.field_partner_id == partner.id,
                                                 Product.code == code)).first()
    return shown_name(product.names if product else None, code, lang, partner.language_list)


def for_borrower(session: Session, borrower_id: int) -> tuple[dict[str, dict], list[str]]:
    """(names by product code, the lender's languages) of the borrower's lender, in one query."""
    rows = session.exec(select(FieldPartner.languages, Product.code, Product.names)
                        .select_from(Borrower).join(FieldPartner, FieldPartner.id == Borrower.field_partner_id)
                        .outerjoin(Product, Product.field_partner_id == FieldPartner.id)
                        .where(Borrower.id == borrower_id)).all()
    languages = [lang.strip() for lang in rows[0][0].split(",") if lang.strip()] if rows else []
    return {code: names for _, code, names in rows if code is not None}, languages


def unit(product: Product) -> int:
    """Installments are multiples of this many minor units (1: any amount)."""
    return max(1, product.round_to * 10 ** digits(product.currency))


def check(product: Product, principal: int, installments: int, first_due: dt.date, today: dt.date) -> None:
    """The loan fits its product: principal and term within bounds, first due date in the window."""
    money = lambda minor: format_money(minor, product.currency, "en_KE")  # noqa: E731
    if not product.principal_min <= principal <= product.principal_max:
        raise ProductError(f"loan.principal of a {product.code} must be from {money(product.principal_min)} "
                           f"to {money(product.principal_max)}")
    if not product.installments_min <= installments <= product.installments_max:
        raise ProductError(f"loan.installments of a {product.code} must be from {product.installments_min} "
                           f"to {product.installments_max}")
    last = today + dt.timedelta(days=product.first_due_within_days)
    if not today <= first_due <= last:
        raise ProductError(f"loan.first_due_date must be from today ({today}) to {last} "
                           f"({product.first_due_within_days} days ahead) for a {product.code}")
