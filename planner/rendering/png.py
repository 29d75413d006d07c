"""A minimal PNG writer and raster canvas (zlib + struct, no imaging library): enough to draw a chart's
lines, points and labels.

`Canvas` is an RGB bitmap with Bresenham lines, filled rectangles and discs and text in a built-in 5x7 pixel font;
`encode` writes it as an 8-bit truecolour PNG (signature, IHDR, one IDAT of unfiltered scanlines, IEND,
each chunk with its CRC-32), which every viewer reads.
"""

from __future__ import annotations

import struct
import zlib

Color = tuple[int, int, int]

# 5x7 glyphs, one string of 7 rows per character, '#' = ink. Lower case is drawn as upper case.
_FONT_ROWS: dict[str, str] = {
    " ": ".....|.....|.....|.....|.....|.....|.....",
    "0": ".###.|#...#|#..##|#.#.#|##..#|#...#|.###.",
    "1": "..#..|.##..|..#..|..#..|..#..|..#..|.###.",
    "2": ".###.|#...#|....#|...#.|..#..|.#...|#####",
    "3": "#####|...#.|..#..|...#.|....#|#...#|.###.",
    "4": "...#.|..##.|.#.#.|#..#.|#####|...#.|...#.",
    "5": "#####|#....|####.|....#|....#|#...#|.###.",
    "6": "..##.|.#...|#....|####.|#...#|#...#|.###.",
    "7": "#####|....#|...#.|..#..|.#...|.#...|.#...",
    "8": ".###.|#...#|#...#|.###.|#...#|#...#|.###.",
    "9": ".###.|#...#|#...#|.####|....#|...#.|.##..",
    "A": ".###.|#...#|#...#|#####|#...#|#...#|#...#",
    "B": "####.|#...#|#...#|####.|#...#|#...#|####.",
    "C": ".###.|#...#|#....|#....|#....|#...#|.###.",
    "D": "###..|#..#.|#...#|#...#|#...#|#..#.|###..",
    "E": "#####|#....|#....|####.|#....|#....|#####",
    "F": "#####|#....|#....|####.|#....|#....|#....",
    "G": ".###.|#...#|#....|#.###|#...#|#...#|.####",
    "H": "#...#|#...#|#...#|#####|#...#|#...#|#...#",
    "I": ".###.|..#..|..#..|..#..|..#..|..#..|.###.",
    "J": "..###|...#.|...#.|...#.|...#.|#..#.|.##..",
    "K": "#...#|#..#.|#.#..|##...|#.#..|#..#.|#...#",
    "L": "#....|#....|#....|#....|#....|#....|#####",
    "M": "#...#|##.##|#.#.#|#.#.#|#...#|#...#|#...#",
    "N": "#...#|#...#|##..#|#.#.#|#..##|#...#|#...#",
    "O": ".###.|#...#|#...#|#...#|#...#|#...#|.###.",
    "P": "####.|#...#|#...#|####.|#....|#....|#....",
    "Q": ".###.|#...#|#...#|#...#|#.#.#|#..#.|.##.#",
    "R": "####.|#...#|#...#|####.|#.#..|#..#.|#...#",
    "S": ".####|#....|#....|.###.|....#|....#|####.",
    "T": "#####|..#..|..#..|..#..|..#..|..#..|..#..",
    "U": "#...#|#...#|#...#|#...#|#...#|#...#|.###.",
    "V": "#...#|#...#|#...#|#...#|#...#|.#.#.|..#..",
    "W": "#...#|#...#|#...#|#.#.#|#.#.#|#.#.#|.#.#.",
    "X": "#...#|#...#|.#.#.|..#..|.#.#.|#...#|#...#",
    "Y": "#...#|#...#|.#.#.|..#..|..#..|..#..|..#..",
    "Z": "#####|....#|...#.|..#..|.#...|#....|#####",
    ".": ".....|.....|.....|.....|.....|.##..|.##..",
    ",": ".....|.....|.....|.....|.##..|..#..|.#...",
    "-": ".....|.....|.....|#####|.....|.....|.....",
    "+": ".....|..#..|..#..|#####|..#..|..#..|.....",
    "/": ".....|....#|...#.|..#..|.#...|#....|.....",
    "(": "...#.|..#..|.#...|.#...|.#...|..#..|...#.",
    ")": ".#...|..#..|...#.|...#.|...#.|..#..|.#...",
    "=": ".....|.....|#####|.....|#####|.....|.....",
    ":": ".....|.##..|.##..|.....|.##..|.##..|.....",
    "_": ".....|.....|.....|.....|.....|.....|#####",
    "%": "##...|##..#|...#.|..#..|.#...|#..##|...##",
    "?": ".###.|#...#|....#|...#.|..#..|.....|..#..",
    "·": ".....|.....|.....|..#..|.....|.....|.....",
}
FONT: dict[str, tuple[str, ...]] = {c: tuple(rows.split("|")) for c, rows in _FONT_ROWS.items()}
GLYPH_W, GLYPH_H, ADVANCE = 5, 7, 6


