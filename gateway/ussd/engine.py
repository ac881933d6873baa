"""A small USSD engine: menus are data (screens, options, handlers), not routing code.

Africa's Talking sends every input of the session so far in `text` ("1*3*500"), so the engine
replays them from the first screen on each hop. No session state is kept between requests
(any web process can answer any hop), and side effects run only for the hop being answered
(`ctx.live`), so replaying an old input never repeats them.

Navigation: `00` goes back one screen (from the first screen, out of the flow when the caller
came in from another menu, e.g. the lender choice of a shared code: `Left`); `0` on a sub-menu
goes to the home screen (unless the screen itself offers a `0` option); anything invalid
re-shows the screen with a short error.
A screen longer than a USSD screen (MAX_SCREEN) is split into pages at line and word boundaries,
never cut: each page but the last ends with "98 More", and `98` shows the next page.
"""
from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.messaging import gsm7

MAX_SCREEN = 182  # USSD protocol limit for GSM-7 text, "CON "/"END " included
BACK, HOME, MORE = "00", "0", "98"


class Invalid(Exception):
    """Raised by an input handler: the input is refused with this (translatable) message."""

    def __init__(self, msgid: str, **values):
        super().__init__(msgid)
        self.msgid, self.values = msgid, values


@dataclass
class Option:
    key: str
    label: str | Callable[[Any], str]  # msgid, or a function of ctx returning display text
    target: str  # screen name, or "home"
    action: Callable[[Any], None] | None = None  # state change on choosing it (check ctx.live for effects)
    visible: Callable[[Any], bool] | None = None


@dataclass
class Screen:
    name: str
    text: Callable[[Any], str]  # body of the screen, already translated
    options: list[Option] | Callable[[Any], list[Option]] = field(default_factory=list)
    on_input: Callable[[Any, str], str] | None = None  # free input -> next screen, or raise Invalid
    on_show: Callable[[Any], None] | None = None  # effect when this screen is the answer (live only)
    end: bool = False
    footer: bool = True  # "0 Menu  00 Back" on screens below home

    def options_for(self, ctx) -> list[Option]:
        opts = self.options(ctx) if callable(self.options) else self.options
        return [o for o in opts if o.visible is None or o.visible(ctx)]


@dataclass
class Reply:
    text: str
    end: bool

    def body(self) -> str:
        return ("END " if self.end else "CON ") + self.text


@dataclass
class Left:
    """`00` on the flow's first screen, when the caller may leave it: the inputs after it (for the menu before)."""
    rest: list[str]


class Flow:
    def __init__(self, screens: list[Screen], start: str, home: str):
        self.screens = {s.name: s for s in screens}
        self.start, self.home = start, home
        targets = {o.target for s in screens if not callable(s.options) for o in s.options}
        missing = targets - set(self.screens) - {"home"}
        if missing:
            raise ValueError(f"options lead to unknown screens: {missing}")

    def respond(self, ctx, inputs: list[str], *, can_leave: bool = False) -> Reply | Left:
        stack = [self.start]
        error: Invalid | None = None
        page = 0
        for k, raw in enumerate(inputs):
            ctx.live = k == len(inputs) - 1
            screen = self.screens[stack[-1]]
            if raw.strip() == MORE and page + 1 < len(self.pages(ctx, screen, error)):
                page += 1  # the same screen (and its error, which only the first page shows), next page
                continue
            if screen.end:
                break
            error, page = None, 0
            try:
                target = self._next(ctx, screen, raw.strip(), stack)
            except Invalid as exc:
                error = exc
                continue
            if target == BACK:
                if len(stack) > 1:
                    stack.pop()
                elif can_leave:
                    return Left(inputs[k + 1:])
            elif target == "home":
                stack = stack[: stack.index(self.home) + 1] if self.home in stack else [self.home]
            else:
                stack.append(target)
        ctx.live = True
        screen = self.screens[stack[-1]]
        if screen.on_show and page == 0:
            screen.on_show(ctx)
        pages = self.pages(ctx, screen, error)
        page = min(page, len(pages) - 1)
        return Reply(pages[page], screen.end and page == len(pages) - 1)

    def _next(self, ctx, screen: Screen, raw: str, stack: list[str]) -> str:
        options = screen.options_for(ctx)
        chosen = next((o for o in options if o.key == raw), None)
        if chosen:
            if chosen.action:
                chosen.action(ctx)
            return chosen.target
        if raw == BACK:
            return BACK
        if raw == HOME and screen.name != self.home and self.home in stack:
            return "home"
        if screen.on_input:
            return screen.on_input(ctx, raw)
        raise Invalid("Invalid choice. Try again.")

    def pages(self, ctx, screen: Screen, error: Invalid | None) -> list[str]:
        """The screen's text in pages that each fit MAX_SCREEN with "CON "/"END ": lines are kept whole
        where they fit, a longer line is wrapped at spaces; the footer ends every page."""
        lines = [ctx._(error.msgid, **error.values)] if error else []
        lines += screen.text(ctx).split("\n")
        for o in screen.options_for(ctx):
            label = o.label(ctx) if callable(o.label) else ctx._(o.label)
            lines.append(f"{o.key} {label}")
        footed = not screen.end and screen.footer and screen.name not in (self.home, self.start)
        tail = [gsm7(ctx._("0 Menu 00 Back"))] if footed else []  # ends every page
        lines = [gsm7(line) for line in lines if line]  # accents outside GSM-7 would halve a screen
        budget = MAX_SCREEN - len("CON ")
        if len("\n".join(lines + tail)) <= budget:
            return ["\n".join(lines + tail)]
        more = gsm7(MORE + " " + ctx._("More"))
        room = budget - len("\n".join([more] + tail)) - 1  # what a page with "98 More" has for its lines
        pages, current = [], []
        for line in lines:
            for part in textwrap.wrap(line, room, break_long_words=False, break_on_hyphens=False) or [line]:
                if current and len("\n".join(current + [part])) > room:
                    pages.append(current)
                    current = []
                current.append(part)
        pages.append(current)
        return ["\n".join(p + [more] + tail) for p in pages[:-1]] + ["\n".join(pages[-1] + tail)]


def split_inputs(text: str) -> list[str]:
    """AT's cumulative text -> inputs. Empty text is the first hop. A stray '*' gives an empty
    input, which the screen refuses like any invalid choice."""
    return [] if not text else text.split("*")
