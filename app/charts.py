"""Small server-rendered SVG charts for result pages: no JavaScript, readable by screen readers.

Every chart carries ``role="img"``, an ``aria-label`` and a ``<title>``; every piece of text is
escaped here, so a ballot title or option label can never become markup. Colours are the
stylesheet's high-contrast ink on paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup

INK = "#1b1f24"
BAR = "#0b5563"
MET = "#1e6b3a"
NOT_MET = "#b3261e"
TRACK = "#e3e0d8"
WIDTH = 600
LABEL_WIDTH = 190
VALUE_WIDTH = 110
ROW = 34


@dataclass(frozen=True)
class Bar:
    label: str
    value: Decimal
    text: str  # the value as shown beside the bar, e.g. "12 (40%)"
    highlight: bool = False  # a winner


SVG = Markup(
    '<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="{label}" '
    'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMinYMin meet">'
    "<title>{label}</title>{body}</svg>"
)
BAR_ROW = Markup(
    '<text x="0" y="{ty}" fill="{ink}" font-size="15"{weight}>{label}</text>'
    '<rect x="{x}" y="{y}" width="{track}" height="22" fill="{bg}"/>'
    '<rect x="{x}" y="{y}" width="{length}" height="22" fill="{colour}"/>'
    '<text x="{vx}" y="{ty}" fill="{ink}" font-size="15"{weight}>{text}</text>'
)
THRESHOLD = Markup(
    '<rect x="10" y="8" width="{track}" height="26" fill="{bg}"/>'
    '<rect x="10" y="8" width="{fill}" height="26" fill="{colour}"/>'
    '<line x1="{mark}" y1="2" x2="{mark}" y2="40" stroke="{ink}" stroke-width="3" '
    'stroke-dasharray="5 3"/>'
    '<text x="10" y="60" fill="{ink}" font-size="15">{caption}</text>'
)
PERCENT = Markup(
    '<rect x="0" y="2" width="{width}" height="16" fill="{bg}"/>'
    '<rect x="0" y="2" width="{fill}" height="16" fill="{colour}"/>'
)
BOLD = Markup(' font-weight="700"')


def _svg(title: str, height: int, body: Markup, width: int = WIDTH) -> Markup:
    # Markup.format escapes every argument that is not already Markup: titles and labels are text
    return SVG.format(label=title, width=width, height=height, body=body)


def _fraction(value: Decimal, total: Decimal) -> Decimal:
    if total <= 0:
        return Decimal(0)
    return max(Decimal(0), min(Decimal(1), value / total))


def bar_chart_svg(title: str, bars: Sequence[Bar]) -> Markup:
    """Horizontal bars, one row per option, scaled to the largest value."""
    largest = max((b.value for b in bars), default=Decimal(0))
    track = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    rows = Markup("").join(
        BAR_ROW.format(
            ty=i * ROW + 23,
            y=i * ROW + 6,
            x=LABEL_WIDTH,
            vx=WIDTH - VALUE_WIDTH + 8,
            track=track,
            length=int(_fraction(b.value, largest) * track),
            ink=INK,
            bg=TRACK,
            colour=MET if b.highlight else BAR,
            weight=BOLD if b.highlight else "",
            label=_clip(b.label),
            text=b.text,
        )
        for i, b in enumerate(bars)
    )
    return _svg(title, max(len(bars), 1) * ROW + 6, rows)


def threshold_bar_svg(
    title: str, actual: Decimal, base: Decimal, required: Decimal, met: bool, caption: str
) -> Markup:
    """One bar: ``actual`` out of ``base``, with a marker at ``required`` (the threshold)."""
    track = WIDTH - 20
    body = THRESHOLD.format(
        track=track,
        fill=int(_fraction(actual, base) * track),
        mark=10 + int(_fraction(required, base) * track),
        colour=MET if met else NOT_MET,
        ink=INK,
        bg=TRACK,
        caption=caption,
    )
    return _svg(title, 68, body)


def percent_bar_svg(title: str, percent: float) -> Markup:
    """A compact bar for a table cell: ``percent`` of 100."""
    width = 160
    fill = int(max(0.0, min(100.0, percent)) / 100 * width)
    return _svg(title, 20, PERCENT.format(width=width, fill=fill, bg=TRACK, colour=BAR), width)


def _clip(text: str, limit: int = 16) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
