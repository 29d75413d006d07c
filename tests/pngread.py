"""A PNG reader for the tests of the plots (planner/rendering/png.py writes them): enough to check what a
viewer reads."""

from __future__ import annotations

import struct
import zlib


def read_png(data: bytes) -> tuple[int, int, bytes]:
    """(width, height, raw scanlines), checking the signature, each chunk's CRC and the IHDR fields."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        chunks.append((kind, body))
        pos += 12 + n
    assert chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    w, h, depth, ctype, comp, filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, ctype, comp, filt, interlace) == (8, 2, 0, 0, 0)
    raw = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
    assert len(raw) == h * (1 + 3 * w)
    return w, h, raw


def pixel(w: int, raw: bytes, x: int, y: int) -> tuple[int, int, int]:
    """The RGB of (x, y) in the raw scanlines of an 8-bit RGB image `w` pixels wide (filter type 0)."""
    i = y * (1 + 3 * w) + 1 + 3 * x
    return raw[i], raw[i + 1], raw[i + 2]
