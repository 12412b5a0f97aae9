#!/usr/bin/env python3
"""Writes raw DEFLATE streams made by Python's zlib, which inflate_raw must round-trip
(tests/formats/zip_tests.cpp). The build runs it before formats_tests is linked.

Usage: python3 tests/formats/make_deflate_fixtures.py OUTDIR

Per case: OUTDIR/<case>.plain (the bytes), OUTDIR/<case>.deflate (raw deflate, window bits
-15, as zip stores entries), and a line "<case> <zlib.crc32> <size>" in OUTDIR/manifest.txt,
written last. Deterministic: the same files on every run. Python 3 standard library only.
"""
import pathlib
import random
import sys
import zlib


def pickle_like_text(size, seed):
    """Keys and numbers, as a pickle's strings are: matches near and far (up to the 32 KiB
    window), and enough variety for dynamic Huffman blocks."""
    rng = random.Random(seed)
    parts = []
    total = 0
    while total < size:
        part = "model.layers.%d.%s.weight=%d;" % (
            rng.randrange(4096), rng.choice(["mlp", "attn.q_proj", "attn.k_proj", "norm"]),
            rng.getrandbits(24))
        parts.append(part)
        total += len(part)
    return "".join(parts).encode()[:size]


def raw_deflate(data, level=6, strategy=zlib.Z_DEFAULT_STRATEGY, flush_every=None):
    z = zlib.compressobj(level, zlib.DEFLATED, -15, 8, strategy)
    if flush_every is None:
        return z.compress(data) + z.flush()
    out = []
    for i, at in enumerate(range(0, len(data), flush_every)):
        out.append(z.compress(data[at:at + flush_every]))
        # Sync flushes end in an empty stored block; full flushes also reset the window.
        out.append(z.flush(zlib.Z_FULL_FLUSH if i % 2 else zlib.Z_SYNC_FLUSH))
    out.append(z.flush())
    return b"".join(out)


def main():
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    text = pickle_like_text(300_000, 1)
    noise = random.Random(2).randbytes(150_000)
    cases = {
        "text_level1": (text, raw_deflate(text, 1)),
        "text_level6": (text, raw_deflate(text, 6)),
        "text_level9": (text, raw_deflate(text, 9)),
        "text_fixed": (text, raw_deflate(text, 6, zlib.Z_FIXED)),
        "text_huffman_only": (text, raw_deflate(text, 6, zlib.Z_HUFFMAN_ONLY)),
        "text_rle": (text, raw_deflate(text, 6, zlib.Z_RLE)),
        "text_flushed": (text, raw_deflate(text, 6, flush_every=40_000)),
        "stored_level0": (text, raw_deflate(text, 0)),  # stored blocks of at most 64 KiB
        "noise_level9": (noise, raw_deflate(noise, 9)),  # deflate falls back to stored blocks
        "zeros_1mib": (bytes(1 << 20), raw_deflate(bytes(1 << 20), 9)),  # about 1000:1
        "empty": (b"", raw_deflate(b"")),
        "one_byte": (b"\x80", raw_deflate(b"\x80")),
    }
    lines = []
    for name, (plain, deflated) in cases.items():
        assert zlib.decompress(deflated, -15) == plain
        (out / (name + ".plain")).write_bytes(plain)
        (out / (name + ".deflate")).write_bytes(deflated)
        lines.append("%s %d %d\n" % (name, zlib.crc32(plain), len(plain)))
    (out / "manifest.txt").write_text("".join(lines))
    print("deflate fixtures: %d cases in %s" % (len(cases), out))


if __name__ == "__main__":
    main()
