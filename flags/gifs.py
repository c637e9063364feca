"""Deterministic flag-like GIF images, so the local server needs no image files.

Every country code gets its own picture: a layout (stripes, cross, canton, ...) and colours
chosen from a hash of the code, the two letters drawn in a pixel font, and a woven texture
that gives the files a realistic size (a few KB, like the book's flags). The encoder is a plain
GIF89a writer with its own LZW compressor (numpy draws the pixels; no Pillow needed).
"""

from __future__ import annotations

import functools
import hashlib
import random
import struct

import numpy as np

WIDTH, HEIGHT = 160, 100

# 16 colours: 8 flag colours, each with a darker shade for the texture.
_BASE = [
    (206, 17, 38), (0, 56, 147), (0, 122, 61), (252, 209, 22),
    (255, 255, 255), (0, 0, 0), (255, 127, 0), (0, 155, 218),
]
PALETTE: list[tuple[int, int, int]] = _BASE + [
    (r * 3 // 4, g * 3 // 4, b * 3 // 4) if (r, g, b) != (0, 0, 0) else (48, 48, 48)
    for r, g, b in _BASE
]

# A 5x7 pixel font for A..Z: each glyph is 7 rows of 5 bits.
_FONT = {
    "A": "01110 10001 10001 11111 10001 10001 10001", "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01111 10000 10000 10000 10000 10000 01111", "D": "11110 10001 10001 10001 10001 10001 11110",
    "E": "11111 10000 10000 11110 10000 10000 11111", "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01111 10000 10000 10011 10001 10001 01111", "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "11111 00100 00100 00100 00100 00100 11111", "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001", "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001", "N": "10001 11001 10101 10011 10001 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110", "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101", "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110", "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110", "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 11011 10001", "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 01010 00100 00100 00100 00100", "Z": "11111 00001 00010 00100 01000 10000 11111",
}

_LAYOUTS = ("hstripes", "vstripes", "cross", "canton", "diagonal", "disc")


def _field(layout: str, colours: list[int], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The base colour index of every pixel (x, y are broadcastable coordinate grids)."""
    pal = np.array(colours, dtype=np.uint8)
    n = len(colours)
    if layout == "hstripes":
        index = y * n // HEIGHT + 0 * x
    elif layout == "vstripes":
        index = x * n // WIDTH + 0 * y
    elif layout == "cross":
        index = ((abs(x - WIDTH * 3 // 8) < 9) | (abs(y - HEIGHT // 2) < 9)).astype(int)
    elif layout == "canton":
        index = np.where((x < WIDTH * 2 // 5) & (y < HEIGHT // 2), n - 1, (y // 10) % 2 + 0 * x)
    elif layout == "diagonal":
        index = ((x * HEIGHT + (HEIGHT - 1 - y) * WIDTH) * n) // (2 * WIDTH * HEIGHT)
    else:  # disc
        index = (((x - WIDTH // 2) ** 2 + (y - HEIGHT // 2) ** 2) < 30 * 30).astype(int)
    return pal[index]


def _texture(seed: int) -> np.ndarray:
    """A deterministic speckle mask (about one pixel in five), from an integer hash."""
    h = np.arange(WIDTH * HEIGHT, dtype=np.uint64).reshape(HEIGHT, WIDTH)
    h = (h + np.uint64(seed & 0xFFFFFFFF)) * np.uint64(0x9E3779B97F4A7C15)
    h ^= h >> np.uint64(29)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(32)
    return (h % np.uint64(1000)) < np.uint64(200)


def flag_pixels(cc: str) -> bytes:
    """The WIDTH x HEIGHT palette indices of the picture for a code (deterministic)."""
    cc = cc.upper()
    seed = int.from_bytes(hashlib.sha256(cc.encode("ascii")).digest()[:8], "big")
    rng = random.Random(seed)
    layout = rng.choice(_LAYOUTS)
    colours = rng.sample(range(len(_BASE)), rng.choice((2, 3, 3, 4)))
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    pixels = _field(layout, colours, x, y)
    # The texture: the darker shade of each colour on the speckled pixels.
    pixels = np.where(_texture(seed), pixels + len(_BASE), pixels).astype(np.uint8)
    # The code itself in a 5x7 font, scaled 3x, in a colour that stands out.
    ink = next(i for i in (5, 4, 3) if i not in colours[:1])
    for k, letter in enumerate(cc[:2]):
        glyph = np.array([[c == "1" for c in row] for row in _FONT.get(letter, _FONT["X"]).split()])
        big = np.kron(glyph, np.ones((3, 3), dtype=bool))
        top, left = HEIGHT - 26, WIDTH - 42 + k * 19
        region = pixels[top : top + 21, left : left + 15]
        region[big] = ink
    return pixels.tobytes()


def lzw_encode(data: bytes, min_code_size: int) -> bytes:
    """GIF-flavoured LZW: variable-width codes (up to 12 bits), LSB-first bit packing."""
    clear, eoi = 1 << min_code_size, (1 << min_code_size) + 1
    out = bytearray()
    acc = nbits = 0

    def emit(code: int, width: int) -> None:
        nonlocal acc, nbits
        acc |= code << nbits
        nbits += width
        while nbits >= 8:
            out.append(acc & 0xFF)
            acc >>= 8
            nbits -= 8

    table: dict[int, int] = {}
    code_size = min_code_size + 1
    next_code = eoi + 1
    emit(clear, code_size)
    if not data:
        emit(eoi, code_size)
        return bytes(out) + (bytes([acc]) if nbits else b"")
    prefix = data[0]
    for byte in data[1:]:
        key = (prefix << 8) | byte
        code = table.get(key)
        if code is not None:
            prefix = code
            continue
        emit(prefix, code_size)
        if next_code < 4096:
            table[key] = next_code
            next_code += 1
            if next_code > (1 << code_size) and code_size < 12:
                code_size += 1
        else:  # table full: start over, as decoders expect after a clear code
            emit(clear, code_size)
            table.clear()
            code_size = min_code_size + 1
            next_code = eoi + 1
        prefix = byte
    emit(prefix, code_size)
    emit(eoi, code_size)
    if nbits:
        out.append(acc & 0xFF)
    return bytes(out)


def encode_gif(width: int, height: int, palette: list[tuple[int, int, int]], pixels: bytes) -> bytes:
    """A complete single-image GIF89a file (palette of at most 256 colours)."""
    if len(pixels) != width * height:
        raise ValueError("pixel count does not match the image size")
    bits = max(2, (len(palette) - 1).bit_length())
    table = bytearray()
    for r, g, b in palette + [(0, 0, 0)] * ((1 << bits) - len(palette)):
        table += bytes((r, g, b))
    header = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80 | 0x70 | (bits - 1), 0, 0)
    descriptor = b"," + struct.pack("<HHHHB", 0, 0, width, height, 0)
    compressed = lzw_encode(pixels, bits)
    blocks = bytearray()
    for i in range(0, len(compressed), 255):
        chunk = compressed[i : i + 255]
        blocks += bytes((len(chunk),)) + chunk
    return header + bytes(table) + descriptor + bytes((bits,)) + bytes(blocks) + b"\x00;"


def flag_gif(cc: str) -> bytes:
    """The GIF file for a country code (any case): deterministic, distinct per code."""
    return _flag_gif(cc.upper())


@functools.lru_cache(maxsize=1024)
def _flag_gif(cc: str) -> bytes:
    return encode_gif(WIDTH, HEIGHT, PALETTE, flag_pixels(cc))
