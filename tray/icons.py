"""The tray icons, drawn with Pillow (no image files): a coloured disc per level with a white sign on it.

``python -m tray.icons docs/tray-states.png`` draws the four states side by side for the README.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from tray.state import LABELS, Level

COLOURS: dict[Level, tuple[int, int, int]] = {
    Level.OK: (30, 150, 70),
    Level.WORKING: (35, 110, 220),
    Level.ATTENTION: (240, 160, 20),
    Level.ERROR: (210, 40, 40),
}
WHITE = (255, 255, 255, 255)
_SCALE = 4  # drawn large, then scaled down: smooth edges without anti-aliased primitives


def draw_icon(level: Level, size: int = 64) -> Image.Image:
    big = size * _SCALE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((0, 0, big - 1, big - 1), fill=(*COLOURS[level], 255))
    width = big // 10

    def at(x: float, y: float) -> tuple[float, float]:
        return x * big, y * big

    if level is Level.OK:  # a tick
        draw.line([at(0.27, 0.52), at(0.44, 0.69), at(0.74, 0.34)], fill=WHITE, width=width, joint="curve")
    elif level is Level.WORKING:  # three dots: on the way
        for x in (0.3, 0.5, 0.7):
            cx, cy = at(x, 0.5)
            r = width * 0.8
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=WHITE)
    elif level is Level.ATTENTION:  # an exclamation mark
        draw.line([at(0.5, 0.22), at(0.5, 0.6)], fill=WHITE, width=width)
        cx, cy = at(0.5, 0.76)
        r = width * 0.65
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=WHITE)
    else:  # a cross
        draw.line([at(0.32, 0.32), at(0.68, 0.68)], fill=WHITE, width=width)
        draw.line([at(0.68, 0.32), at(0.32, 0.68)], fill=WHITE, width=width)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def states_picture(size: int = 64, gap: int = 24) -> Image.Image:
    """The four icons side by side with their names under them, on white."""
    font = ImageFont.load_default(size=14)
    cell = size + gap * 2
    picture = Image.new("RGB", (cell * len(Level), size + gap * 2 + 20), "white")
    draw = ImageDraw.Draw(picture)
    for i, level in enumerate(Level):
        icon = draw_icon(level, size)
        picture.paste(icon, (i * cell + gap, gap), icon)
        draw.text((i * cell + cell / 2, size + gap + 12), LABELS[level], fill="black", font=font, anchor="mt")
    return picture


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tray.icons OUT.png", file=sys.stderr)
        return 2
    states_picture().save(Path(args[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
