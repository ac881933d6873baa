"""Lenders (field partners): added and changed with documented commands, audited."""
from __future__ import annotations

import json

from cryptography.fernet import InvalidToken
from sqlalchemy import func
from sqlmodel import Session, select

from gateway import audit, keyring
from gateway.config import Settings
from gateway.lenders import checks
from gateway.lenders.checks import PartnerError
from gateway.models import CodeKind, FieldPartner, LenderCode

CHANGEABLE = ("help_line", "country", "currency", "timezone", "languages", "sender_id")


def find(session: Session, name: str) -> FieldPartner:
    """The lender of this name, in any case (as `--partner NAME` is typed)."""
    partner = session.exec(select(FieldPartner).where(func.lower(FieldPartner.name) == name.strip().lower())).first()
    if partner is None:
        known = ", ".join(session.exec(select(FieldPartner.name).order_by(FieldPartner.name))) or "none yet"
        raise PartnerError(f"no lender named {name!r} (known: {known})")
    return partner


def add(session: Session, name: str, actor: str, *, help_line: str, paybill: str = "", country: str = "KE",
        currency: str | None = None, timezone: str = "Africa/Nairobi", languages: str = "sw,en",
        sender_id: str = "", ussd_codes: tuple[str, ...] = (), shortcodes: tuple[str, ...] = ()) -> FieldPartner:
    """A new lender with its USSD codes and M-Pesa shortcodes (paybills and tills). `paybill` is the
    one quoted in SMS (and one of its shortcodes). The currency defaults to the country's (CLDR)."""
    if not name.strip():
        raise PartnerError("a name is required")
    if len(name.strip()) > 120:
        raise PartnerError("a name has at most 120 characters")
    if session.exec(select(FieldPartner.id).where(func.lower(FieldPartner.name) == name.strip().lower())).first():
        raise PartnerError(f"a lender named {name!r} exists already")
    values = checks.settings(dict(help_line=help_line, country=country, timezone=timezone, languages=languages,
                                  sender_id=sender_id))
    values["currency"] = checks.currency(currency or checks.currency_of(values["country"]))
    paybill = checks.shortcode(paybill) if paybill else ""
    wanted_ussd = list(dict.fromkeys(checks.ussd_code(c) for c in ussd_codes))
    wanted_short = list(dict.fromkeys([paybill] * bool(paybill) + [checks.shortcode(c) for c in shortcodes]))
    for code in wanted_short:
        _refuse_taken(session, code, None)
    partner = FieldPartner(name=name.strip(), paybill=paybill, **values)
    session.add(partner)
    session.flush()
    audit.record(session, actor, "partner.added", "field_partner", partner.id, name=partner.name,
                 **{k: getattr(partner, k) for k in ("paybill", *CHANGEABLE)})
    for code in wanted_ussd:
        add_code(session, partner, CodeKind.USSD, code, actor)
    for code in wanted_short:
        add_code(session, partner, CodeKind.SHORTCODE, code, actor)
    return partner


def change(session: Session, partner: FieldPartner, actor: str, **values) -> FieldPartner:
    """Change a lender's settings; `paybill` makes that shortcode the one quoted in SMS (and one of
    the lender's shortcodes, if it was not yet)."""
    changes = checks.settings({k: v for k, v in values.items() if k in CHANGEABLE})
    paybill = values.get("paybill")
    if paybill is not None:
        changes["paybill"] = checks.shortcode(paybill) if paybill.strip() else ""
        if changes["paybill"] and changes["paybill"] not in codes(session, partner.id, CodeKind.SHORTCODE):
            _refuse_taken(session, changes["paybill"], partner)
    changes = {k: v for k, v in changes.items() if getattr(partner, k) != v}
    if not changes:
        return partner
    before = {k: getattr(partner, k) for k in changes}
    for key, value in changes.items():
        setattr(partner, key, value)
    session.add(partner)
    audit.record(session, actor, "partner.changed", "field_partner", partner.id, before=before, after=changes)
    if changes.get("paybill") and changes["paybill"] not in codes(session, partner.id, CodeKind.SHORTCODE):
        add_code(session, partner, CodeKind.SHORTCODE, changes["paybill"], actor)
    return partner


def _refuse_taken(session: Session, shortcode: str, partner: FieldPartner | None) -> None:
    owner = for_shortcode(session, shortcode)
    if owner is not None and (partner is None or owner.id != partner.id):
        raise PartnerError(f"shortcode {shortcode} belongs to another lender ({owner.name}): a payment to it must "
                           "select exactly one lender")


def add_code(session: Session, partner: FieldPartner, kind: str, code: str, actor: str) -> LenderCode:
    """A USSD code (may be shared by several lenders) or M-Pesa shortcode (never shared) of the lender."""
    code = checks.ussd_code(code) if kind == CodeKind.USSD else checks.shortcode(code)
    if kind == CodeKind.SHORTCODE:
        _refuse_taken(session, code, partner)
    if code in codes(session, partner.id, kind):
        raise PartnerError(f"{code} is already one of {partner.name}'s codes")
    row = LenderCode(field_partner_id=partner.id, kind=kind, code=code)
    session.add(row)
    session.flush()
    audit.record(session, actor, "partner.code_added", "field_partner", partner.id, kind=kind, code=code)
    return row


