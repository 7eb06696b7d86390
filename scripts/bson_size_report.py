#!/usr/bin/env python
"""Print the BSON size of one stored vector in each representation leafsearch writes.

Sizes are the bytes each vector field adds to a document, under leafsearch's default
field names (``embedding``, ``embedding_mrl``, ``embedding_bits``). Each row compares a BSON binary vector (binData subtype 9) with the same vector written as
a BSON array of doubles, which is what ``vector.tolist()`` stores. Sizes do not depend on
the values, so the vectors are random unit vectors.

    python scripts/bson_size_report.py [--dims 1024] [--truncate-dim 256] [--markdown]
"""

from __future__ import annotations

import argparse

import bson
import numpy as np

from leafsearch.atlas.bson_vectors import float32_to_binary, packed_bits_to_binary
from leafsearch.quantization import pack_sign_bits, truncate


def field_size(name: str, value: object) -> int:
    """Return the bytes the field ``name`` adds to a BSON document: type, key and value."""
    empty = len(bson.encode({}))
    return len(bson.encode({name: value})) - empty


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, default=1024, help="model dimensions (default: 1024)")
    parser.add_argument(
        "--truncate-dim", type=int, default=256, help="truncated dimensions (default: 256)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    full = rng.standard_normal(args.dims).astype(np.float32)
    full /= np.linalg.norm(full)
    truncated = truncate(full, args.truncate_dim)
    bits = full > 0

    rows = [
        ("embedding", f"full float32, {args.dims}-d", float32_to_binary(full), full.tolist()),
        (
            "embedding_mrl",
            f"truncated float32, {args.truncate_dim}-d",
            float32_to_binary(truncated),
            truncated.tolist(),
        ),
        (
            "embedding_bits",
            f"packed bits, {args.dims} bits",
            packed_bits_to_binary(pack_sign_bits(full), args.dims),
            bits.astype(np.float64).tolist(),
        ),
    ]
    table = [
        (label, field_size(key, binary), field_size(key, doubles))
        for key, label, binary, doubles in rows
    ]
    total_binary = sum(binary_size for _, binary_size, _ in table)
    total_doubles = sum(doubles_size for _, _, doubles_size in table)
    table.append(("all three fields", total_binary, total_doubles))

    header = ("representation", "binData vector (B)", "array of doubles (B)", "ratio")
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("| --- | ---: | ---: | ---: |")
        for name, binary_size, doubles_size in table:
            ratio = doubles_size / binary_size
            print(f"| {name} | {binary_size:,} | {doubles_size:,} | {ratio:.1f}x |")
    else:
        print(f"{header[0]:<28} {header[1]:>20} {header[2]:>22} {header[3]:>7}")
        for name, binary_size, doubles_size in table:
            ratio = doubles_size / binary_size
            print(f"{name:<28} {binary_size:>20,} {doubles_size:>22,} {ratio:>6.1f}x")


if __name__ == "__main__":
    main()
