"""A lender's products, for its admins: the list, a form to add one, a form to change one. Scoped
with gateway.web.scope: another lender's product is a 404 (the platform role sees every lender's)."""
from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for

from gateway import i18n
from gateway.borrowers import products
from gateway.borrowers.catalogue import ProductError
from gateway.db import MAX_ID, session_scope
from gateway.models import FieldPartner, Product
from gateway.money import from_minor
from gateway.ops.console.base import actor, bp, settings
from gateway.reminders import ladders
from gateway.web import scope
from gateway.web.console_session import login_required
from gateway.web.roles import ADMINS

INTEGERS = ("installments_min", "installments_max", "first_due_within_days", "round_to")


def _partner(db) -> FieldPartner:
    """The lender whose products these are: the admin's own; the platform role may name one (?partner=ID).
    No such lender (or not a database id): 404."""
    wanted = request.values.get("partner", type=int) or g.operator.field_partner_id
    scope.own(wanted, g.operator)
    partner = db.get(FieldPartner, wanted) if 1 <= wanted <= MAX_ID else None
    if partner is None:
        abort(404)
    return partner


def _product(db, product_id: int) -> tuple[Product, FieldPartner]:
    """The product and its lender; another lender's (or none): 404."""
    product = db.get(Product, product_id)
    scope.own(product.field_partner_id if product else None, g.operator)
    return product, db.get(FieldPartner, product.field_partner_id)


def _draft() -> products.Draft:
    form = request.form
    values = dict(names={lang: form.get(f"name_{lang}", "") for lang in i18n.languages()},
                  account_prefix=form.get("prefix", ""), ladder=form.get("ladder", ""),
                  frequency=form.get("frequency", ""), payg="payg" in form, active="active" in form)
    for key in INTEGERS:
        text = form.get(key, "").strip()
        try:
            values[key] = int(text)
        except ValueError:
            raise ProductError(g.speaker._("{field} must be a whole number, not {value}",
                                           field=key.replace("_", "-"), value=repr(text))) from None
    return products.Draft(values, principal_min=form.get("principal_min", ""),
                          principal_max=form.get("principal_max", ""))


def _page(db, partner: FieldPartner, product: Product | None = None, status: int = 200):
    def major(minor: int, currency: str) -> str:  # 20000 or 20000.50, as the admin would type it
        amount = from_minor(minor, currency)
        return str(amount.quantize(1) if amount == amount.to_integral_value() else amount)

    return render_template(
        "products.html" if product is None else "product.html", partner=partner, product=product,
        products=products.listing(db, partner.id), major=major, name_languages=sorted(i18n.languages()),
        ladder_names=sorted(ladders.load(settings().reminder_ladders_file).named), form=request.form), status


@bp.get("/products")
@login_required(*ADMINS)
def products_page():
    with session_scope() as db:
        return _page(db, _partner(db))


@bp.post("/products")
@login_required(*ADMINS)
def add_product():
    with session_scope() as db:
        partner = _partner(db)
        try:
            product = products.add(db, partner, request.form.get("code", ""), _draft(), actor(), settings())
        except ProductError as exc:
            db.rollback()
            flash(str(exc), "error")
            return _page(db, partner, status=400)
        flash(g.speaker._("Product {code} added.", code=product.code), "ok")
    return redirect(url_for("ops_console.products_page", partner=partner.id))


@bp.get("/products/<id:product_id>")
@login_required(*ADMINS)
def product_page(product_id: int):
    with session_scope() as db:
        product, partner = _product(db, product_id)
        return _page(db, partner, product)


@bp.post("/products/<id:product_id>")
@login_required(*ADMINS)
def change_product(product_id: int):
    with session_scope() as db:
        product, partner = _product(db, product_id)
        try:
            products.change(db, partner, product, _draft(), actor(), settings())
        except ProductError as exc:
            db.rollback()
            flash(str(exc), "error")
            return _page(db, partner, db.get(Product, product_id), status=400)
        flash(g.speaker._("Product {code} saved.", code=product.code), "ok")
    return redirect(url_for("ops_console.products_page", partner=partner.id))
