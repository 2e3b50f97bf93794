"""Tiny inline-SVG charts (no plotting library, no network): lines and horizontal bars."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#7f7f7f", "#bcbd22", "#393b79", "#ad494a", "#637939", "#843c39")
DASHES = ("", "6,3", "2,2", "8,3,2,3")
FONT = 'font-family="system-ui,-apple-system,Segoe UI,sans-serif"'

Series = tuple[str, Sequence[tuple[float, float | None]]]


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    v = start
    while v <= hi + step * 0.01:
        if v >= lo - step * 0.01:
            ticks.append(round(v, 10))
        v += step
    return ticks


def _log_ticks(lo: float, hi: float) -> list[float]:
    ticks = []
    e = math.floor(math.log10(lo))
    while 10**e <= hi * 1.0001:
        for m in (1, 2, 5):
            v = m * 10**e
            if lo * 0.9999 <= v <= hi * 1.0001:
                ticks.append(v)
        e += 1
    return ticks


def fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e6:
        return f"{v / 1e6:g}M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:g}k"
    if abs(v) >= 1:
        return f"{v:g}"
    return f"{v:.3g}"


def line_chart(title: str, series: Sequence[Series], *, xlabel: str, ylabel: str,
               logx: bool = False, logy: bool = False,
               hlines: Sequence[tuple[float, str, int]] = (),
               bands: Sequence[tuple[float, float, str]] = (),
               width: int = 760, height: int = 380) -> str:
    """`series`: (name, [(x, y)]); `hlines`: (y, label, series index for the colour)."""
    pts = [(x, y) for _, s in series for x, y in s if y is not None]
    if logy:
        pts = [(x, y) for x, y in pts if y > 0]
    if not pts:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="40"><text ' \
               f'x="10" y="25" {FONT} font-size="13">{escape(title)}: no data</text></svg>'
    ml, mr, mt, mb = 70, 190, 34, 46
    pw, ph = width - ml - mr, height - mt - mb
    xs = [x for x, _ in pts]
    ys = [y for _, y in pts] + [y for y, _, _ in hlines]
    x0, x1 = min(xs), max(xs)
    if logy:
        y0, y1 = min(ys) / 1.3, max(ys) * 1.3
    else:
        y0, y1 = 0.0, max(ys) * 1.08 or 1.0
    if x0 == x1:
        x1 = x0 + 1

    def sx(x: float) -> float:
        if logx:
            return ml + pw * (math.log(x) - math.log(x0)) / (math.log(x1) - math.log(x0) or 1)
        return ml + pw * (x - x0) / (x1 - x0)

    def sy(y: float) -> float:
        if logy:
            return mt + ph * (1 - (math.log(y) - math.log(y0)) / (math.log(y1) - math.log(y0)))
        return mt + ph * (1 - (y - y0) / (y1 - y0))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{ml}" y="20" {FONT} font-size="14" font-weight="600">'
           f'{escape(title)}</text>']
    for a, b, label in bands:
        xa, xb = sx(max(a, x0)), sx(min(b, x1))
        out.append(f'<rect x="{xa:.1f}" y="{mt}" width="{max(0, xb - xa):.1f}" height="{ph}" '
                   f'fill="#f3e0e0"/><text x="{xa + 3:.1f}" y="{mt + 12}" {FONT} '
                   f'font-size="10" fill="#a33">{escape(label)}</text>')
    yt = _log_ticks(y0, y1) if logy else _nice_ticks(y0, y1)
    for t in yt:
        y = sy(t)
        out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
                   f'<text x="{ml - 6}" y="{y + 4:.1f}" {FONT} font-size="11" '
                   f'text-anchor="end">{fmt(t)}</text>')
    xt = sorted({x for x, _ in pts}) if logx else _nice_ticks(x0, x1)
    if len(xt) > 12:
        xt = xt[:: math.ceil(len(xt) / 12)]
    for t in xt:
        x = sx(t)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{mt}" y2="{mt + ph}" stroke="#f4f4f4"/>'
                   f'<text x="{x:.1f}" y="{mt + ph + 16}" {FONT} font-size="11" '
                   f'text-anchor="middle">{fmt(t)}</text>')
    out.append(f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    out.append(f'<text x="{ml + pw / 2}" y="{height - 8}" {FONT} font-size="12" '
               f'text-anchor="middle">{escape(xlabel)}</text>')
    out.append(f'<text x="14" y="{mt + ph / 2}" {FONT} font-size="12" text-anchor="middle" '
               f'transform="rotate(-90 14 {mt + ph / 2})">{escape(ylabel)}</text>')
    for y, label, ci in hlines:
        if y0 <= y <= y1:
            yy = sy(y)
            out.append(f'<line x1="{ml}" x2="{ml + pw}" y1="{yy:.1f}" y2="{yy:.1f}" '
                       f'stroke="{color(ci)}" stroke-dasharray="3,4" stroke-width="1.2"/>'
                       f'<text x="{ml + pw - 4}" y="{yy - 3:.1f}" {FONT} font-size="10" '
                       f'text-anchor="end" fill="{color(ci)}">{escape(label)}</text>')
    for i, (name, s) in enumerate(series):
        good = [(x, y) for x, y in s if y is not None and (y > 0 or not logy)]
        if not good:
            continue
        path = " ".join(f"{'M' if k == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}"
                        for k, (x, y) in enumerate(sorted(good)))
        dash = DASHES[(i // len(PALETTE)) % len(DASHES)]
        out.append(f'<path d="{path}" fill="none" stroke="{color(i)}" stroke-width="2" '
                   f'stroke-dasharray="{dash}"/>')
        for x, y in good:
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.6" fill="{color(i)}">'
                       f'<title>{escape(name)}: {fmt(x)} -&gt; {y:.4g}</title></circle>')
        ly = mt + 8 + i * 16
        out.append(f'<line x1="{ml + pw + 12}" x2="{ml + pw + 32}" y1="{ly}" y2="{ly}" '
                   f'stroke="{color(i)}" stroke-width="2" stroke-dasharray="{dash}"/>'
                   f'<text x="{ml + pw + 36}" y="{ly + 4}" {FONT} font-size="11">'
                   f'{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def bar_chart(title: str, categories: Sequence[str],
              series: Sequence[tuple[str, Sequence[float | None]]], *, xlabel: str,
              logx: bool = False, width: int = 760) -> str:
    """Horizontal grouped bars: one group per category, one bar per series."""
    nser = max(1, len(series))
    bar_h, gap = 12, 8
    ml, mr, mt, mb = 200, 70, 34 + 16 * ((nser + 2) // 3), 40
    height = mt + mb + len(categories) * (nser * bar_h + gap)
    pw = width - ml - mr
    vals = [v for _, vs in series for v in vs if v is not None and (v > 0 or not logx)]
    if not vals:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="40"><text ' \
               f'x="10" y="25" {FONT} font-size="13">{escape(title)}: no data</text></svg>'
    lo = min(vals) / 2 if logx else 0.0
    hi = max(vals) * 1.05

    def sx(v: float) -> float:
        if logx:
            return ml + pw * (math.log(max(v, lo)) - math.log(lo)) / (math.log(hi) - math.log(lo))
        return ml + pw * v / hi

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="10" y="20" {FONT} font-size="14" font-weight="600">{escape(title)}</text>']
    for i, (name, _) in enumerate(series):
        lx, ly = 10 + (i % 3) * 240, 38 + (i // 3) * 16
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="12" height="10" fill="{color(i)}"/>'
                   f'<text x="{lx + 16}" y="{ly}" {FONT} font-size="11">{escape(name)}</text>')
    ticks = _log_ticks(lo, hi) if logx else _nice_ticks(0, hi)
    for t in ticks:
        x = sx(t)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{mt}" y2="{height - mb}" '
                   f'stroke="#eee"/><text x="{x:.1f}" y="{height - mb + 14}" {FONT} '
                   f'font-size="10" text-anchor="middle">{fmt(t)}</text>')
    y = mt
    for ci, cat in enumerate(categories):
        out.append(f'<text x="{ml - 6}" y="{y + nser * bar_h / 2 + 4:.1f}" {FONT} '
                   f'font-size="11" text-anchor="end">{escape(cat)}</text>')
        for si, (name, vs) in enumerate(series):
            v = vs[ci] if ci < len(vs) else None
            if v is not None and (v > 0 or not logx):
                w = sx(v) - ml
                out.append(f'<rect x="{ml}" y="{y}" width="{max(w, 1):.1f}" '
                           f'height="{bar_h - 2}" fill="{color(si)}"><title>{escape(cat)} '
                           f'{escape(name)}: {v:.4g}</title></rect><text x="{ml + w + 3:.1f}" '
                           f'y="{y + bar_h - 3}" {FONT} font-size="9">{v:.3g}</text>')
            y += bar_h
        y += gap
    out.append(f'<text x="{ml + pw / 2}" y="{height - 8}" {FONT} font-size="12" '
               f'text-anchor="middle">{escape(xlabel)}</text></svg>')
    return "\n".join(out)
