"""A lender's products, added and changed by its admins (`gateway product ...`, the console's
products page): names in the lender's languages, account prefix, reminder ladder, bounds, rounding,
PAYG. Each change is checked whole (one reason, one line) and audited."""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from gateway import audit, i18n
from gateway.borrowers.catalogue import ProductError
from gateway.config import Settings
from gateway.ledger.schedule import FREQUENCIES
from gateway.models import FieldPartner, Product
from gateway.money import MoneyError, format_money, to_minor
from gateway.reminders import ladders

# What an admin may set; `code` is set once (loans keep it) and `currency` is the lender's.
FIELDS = ("names", "account_prefix", "ladder", "principal_min", "principal_max", "installments_min",
          "installments_max", "frequency", "first_due_within_days", "round_to", "payg", "active")
MAX_INSTALLMENTS = 520  # ten years of weekly installments
MAX_FIRST_DUE_DAYS = 366
MAX_ROUND_TO = 100_000
_PREFIX = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True)
class Draft:
    """What the admin typed, before it becomes Product fields: amounts still in major units (text)."""

    values: dict  # Product fields, except principal_min/max
    principal_min: str | None = None
    principal_max: str | None = None


def listing(session: Session, partner_id: int) -> list[Product]:
    """Every product of the lender, inactive ones too."""
    return list(session.exec(select(Product).where(Product.field_partner_id == partner_id).order_by(Product.code)))


def get(session: Session, partner: FieldPartner, code: str) -> Product:
    wanted = " ".join(code.split()).casefold()
    for product in listing(session, partner.id):
        if product.code.casefold() == wanted:
            return product
    raise ProductError(f"no product {code!r} at {partner.name} (gateway product list --partner NAME)")


def parse_name(text: str) -> tuple[str, str]:
    """`sw=mkopo wa biashara` -> ("sw", "mkopo wa biashara")."""
    lang, sep, name = text.partition("=")
    if not sep or not lang.strip():
        raise ProductError('--name is LANG=TEXT, e.g. sw="mkopo wa biashara"')
    return lang.strip().lower(), name


def _amount(text: str | None, currency: str, option: str) -> int | None:
    if text is None:
        return None
    try:
        return to_minor(text, currency)
    except MoneyError as exc:
        raise ProductError(f"{option}: {exc}") from None


def _names(partner: FieldPartner, names: dict) -> dict:
    known = i18n.languages()
    for lang in names:
        if lang not in known:
            raise ProductError(f"no language {lang!r} (known: {', '.join(sorted(known))})")
    cleaned = {lang: " ".join(str(name).split())[:60] for lang, name in names.items()}
    for lang in partner.language_list:
        if lang in known and not cleaned.get(lang):
            raise ProductError(f"a name in {lang} is required (the lender's languages: "
                               f"{', '.join(partner.language_list)})")
    return {lang: name for lang, name in sorted(cleaned.items()) if name}


def _check(session: Session, partner: FieldPartner, product: Product, settings: Settings | None) -> None:
    """The product as it would be stored is one a loan can be made of."""
    product.names = _names(partner, product.names)
    product.account_prefix = (product.account_prefix or "").strip().upper()
    if not _PREFIX.fullmatch(product.account_prefix):
        raise ProductError("prefix is 3 letters, e.g. BIZ (account numbers are the prefix and 5 digits)")
    for other in listing(session, partner.id):
        if other.id != product.id and other.account_prefix == product.account_prefix:
            raise ProductError(f"prefix {product.account_prefix} is already {other.code}'s")
    try:
        product.ladder = ladders.load((settings or Settings.from_env()).reminder_ladders_file).check_name(
            (product.ladder or "").strip())
    except ladders.LadderError as exc:
        raise ProductError(str(exc)) from None
    if product.principal_min <= 0:
        raise ProductError("principal-min must be more than 0")
    if product.principal_min > product.principal_max:
        raise ProductError("principal-min must not be above principal-max")
    if product.installments_min < 1:
        raise ProductError("installments-min must be at least 1")
    if not product.installments_min <= product.installments_max <= MAX_INSTALLMENTS:
        raise ProductError(f"installments-max must be from installments-min to {MAX_INSTALLMENTS}")
    if product.frequency not in FREQUENCIES:
        raise ProductError(f"frequency must be {' or '.join(FREQUENCIES)}")
    if not 0 <= product.first_due_within_days <= MAX_FIRST_DUE_DAYS:
        raise ProductError(f"first-due-within-days must be from 0 to {MAX_FIRST_DUE_DAYS}")
    if not 0 <= product.round_to <= MAX_ROUND_TO:
        raise ProductError(f"round-to must be from 0 (to the cent) to {MAX_ROUND_TO} whole units")


