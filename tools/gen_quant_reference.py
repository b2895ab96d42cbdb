#!/usr/bin/env python3
"""Writes tests/kernels/data/quant_reference.{bin,json}: raw GGUF blocks with the floats
that the `gguf` package's dequantize produces for them, so the C++ decoders can be checked
bit for bit against an independent implementation.

For dtypes that gguf can quantize (F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1) the blocks come
from gguf.quants.quantize of seeded random data, and the input floats are stored too (the
C++ reference quantizers must reproduce the same bytes). For the K-quants, whose quantizers
gguf lacks, the blocks are random bytes with finite, moderate f16 super-block scales.

Usage: tools/gen_quant_reference.py [output_dir]   (default: tests/kernels/data)
"""
import json
import pathlib
import sys

import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf.quants import dequantize, quantize

SEED = 20261123
ELEMENTS = 512  # two K-quant super-blocks, sixteen 32-element blocks
QUANTIZABLE = ["F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"]
# K-quant block layouts: (bytes per block, byte offsets of f16 scales to make finite).
K_QUANTS = {"Q4_K": (144, [0, 2]), "Q5_K": (176, [0, 2]), "Q6_K": (210, [208])}


def sample_inputs(rng):
    """Rows with varied magnitudes, a zero block and a constant block."""
    x = rng.standard_normal(ELEMENTS).astype(np.float32)
    x *= np.repeat(rng.uniform(0.01, 4.0, ELEMENTS // 32), 32).astype(np.float32)
    x[64:96] = 0.0       # a block of zeros: scale 0
    x[96:128] = 0.75     # a constant block: max == min
    x[128] = 1e-6        # tiny values exercise f16 subnormals
    return x


def random_k_blocks(rng, block_bytes, scale_offsets):
    blocks = rng.integers(0, 256, size=(ELEMENTS // 256, block_bytes), dtype=np.uint8)
    for b in range(blocks.shape[0]):
        for off in scale_offsets:
            scale = np.float16(rng.uniform(1e-3, 0.05))
            blocks[b, off:off + 2] = np.frombuffer(scale.tobytes(), dtype=np.uint8)
    return blocks.reshape(-1)


def main():
    out_dir = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "tests/kernels/data")
    rng = np.random.default_rng(SEED)
    blob = bytearray()
    cases = []

    def append(array):
        offset = len(blob)
        blob.extend(np.ascontiguousarray(array).tobytes())
        return offset

    for name in QUANTIZABLE + list(K_QUANTS):
        qtype = Q[name]
        case = {"dtype": name.lower(), "elements": ELEMENTS}
        if name in QUANTIZABLE:
            x = sample_inputs(rng)
            raw = quantize(x, qtype).reshape(-1).view(np.uint8)
            case["input_offset"] = append(x)
        else:
            raw = random_k_blocks(rng, *K_QUANTS[name])
        decoded = dequantize(raw, qtype).astype(np.float32).reshape(-1)
        assert decoded.size == ELEMENTS and np.all(np.isfinite(decoded))
        case["block_offset"] = append(raw)
        case["block_bytes"] = int(raw.size)
        case["output_offset"] = append(decoded)
        cases.append(case)

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "quant_reference.bin").write_bytes(bytes(blob))
    (out_dir / "quant_reference.json").write_text(json.dumps({"seed": SEED, "cases": cases}, indent=1) + "\n")
    print(f"wrote {len(cases)} cases, {len(blob)} bytes to {out_dir}")


if __name__ == "__main__":
    main()
