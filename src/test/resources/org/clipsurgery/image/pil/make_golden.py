"""Writes the Pillow golden files the image tests compare against.

Run from this folder with a Python that has Pillow and NumPy (the files in git were made with
Debian 12's python3-pil 9.4.0, whose Resample.c, Unpack.c and Convert.c paths used here are the
ones current Pillow has):  python3 make_golden.py

resize.bin: cases of Image.resize((w, h), Image.BICUBIC) on RGB images. Little-endian:
  b"PILRSZ01", int32 count, then per case int32 inW, inH, outW, outH, inW*inH*3 bytes of input,
  outW*outH*3 bytes of output.
<name>.<ext> + <name>.<ext>.rgb: files written by Pillow (or by hand for PNG kinds Pillow cannot write),
  and Image.open(f).convert("RGB") of each as raw interleaved bytes (size in loaders.txt).
"""
import struct
import zlib

import numpy as np
from PIL import Image

rng = np.random.default_rng(20240523)


def rand_rgb(w, h):
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def resize_cases():
    cases = []
    noise = rand_rgb(37, 23)
    for size in [(5, 7), (64, 64), (100, 50), (37, 11), (13, 23), (1, 1), (80, 9), (36, 24), (74, 46)]:
        cases.append((noise, size))
    cases.append((rand_rgb(300, 7), (16, 40)))
    cases.append((rand_rgb(5, 5), (64, 64)))
    cases.append((rand_rgb(1, 1), (3, 3)))
    board = np.zeros((20, 20, 3), np.uint8)
    board[(np.arange(20)[:, None] + np.arange(20)[None, :]) % 2 == 1] = 255
    cases.append((board, (33, 15)))
    cases.append((board, (7, 9)))
    grad = np.stack(np.meshgrid(np.arange(50) * 5, np.arange(40) * 6, indexing="xy"), -1)
    grad = np.concatenate([grad, np.full((40, 50, 1), 77)], -1).astype(np.uint8)
    cases.append((grad, (224, 224)))
    with open("resize.bin", "wb") as f:
        f.write(b"PILRSZ01")
        f.write(struct.pack("<i", len(cases)))
        for arr, (w, h) in cases:
            im = Image.fromarray(arr, "RGB")
            out = np.asarray(im.resize((w, h), Image.BICUBIC))
            f.write(struct.pack("<4i", arr.shape[1], arr.shape[0], w, h))
            f.write(arr.tobytes())
            f.write(out.tobytes())


def png_chunk(tag, data):
    c = struct.pack(">I", len(data)) + tag + data
    return c + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def write_png16(path, arr, color_type):
    """A 16-bit PNG from a (h, w, c) uint16 array; Pillow cannot write these kinds itself."""
    h, w = arr.shape[:2]
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)))
        f.write(png_chunk(b"IDAT", zlib.compress(raw)))
        f.write(png_chunk(b"IEND", b""))


def loader_cases():
    names = []
    w, h = 23, 17
    rgb = rand_rgb(w, h)
    grey = rng.integers(0, 256, size=(h, w), dtype=np.uint8)
    alpha = rng.integers(0, 256, size=(h, w), dtype=np.uint8)

    def save(im, name, **kw):
        im.save(name, **kw)
        names.append(name)

    save(Image.fromarray(rgb, "RGB"), "rgb.png")
    save(Image.fromarray(grey, "L"), "grey.png")
    save(Image.fromarray(np.dstack([grey, alpha]), "LA"), "grey_alpha.png")
    save(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), "rgba.png")
    pal = Image.fromarray(rgb, "RGB").quantize(colors=16)
    save(pal, "palette.png")
    pal_t = pal.copy()
    pal_t.info["transparency"] = 3
    save(pal_t, "palette_trns.png", transparency=3)
    save(Image.fromarray(grey > 128).convert("1"), "bilevel.png")
    save(Image.fromarray(grey, "L").convert("P", palette=Image.ADAPTIVE, colors=4), "palette2.png", bits=2)
    grey16 = rng.integers(0, 1024, size=(h, w), dtype=np.uint16)  # many values above 255
    save(Image.fromarray(grey16, "I;16"), "grey16.png")
    for name, ct, c in [("rgb16.png", 2, 3), ("rgba16.png", 6, 4), ("grey_alpha16.png", 4, 2)]:
        write_png16(name, rng.integers(0, 65536, size=(h, w, c), dtype=np.uint16), ct)
        names.append(name)
    save(Image.fromarray(rgb, "RGB"), "rgb.bmp")
    save(pal, "palette.bmp")
    save(Image.fromarray(grey, "L"), "grey.bmp")
    smooth = np.asarray(Image.fromarray(rgb, "RGB").resize((w * 3, h * 3), Image.BICUBIC))
    save(Image.fromarray(smooth, "RGB"), "rgb420.jpg", quality=90, subsampling=2)
    save(Image.fromarray(smooth, "RGB"), "rgb444.jpg", quality=90, subsampling=0)
    save(Image.fromarray(grey, "L"), "grey.jpg", quality=90)
    cmyk = rng.integers(0, 256, size=(h, w, 4), dtype=np.uint8)
    save(Image.fromarray(cmyk, "CMYK"), "cmyk.jpg", quality=95)
    # Pillow cannot write YCCK; ycck.jpg (16x8) was written by Java's ImageIO JPEG writer from a
    # 4-band raster with an Adobe APP14 marker saying transform 2, and is kept in git.
    names.append("ycck.jpg")
    with open("loaders.txt", "w") as f:
        for name in names:
            im = Image.open(name)
            rgb_out = im.convert("RGB")
            with open(name.rsplit(".", 1)[0] + "." + name.rsplit(".", 1)[1] + ".rgb", "wb") as g:
                g.write(rgb_out.tobytes())
            f.write(f"{name} {im.mode} {rgb_out.width} {rgb_out.height}\n")


resize_cases()
loader_cases()
