"""Lenders (field partners): added and changed with documented commands, audited."""
from __future__ import annotations

import json

from cryptography.fernet import InvalidToken
from sqlmodel import Session, select

from gateway import audit, keyring
from gateway.config import Settings
from gateway.models import CodeKind, FieldPartner, LenderCode

CHANGEABLE = ("help_line", "paybill", "country")


class PartnerError(ValueError):
    """A lender change that cannot be made; the message says why."""


def find(session: Session, name: str) -> FieldPartner:
    partner = session.exec(select(FieldPartner).where(FieldPartner.name == name.strip())).first()
    if partner is None:
        known = ", ".join(session.exec(select(FieldPartner.name).order_by(FieldPartner.name))) or "none yet"
        raise PartnerError(f"no lender named {name!r} (known: {known})")
    return partner


def _check(values: dict) -> dict:
    country = values.get("country")
    if country is not None and not (len(country) == 2 and country.isalpha()):
        raise PartnerError("country is a two-letter ISO code, e.g. KE")
    paybill = values.get("paybill")
    if paybill and not paybill.isdigit():
        raise PartnerError("paybill is the M-Pesa business number: digits only")
    return {k: (v.upper() if k == "country" else v.strip()) for k, v in values.items() if v is not None}


def add(session: Session, name: str, actor: str, *, help_line: str, paybill: str = "",
        country: str = "KE") -> FieldPartner:
    if not name.strip():
        raise PartnerError("a name is required")
    if session.exec(select(FieldPartner.id).where(FieldPartner.name == name.strip())).first():
        raise PartnerError(f"a lender named {name!r} exists already")
    partner = FieldPartner(name=name.strip()[:120], **_check(dict(help_line=help_line, paybill=paybill,
                                                                   country=country)))
    session.add(partner)
    session.flush()
    audit.record(session, actor, "partner.added", "field_partner", partner.id, name=partner.name)
    return partner


def change(session: Session, partner: FieldPartner, actor: str, **values) -> FieldPartner:
    changes = _check({k: v for k, v in values.items() if k in CHANGEABLE})
    before = {k: getattr(partner, k) for k in changes}
    for key, value in changes.items():
        setattr(partner, key, value)
    session.add(partner)
    audit.record(session, actor, "partner.changed", "field_partner", partner.id, before=before, after=changes)
    return partner


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
    return keyring.fernet(settings.lender_encryption_key, ENV_VAR, settings.instance_path, "lender_encryption.key",
                          "lenders' Daraja credentials")


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