def remove_code(session: Session, partner: FieldPartner, kind: str, code: str, actor: str) -> None:
    row = session.exec(select(LenderCode).where(LenderCode.field_partner_id == partner.id, LenderCode.kind == kind,
                                                LenderCode.code == code.strip())).first()
    if row is None:
        raise PartnerError(f"{code.strip()} is not one of {partner.name}'s {kind} codes")
    if kind == CodeKind.SHORTCODE and row.code == partner.paybill:
        raise PartnerError(f"{row.code} is the paybill quoted in SMS: choose another paybill first")
    session.delete(row)
    audit.record(session, actor, "partner.code_removed", "field_partner", partner.id, kind=kind, code=row.code)


def code_rows(session: Session, partner_id: int) -> list[LenderCode]:
    return list(session.exec(select(LenderCode).where(LenderCode.field_partner_id == partner_id)
                             .order_by(LenderCode.kind.desc(), LenderCode.id)))


def listing(session: Session, ids: tuple[int, ...] | None = None) -> list[FieldPartner]:
    """Every lender (`ids`: only these), by name."""
    query = select(FieldPartner).order_by(FieldPartner.name)
    if ids is not None:
        query = query.where(FieldPartner.id.in_(ids))
    return list(session.exec(query))


# --- Which lender a request belongs to -------------------------------------------------------------

def for_ussd_code(session: Session, service_code: str) -> list[FieldPartner]:
    """The lenders behind a USSD service code. A code no lender claims is shared by every lender (a
    single-lender deployment never has to register its code)."""
    code = service_code.strip()
    claimed = session.exec(select(FieldPartner).join(LenderCode, LenderCode.field_partner_id == FieldPartner.id)
                           .where(LenderCode.kind == CodeKind.USSD, LenderCode.code == code)
                           .order_by(FieldPartner.id)).all()
    return list(claimed) or list(session.exec(select(FieldPartner).order_by(FieldPartner.id)).all())


def for_shortcode(session: Session, shortcode: str) -> FieldPartner | None:
    """The lender whose M-Pesa paybill or till this is; None: no lender has it (the payment is kept for review)."""
    return session.exec(select(FieldPartner).join(LenderCode, LenderCode.field_partner_id == FieldPartner.id)
                        .where(LenderCode.kind == CodeKind.SHORTCODE, LenderCode.code == shortcode.strip())).first()


def codes(session: Session, partner_id: int, kind: str) -> list[str]:
    return list(session.exec(select(LenderCode.code).where(LenderCode.field_partner_id == partner_id,
                                                           LenderCode.kind == kind).order_by(LenderCode.id)))


# --- Daraja credentials per shortcode, encrypted at rest -------------------------------------------

CREDENTIAL_KEYS = ("consumer_key", "consumer_secret", "passkey")
ENV_VAR = "LENDER_ENCRYPTION_KEY"


def _fernet(settings: Settings):
    try:
        return keyring.fernet(settings.lender_encryption_key, ENV_VAR, settings.instance_path,
                              "lender_encryption.key", "lenders' Daraja credentials")
    except RuntimeError as exc:  # a malformed key: its message names the variable, never the key
        raise PartnerError(str(exc)) from None


def seal_credentials(settings: Settings, credentials: dict[str, str]) -> str:
    missing = [k for k in CREDENTIAL_KEYS if not credentials.get(k)]
    if missing:
        raise PartnerError(f"Daraja credentials need {', '.join(CREDENTIAL_KEYS)} (missing: {', '.join(missing)})")
    payload = json.dumps({k: credentials[k] for k in CREDENTIAL_KEYS})
    return _fernet(settings).encrypt(payload.encode()).decode()


def open_credentials(settings: Settings, code: LenderCode) -> dict[str, str] | None:
    """The shortcode's own Daraja keys, or None when it uses the environment's (MPESA_CONSUMER_KEY...)."""
    if not code.credentials:
        return None
    try:
        return json.loads(_fernet(settings).decrypt(code.credentials.encode()))
    except InvalidToken:  # never echo the token or the key
        raise PartnerError(f"shortcode {code.code}'s credentials cannot be decrypted: is {ENV_VAR} the key "
                           "they were stored with?") from None


def set_credentials(session: Session, settings: Settings, partner: FieldPartner, shortcode: str,
                    credentials: dict[str, str] | None, actor: str) -> LenderCode:
    """Seal the shortcode's own Daraja keys (None: back to the environment's). Audited without them."""
    row = session.exec(select(LenderCode).where(LenderCode.field_partner_id == partner.id,
                                                LenderCode.kind == CodeKind.SHORTCODE,
                                                LenderCode.code == shortcode.strip())).first()
    if row is None:
        raise PartnerError(f"{shortcode.strip()} is not one of {partner.name}'s paybills or tills")
    row.credentials = seal_credentials(settings, credentials) if credentials is not None else ""
    session.add(row)
    action = "partner.credentials_set" if credentials is not None else "partner.credentials_cleared"
    audit.record(session, actor, action, "field_partner", partner.id, shortcode=row.code)
    return row


def keys_label(code: LenderCode) -> str:
    """Whose Daraja keys a shortcode uses, never the keys."""
    return "own Daraja keys" if code.credentials else "environment's keys"
