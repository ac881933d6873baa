"""Dashboard charts as inline SVG made on the server: no JavaScript, no CDN, readable on any
phone browser, and printable."""
from __future__ import annotations

from markupsafe import Markup, escape

from gateway.ops.portfolio import BUCKETS, PAR_DAYS

COLOURS = {1: "#e0a800", 30: "#d9534f", 90: "#7b1f1f"}
W, H, PAD_L, PAD_R, PAD_B, PAD_T = 640, 260, 44, 34, 34, 22


def par_trend(trend: list[dict], speaker) -> Markup:
    """PAR1/30/90 of the portfolio at each date, one line each (the portfolio's main currency)."""
    if not trend:
        return Markup("")
    currency = max({r["currency"] for r in trend}, key=lambda c: sum(r["outstanding_principal"] for r in trend
                                                                       if r["currency"] == c))
    rows = [r for r in trend if r["currency"] == currency]
    top = max([float(r[f"par{n}"]) for r in rows for n in PAR_DAYS] + [0.1])
    top = min(1.0, (int(top * 10) + 1) / 10)
    step = (W - PAD_L - PAD_R) / max(len(rows) - 1, 1)

    def xy(k, value):
        x = PAD_L + k * step
        y = PAD_T + (H - PAD_T - PAD_B) * (1 - float(value) / top)
        return f"{x:.1f},{y:.1f}"

    parts = [f'<svg viewBox="0 0 {W} {H}" role="img" class="chart" aria-label="{escape(speaker._("PAR trend"))}">']
    for k in range(5):
        value = top * k / 4
        y = PAD_T + (H - PAD_T - PAD_B) * (1 - k / 4)
        parts.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">{value * 100:.0f}%</text>')
    for k, r in enumerate(rows):
        parts.append(f'<text x="{PAD_L + k * step:.1f}" y="{H - 12}" text-anchor="middle">'
                     f'{escape(speaker.date(r["date"], "d MMM"))}</text>')
    for n in PAR_DAYS:
        points = " ".join(xy(k, r[f"par{n}"]) for k, r in enumerate(rows))
        parts.append(f'<polyline fill="none" stroke="{COLOURS[n]}" stroke-width="2.5" points="{points}">'
                     f'<title>PAR{n}</title></polyline>')
        for k, r in enumerate(rows):
            parts.append(f'<circle r="3.5" fill="{COLOURS[n]}" cx="{xy(k, r[f"par{n}"]).split(",")[0]}" '
                         f'cy="{xy(k, r[f"par{n}"]).split(",")[1]}"><title>PAR{n} {escape(speaker.date(r["date"]))}: '
                         f'{float(r[f"par{n}"]) * 100:.1f}%</title></circle>')
    legend = "".join(f'<rect x="{PAD_L + 10 + i * 90}" y="2" width="12" height="12" fill="{COLOURS[n]}"/>'
                     f'<text x="{PAD_L + 26 + i * 90}" y="12">PAR{n}</text>' for i, n in enumerate(PAR_DAYS))
    parts.append(legend + "</svg>")
    return Markup("".join(parts))


def buckets(table: list[dict], speaker) -> Markup:
    """Arrears per bucket, horizontal bars labelled with loans and amount."""
    if not table:
        return Markup("")
    currency = table[0]["currency"]
    rows = {r["bucket"]: r for r in table if r["currency"] == currency}
    biggest = max([rows[b]["outstanding_principal"] for b in rows] + [1])
    bar_h, gap, label_w = 26, 10, 118
    height = len(BUCKETS) * (bar_h + gap) + 4
    parts = [f'<svg viewBox="0 0 {W} {height}" role="img" class="chart" '
             f'aria-label="{escape(speaker._("Arrears buckets"))}">']
    for k, b in enumerate(BUCKETS):
        r = rows.get(b, {"loans": 0, "outstanding_principal": 0, "arrears": 0})
        y = k * (bar_h + gap) + 2
        width = (W - label_w - 10) * r["outstanding_principal"] / biggest
        name = speaker._("current") if b == "current" else b
        text = speaker._("{count} loans, {amount} outstanding", count=r["loans"],
                         amount=speaker.money(r["outstanding_principal"], currency))
        parts.append(f'<text x="0" y="{y + 18}">{escape(name)}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{width:.1f}" height="{bar_h}" class="bar b{k}"/>'
                     f'<text x="{label_w + 6}" y="{y + 18}" class="barlabel">{escape(text)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
