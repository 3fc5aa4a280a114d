"""Charts drawn on the server as SVG: no script, no network, readable by screen readers (the
SVG has a title and a description, and every bar its own <title> with label and value)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from html import escape

from markupsafe import Markup


def _number(value: Decimal) -> str:
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return text or "0"


def bar_chart(bars: Sequence[tuple[str, Decimal]], *, title: str, description: str,
              color: str = "#334155", width: int = 640, height: int = 200,
              limit: Decimal | None = None, limit_label: str = "",
              ident: str = "chart") -> Markup:
    """Vertical bars, one per (label, value), scaled to the largest value (or `limit`,
    drawn as a dashed line: an included quantity, a budget). `ident` keeps the ids of
    several charts on one page apart."""
    top = max([value for _, value in bars] + ([limit] if limit is not None else [])
              + [Decimal(0)])
    left, bottom, right, above = 48, 24, 8, 16
    plot_w, plot_h = width - left - right, height - bottom - above
    step = plot_w / max(len(bars), 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="100%" role="img" aria-labelledby="{ident}-title {ident}-desc" '
             f'class="chart"><title id="{ident}-title">{escape(title)}</title>'
             f'<desc id="{ident}-desc">{escape(description)}</desc>',
             f'<line x1="{left}" y1="{above + plot_h}" x2="{width - right}" '
             f'y2="{above + plot_h}" stroke="#94a3b8"/>',
             f'<text x="{left - 6}" y="{above + 4}" text-anchor="end" font-size="11" '
             f'fill="#475569">{escape(_number(top))}</text>',
             f'<text x="{left - 6}" y="{above + plot_h}" text-anchor="end" font-size="11" '
             f'fill="#475569">0</text>']
    label_every = max(1, len(bars) // 10)
    for index, (label, value) in enumerate(bars):
        bar_h = 0.0 if top == 0 else float(value / top) * plot_h
        x = left + index * step + step * 0.15
        parts.append(f'<rect x="{x:.1f}" y="{above + plot_h - bar_h:.1f}" '
                     f'width="{step * 0.7:.1f}" height="{bar_h:.1f}" fill="{escape(color)}">'
                     f'<title>{escape(label)}: {escape(_number(value))}</title></rect>')
        if index % label_every == 0:
            parts.append(f'<text x="{x + step * 0.35:.1f}" y="{height - 6}" '
                         f'text-anchor="middle" font-size="11" fill="#475569">'
                         f'{escape(label)}</text>')
    if limit is not None and top > 0:
        y = above + plot_h - float(limit / top) * plot_h
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
                     f'stroke="#b45309" stroke-dasharray="6 4"/>'
                     f'<text x="{left + 4}" y="{y - 4:.1f}" font-size="11" fill="#b45309" '
                     f'stroke="#fff" stroke-width="3" paint-order="stroke">'
                     f'{escape(limit_label)} {escape(_number(limit))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))



def waterfall(steps: Sequence[tuple[str, Decimal]], *, start: tuple[str, Decimal],
              end_label: str, title: str, description: str, ident: str = "waterfall",
              width: int = 640, height: int = 220,
              money: Callable[[Decimal], str] = _number) -> Markup:
    """A waterfall: the `start` bar, each step floating up (green) or down (red) from where
    the one before ended, and the end bar (their sum), each labelled with `money`."""
    totals = [start[1]]
    for _, change in steps:
        totals.append(totals[-1] + change)
    top, bottom = max([*totals, Decimal(0)]), min([*totals, Decimal(0)])
    span = top - bottom or Decimal(1)
    left, below, right, above = 8, 34, 8, 16
    plot_w, plot_h = width - left - right, height - below - above
    step_w = plot_w / (len(steps) + 2)

    def y(value: Decimal) -> float:
        return above + float((top - value) / span) * plot_h

    bars = [(start[0], Decimal(0), start[1], "#334155", start[1])]
    bars += [(label, before, before + change, "#15803d" if change >= 0 else "#b91c1c", change)
             for (label, change), before in zip(steps, totals, strict=False)]
    bars.append((end_label, Decimal(0), totals[-1], "#334155", totals[-1]))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="100%" role="img" aria-labelledby="{ident}-title {ident}-desc" '
             f'class="chart"><title id="{ident}-title">{escape(title)}</title>'
             f'<desc id="{ident}-desc">{escape(description)}</desc>',
             f'<line x1="{left}" y1="{y(Decimal(0)):.1f}" x2="{width - right}" '
             f'y2="{y(Decimal(0)):.1f}" stroke="#94a3b8"/>']
    for index, (label, low, high, color, shown) in enumerate(bars):
        x = left + index * step_w + step_w * 0.15
        middle = x + step_w * 0.35
        y_top, y_bottom = sorted((y(low), y(high)))
        parts.append(f'<rect x="{x:.1f}" y="{y_top:.1f}" width="{step_w * 0.7:.1f}" '
                     f'height="{max(y_bottom - y_top, 1):.1f}" fill="{color}">'
                     f'<title>{escape(label)}: {escape(money(shown))}</title></rect>'
                     f'<text x="{middle:.1f}" y="{height - 20}" font-size="11" '
                     f'text-anchor="middle" fill="#475569">{escape(label)}</text>'
                     f'<text x="{middle:.1f}" y="{height - 6}" font-size="10" '
                     f'text-anchor="middle" fill="#475569">{escape(money(shown))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
