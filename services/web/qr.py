"""QR codes rendered on the server as inline SVG (segno): no image service, no script."""

from __future__ import annotations

import segno
from markupsafe import Markup, escape


def qr_svg(text: str, label: str, *, scale: int = 6) -> Markup:
    """An inline SVG QR code of ``text`` (dark on a light quiet zone, readable on dark pages)."""
    code = segno.make(text, error="m")
    svg = code.svg_inline(scale=scale, dark="#000", light="#fff", omitsize=False)
    # segno's markup holds only numbers and path data; the label is ours, escaped.
    return Markup('<div class="qr" role="img" aria-label="{}">{}</div>').format(
        escape(label), Markup(svg)
    )
