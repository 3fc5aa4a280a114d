"""Charts drawn on the server as SVG: no script, no network, readable by screen readers (the
SVG has a title and a description, and every bar its own <title> with label and value)."""

from __future__ import annotations

from collections.abc import Sequence
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