def _apply(product: Product, draft: Draft) -> None:
    values = {k: v for k, v in draft.values.items() if k in FIELDS and v is not None}
    if "names" in values:  # names given are added to (or replace) those there are
        values["names"] = {**product.names, **values["names"]}
    values["principal_min"] = _amount(draft.principal_min, product.currency, "--principal-min")
    values["principal_max"] = _amount(draft.principal_max, product.currency, "--principal-max")
    for key, value in values.items():
        if value is not None and getattr(product, key) != value:
            setattr(product, key, value)


def add(session: Session, partner: FieldPartner, code: str, draft: Draft, actor: str,
        settings: Settings | None = None) -> Product:
    code = " ".join(code.split())
    if not code or len(code) > 60:
        raise ProductError("a product code is 1 to 60 characters, e.g. \"business loan\"")
    if any(p.code.casefold() == code.casefold() for p in listing(session, partner.id)):
        raise ProductError(f"{partner.name} has a product {code!r} already: change it with gateway product set")
    if draft.principal_min is None or draft.principal_max is None:
        raise ProductError("--principal-min and --principal-max are required")
    product = Product(field_partner_id=partner.id, code=code, names={}, account_prefix="", currency=partner.currency,
                      principal_min=0, principal_max=0)
    _apply(product, draft)
    _check(session, partner, product, settings)
    try:
        with session.begin_nested():  # another admin's add of the same code or prefix a moment ago
            session.add(product)
            session.flush()
    except IntegrityError:
        raise ProductError(f"{partner.name} has a product {code!r} or prefix {product.account_prefix} "
                           "already") from None
    audit.record(session, actor, "product.added", "product", product.id, field_partner_id=partner.id, code=code,
                 **{k: getattr(product, k) for k in FIELDS})
    return product


def change(session: Session, partner: FieldPartner, product: Product, draft: Draft, actor: str,
           settings: Settings | None = None) -> Product:
    before = {k: getattr(product, k) for k in FIELDS}
    before["names"] = dict(before["names"])
    _apply(product, draft)
    try:
        with session.no_autoflush:  # an invalid value never reaches the database, even for the check's query
            _check(session, partner, product, settings)
    except ProductError:
        for key, value in before.items():  # nothing half-changed stays in the session
            setattr(product, key, value)
        raise
    after = {k: getattr(product, k) for k in FIELDS if getattr(product, k) != before[k]}
    if after:
        session.add(product)
        audit.record(session, actor, "product.changed", "product", product.id, field_partner_id=partner.id,
                     code=product.code, before={k: before[k] for k in after}, after=after)
    return product


def summary(product: Product) -> list[str]:
    """One line: prefix, bounds, term, ladder, PAYG, active (the CLI's answer and listing)."""
    money = lambda minor: format_money(minor, product.currency, "en_KE")  # noqa: E731
    parts = [product.account_prefix, f"{money(product.principal_min)} to {money(product.principal_max)}",
             f"{product.installments_min}-{product.installments_max} {product.frequency} installments",
             f"ladder {product.ladder or 'default'}"]
    if product.payg:
        parts.append("PAYG")
    parts.append("active" if product.active else "inactive")
    return parts