class Canvas:
    def __init__(self, width: int, height: int, background: Color = (255, 255, 255)) -> None:
        self.width, self.height = width, height
        r, g, b = background
        self.pixels = bytearray(bytes((r, g, b)) * (width * height))

    def set(self, x: int, y: int, c: Color) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            i = 3 * (y * self.width + x)
            self.pixels[i:i + 3] = bytes(c)

    def get(self, x: int, y: int) -> Color:
        i = 3 * (y * self.width + x)
        return self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]

    def line(self, x0: int, y0: int, x1: int, y1: int, c: Color, thickness: int = 1) -> None:
        """Bresenham, widened to `thickness` pixels by stamping a square."""
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        half = thickness // 2
        while True:
            for ox in range(-half, thickness - half):
                for oy in range(-half, thickness - half):
                    self.set(x0 + ox, y0 + oy, c)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def rect(self, x: int, y: int, w: int, h: int, c: Color) -> None:
        """A filled rectangle, its top-left corner at (x, y)."""
        for yy in range(max(0, y), min(self.height, y + h)):
            i = 3 * (yy * self.width + max(0, x))
            n = max(0, min(self.width, x + w) - max(0, x))
            self.pixels[i:i + 3 * n] = bytes(c) * n

    def disc(self, cx: int, cy: int, radius: int, c: Color) -> None:
        for y in range(-radius, radius + 1):
            for x in range(-radius, radius + 1):
                if x * x + y * y <= radius * radius:
                    self.set(cx + x, cy + y, c)

    def text(self, x: int, y: int, s: str, c: Color, scale: int = 1, *, vertical: bool = False) -> None:
        """Text with its top-left corner at (x, y); vertical text reads bottom to top."""
        for k, ch in enumerate(s):
            glyph = FONT.get(ch.upper()) or FONT["?"]
            for gy, row in enumerate(glyph):
                for gx, ink in enumerate(row):
                    if ink != "#":
                        continue
                    for sx in range(scale):
                        for sy in range(scale):
                            px, py = (k * ADVANCE + gx) * scale + sx, gy * scale + sy
                            if vertical:
                                self.set(x + py, y - px, c)
                            else:
                                self.set(x + px, y + py, c)


def text_width(s: str, scale: int = 1) -> int:
    return (len(s) * ADVANCE - 1) * scale if s else 0


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode(canvas: Canvas) -> bytes:
    """The canvas as a PNG file: 8-bit RGB, no interlace, filter type 0 on every scanline."""
    w, h = canvas.width, canvas.height
    stride = 3 * w
    raw = b"".join(b"\x00" + bytes(canvas.pixels[y * stride:(y + 1) * stride]) for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw, 9))
            + _chunk(b"IEND", b""))
