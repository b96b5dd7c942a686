"""The team page's score-over-time chart: inline SVG, so it needs no script."""

from __future__ import annotations

from datetime import datetime

from markupsafe import Markup, escape


def score_chart(
    points: list[tuple[datetime, float]], width: int = 640, height: int = 220
) -> Markup:
    """An SVG line chart of score over time (submission order on x, time as labels)."""
    if not points:
        return Markup("<p>No scored submission yet.</p>")
    pad = 36
    values = [v for _, v in points]
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.05, hi + 0.05
    n = len(points)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = pad + (width - 2 * pad) * (i / (n - 1) if n > 1 else 0.5)
        y = height - pad - (height - 2 * pad) * (v - lo) / (hi - lo)
        return x, y

    coords = [xy(i, v) for i, (_, v) in enumerate(points)]
    best, line = [], []
    running = float("-inf")
    for (x, y), v in zip(coords, values, strict=True):
        line.append(f"{x:.1f},{y:.1f}")
        running = max(running, v)
        best.append(f"{x:.1f},{xy(0, running)[1]:.1f}")
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{escape(t.strftime("%Y-%m-%d %H:%M"))}'
        f" UTC: {v:.4f}</title></circle>"
        for (x, y), (t, v) in zip(coords, points, strict=True)
    )
    return Markup(
        f'<svg class="chart" role="img" aria-label="score over time" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        'class="axis"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" class="axis"/>'
        f'<text x="2" y="{pad}" class="label">{hi:.3f}</text>'
        f'<text x="2" y="{height - pad}" class="label">{lo:.3f}</text>'
        f'<polyline points="{" ".join(best)}" class="best"/>'
        f'<polyline points="{" ".join(line)}" class="score"/>{dots}</svg>'
    )
