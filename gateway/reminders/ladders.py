"""Reminder ladders as data (ladders.toml, or the file named by REMINDER_LADDERS_FILE): named sets of
steps. Which ladder a loan gets is its product's (gateway.models.Product.ladder), never decided here."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from jinja2 import meta

from gateway import i18n
from gateway.messaging.compose import TEMPLATES, template_env

DEFAULT_FILE = Path(__file__).with_name("ladders.toml")
# What gateway.workers.reminders.send_reminder gives every reminder template (plus money() and date()).
REMINDER_VARIABLES = {"lender", "help_line", "paybill", "name", "amount", "currency", "due_date", "account_ref",
                      "arrears", "days_late", "money", "date"}


class LadderError(ValueError):
    pass


@dataclass(frozen=True)
class Step:
    ladder: str  # "" for the default ladder
    step: str
    offset: int
    template: str
    next_offset: int | None  # the following step's offset: this one is not sent from that day on
    grace: int | None = None  # days it may still go out late; None: REMINDER_GRACE_DAYS


@dataclass(frozen=True)
class Ladders:
    named: dict[str, tuple[Step, ...]]
    default: tuple[Step, ...]

    def steps_for(self, ladder: str) -> tuple[Step, ...]:
        """The steps of the ladder of that name; the default ladder for "" or a name not defined."""
        return self.named.get(ladder, self.default)

    def check_name(self, ladder: str) -> str:
        """`ladder` if it is "" (the default) or defined; LadderError naming the known ones otherwise."""
        if ladder and ladder not in self.named:
            known = ", ".join(sorted(self.named)) or "none"
            raise LadderError(f"unknown ladder {ladder!r} (known: {known}, or '' for the default)")
        return ladder


def _check_template(ladder: str, filename: str) -> None:
    path = TEMPLATES / filename
    if not path.exists():
        raise LadderError(f"ladder {ladder or 'default'!r}: no template {filename}")
    unknown = meta.find_undeclared_variables(template_env().parse(path.read_text())) - REMINDER_VARIABLES
    if unknown:
        raise LadderError(f"template {filename} uses variables a reminder does not have: {', '.join(sorted(unknown))}")


def _steps(ladder: str, raw: list[dict]) -> tuple[Step, ...]:
    rows = sorted(raw, key=lambda r: int(r["offset"]))
    if len({r["step"] for r in rows}) != len(rows) or len({int(r["offset"]) for r in rows}) != len(rows):
        raise LadderError(f"ladder {ladder or 'default'!r}: step names and offsets must be unique")
    steps = []
    for k, r in enumerate(rows):
        for lang in i18n.languages():  # a ladder naming a missing template fails at load, not at 8 am
            _check_template(ladder, f"{r['template']}.{lang}.txt")
        steps.append(Step(ladder, str(r["step"]), int(r["offset"]), str(r["template"]),
                          int(rows[k + 1]["offset"]) if k + 1 < len(rows) else None,
                          int(r["grace"]) if "grace" in r else None))
    return tuple(steps)


@lru_cache(maxsize=4)
def load(path: str = "") -> Ladders:
    data = tomllib.loads(Path(path or DEFAULT_FILE).read_text())
    if "products" in data:  # the layout before ladders were named (issue 13): products now name their ladder
        raise LadderError("ladders are [ladders.<name>] now; a product names its ladder (gateway product set)")
    named = {name: _steps(name, spec["steps"]) for name, spec in data.get("ladders", {}).items()}
    return Ladders(named=named, default=_steps("", data["default"]["steps"]))
