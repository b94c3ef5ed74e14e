"""Small inline SVG charts drawn on the server: no script, no CDN, readable by a screen reader.

Each chart is an <svg role="img"> with a <title> and a <desc> that says the totals in words; the
page puts the same figures in a table beside it (a <details>), so nothing depends on seeing bars.
"""

from __future__ import annotations

import datetime as dt

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT, PAD_TOP, PAD_BOTTOM = 600, 160, 10, 22


def bar_chart(
    *, chart_id: str, title: str, days: list[dt.date], current: list[int], previous: list[int], color: str
) -> SafeString:
    """Bars for `current` (one a day) with the previous period as a dashed line over the same days."""
    n = max(len(current), 1)
    top = max([*current, *previous, 1])
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    step = WIDTH / n
    bar_w = max(step * 0.7, 1)

    def y(value: int) -> float:
        return PAD_TOP + plot_h - (value / top) * plot_h

    bars = []
    for i, (day, value) in enumerate(zip(days, current, strict=True)):
        x = i * step + (step - bar_w) / 2
        bars.append(
            f'<rect x="{x:.1f}" y="{y(value):.1f}" width="{bar_w:.1f}" height="{PAD_TOP + plot_h - y(value):.1f}" '
            f'fill="{escape(color)}"><title>{day:%b %-d}: {value:,}</title></rect>'
        )
    line = ""
    if previous:
        points = " ".join(f"{i * step + step / 2:.1f},{y(v):.1f}" for i, v in enumerate(previous[:n]))
        line = (
            f'<polyline points="{points}" fill="none" stroke="#6b7280" stroke-width="1.5" '
            'stroke-dasharray="4 3" aria-hidden="true"/>'
        )
    labels = ""
    if days:
        labels = (
            f'<text x="0" y="{HEIGHT - 6}" font-size="11" fill="currentColor">{days[0]:%b %-d}</text>'
            f'<text x="{WIDTH}" y="{HEIGHT - 6}" font-size="11" text-anchor="end" fill="currentColor">'
            f"{days[-1]:%b %-d}</text>"
            f'<text x="0" y="{PAD_TOP + 2}" font-size="11" fill="currentColor" dominant-baseline="hanging">'
            f"{top:,}</text>"
        )
    total, before = sum(current), sum(previous)
    desc = f"{total:,} in the last {len(current)} days against {before:,} in the {len(previous)} days before"
    if days:
        peak = max(range(len(current)), key=lambda i: current[i])
        desc += f"; the busiest day was {days[peak]:%b %-d} with {current[peak]:,}"
    return mark_safe(  # noqa: S308 - every interpolated text above is a number, a date or escaped
        f'<svg class="fc-chart" viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="none" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d" width="100%" height="{HEIGHT}">'
        f'<title id="{chart_id}-t">{escape(title)}</title><desc id="{chart_id}-d">{escape(desc)}.</desc>'
        f'<line x1="0" y1="{PAD_TOP + plot_h}" x2="{WIDTH}" y2="{PAD_TOP + plot_h}" stroke="#9ca3af"/>'
        f"{''.join(bars)}{line}{labels}</svg>"
    )
