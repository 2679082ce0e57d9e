"""A small line chart as inline SVG, for the report's training curve (loss by epoch).

Inline SVG keeps report.html one self-contained file that renders the same in any browser and stays
sharp when zoomed; a chart of a few points needs no plotting library.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

PALETTE = ("#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed")


@dataclass(frozen=True)
class Series:
    label: str
    points: list[tuple[float, float]]  # (x, y), x ascending


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About `count` round tick values (1, 2 or 5 times a power of ten apart) covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return [0.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw_step = (high - low) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw_step))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw_step)
    first = math.floor(low / step) * step
    ticks, value = [], first
    while value < high + step * 0.5:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _label(value: float) -> str:
    return f"{value:g}"


def line_chart(series: list[Series], x_label: str, y_label: str, width: int = 560, height: int = 300) -> str:
    """An <svg> element plotting each series as a line with markers, with axes, ticks and a legend."""
    points = [p for s in series for p in s.points]
    if not points:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="40"><text x="8" y="24" font-size="13" fill="#666">no data to plot</text></svg>'
    left, right, top, bottom = 56, 16, 16, 62  # margins for tick labels, axis titles and the legend
    plot_w, plot_h = width - left - right, height - top - bottom
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    if len(set(xs)) == 1:
        # One epoch: a single tick in the middle rather than a point pinned to the left edge.
        x_ticks, x0, x1 = [xs[0]], xs[0] - 1.0, xs[0] + 1.0
    else:
        x_ticks = nice_ticks(min(xs), max(xs), min(8, len(set(xs))))
        x0, x1 = min(x_ticks[0], min(xs)), max(x_ticks[-1], max(xs))
    y_ticks = nice_ticks(min(ys), max(ys))
    y0, y1 = min(y_ticks[0], min(ys)), max(y_ticks[-1], max(ys))
    y1 = y1 if y1 > y0 else y0 + 1

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * plot_h

    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'role="img" aria-label="{escape(y_label)} by {escape(x_label)}" font-family="system-ui, sans-serif" font-size="12">'
        ),
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#d4d4d8"/>',
    ]
    for tick in y_ticks:
        y = py(tick)
        parts.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e4e7"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#52525b">{_label(tick)}</text>')
    for tick in x_ticks:
        x = px(tick)
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle" fill="#52525b">{_label(tick)}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h + 32}" text-anchor="middle" fill="#27272a">{escape(x_label)}</text>')
    parts.append(f'<text transform="translate(14 {top + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle" fill="#27272a">{escape(y_label)}</text>')
    legend_x = left
    for index, s in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        if s.points:
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in s.points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
            parts += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"><title>{escape(s.label)} {x:g}: {y:.4g}</title></circle>' for x, y in s.points]
        legend_y = height - 10
        parts.append(f'<rect x="{legend_x}" y="{legend_y - 9}" width="14" height="3" fill="{colour}"/>')
        parts.append(f'<text x="{legend_x + 20}" y="{legend_y - 4}" fill="#27272a">{escape(s.label)}</text>')
        legend_x += 28 + 7 * len(s.label)
    parts.append("</svg>")
    return "\n".join(parts)
