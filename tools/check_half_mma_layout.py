#!/usr/bin/env python3
"""Checks the operand layout of src/kernels/cuda/gemv_half_mma.cu without a GPU.

The kernel feeds mma.m16n8k16 (f16 in, f32 accumulators) with Q4_0 quants decoded in
registers and activations staged in shared memory in its own order, and relies on three
claims: (1) lane (r, c) of the mma layout (r = lane / 4, c = lane % 4) holding group c of
its rows, decoded by nibble_pair() at shifts 0/8 (low nibbles) and 4/12 (high ones), and
(2) the B column n taking group n's staged values (lanes with c == n, zeros elsewhere),
make column n of the accumulator the dot product of group n alone, for n < 4, and columns
4..7 zero; (3) the staging of a float4 run as (x0, x2), (x1, x3) at staged_position() puts
each value where the B fragments read it. This script models the fragments as the PTX ISA
describes them for m16n8k16 (A row-major: a0a1 row r, k 2c..2c+1; a2a3 row r + 8; a4a5 and
a6a7 the same rows at k + 8. B column-major: b0b1 k 2c..2c+1, column r; b2b3 k + 8. C/D:
c0c1 row r, columns 2c..2c+1; c2c3 row r + 8) and checks the claims on random chunks.
Usage: python3 tools/check_half_mma_layout.py [trials]
"""
import random
import sys


def pack_group(q):
    """GGUF's Q4_0 nibble order: byte i holds value i (low nibble) and i + 16 (high)."""
    data = [q[i] | (q[i + 16] << 4) for i in range(16)]
    return [data[4 * j] | data[4 * j + 1] << 8 | data[4 * j + 2] << 16 | data[4 * j + 3] << 24 for j in range(4)]


def nibble_pair(word, shift):
    """The kernel's nibble_pair(): (low half, high half) as the values q - 8."""
    v = (word >> shift) & 0x000F000F
    return ((v & 0xFFFF) - 8, (v >> 16) - 8)


def staged_position(e):
    s, j, u = e // 16, (e % 16) // 4, e % 4
    return 8 * j + 4 * s + 2 * (u % 2) + u // 2


def stage(x_groups):
    """stage_activations(): lane L writes values 4 (L % 8) .. + 3 of group L / 8."""
    staged = [[None] * 32 for _ in range(4)]
    for lane in range(32):
        g, e = lane // 8, 4 * (lane % 8)
        p = staged_position(e)
        x0, x1, x2, x3 = x_groups[g][e:e + 4]
        staged[g][p:p + 4] = [x0, x2, x1, x3]
    return staged


def chunk_product(words, staged):
    """The eight mma of one chunk: D[16][8] from the lanes' fragments."""
    d = [[0.0] * 8 for _ in range(16)]
    for j in range(4):
        for s in range(2):
            a = [[0] * 16 for _ in range(16)]
            b = [[0.0] * 8 for _ in range(16)]
            for lane in range(32):
                r, c = lane // 4, lane % 4
                first, second = (0, 8) if s == 0 else (4, 12)
                a[r][2 * c:2 * c + 2] = nibble_pair(words[r][c][j], first)
                a[r + 8][2 * c:2 * c + 2] = nibble_pair(words[r + 8][c][j], first)
                a[r][2 * c + 8:2 * c + 10] = nibble_pair(words[r][c][j], second)
                a[r + 8][2 * c + 8:2 * c + 10] = nibble_pair(words[r + 8][c][j], second)
                bx = staged[c][8 * j:8 * j + 8] if r == c else [0.0] * 8
                b01, b23 = (bx[0:2], bx[2:4]) if s == 0 else (bx[4:6], bx[6:8])
                b[2 * c][r], b[2 * c + 1][r] = b01
                b[2 * c + 8][r], b[2 * c + 9][r] = b23
            for row in range(16):
                for col in range(8):
                    d[row][col] += sum(a[row][k] * b[k][col] for k in range(16))
    return d


def main():
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    rng = random.Random(1)
    worst = 0.0
    for _ in range(trials):
        q = [[[rng.randrange(16) for _ in range(32)] for _ in range(4)] for _ in range(16)]
        x = [[rng.uniform(-1, 1) for _ in range(32)] for _ in range(4)]
        words = [[pack_group(q[row][g]) for g in range(4)] for row in range(16)]
        d = chunk_product(words, stage(x))
        for row in range(16):
            for g in range(4):
                expect = sum((q[row][g][e] - 8) * x[g][e] for e in range(32))
                worst = max(worst, abs(d[row][g] - expect))
            for col in range(4, 8):
                worst = max(worst, abs(d[row][col]))
    print(f"{trials} random chunks: largest difference from the per-group dot products {worst:.3g}")
    return 0 if worst < 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())
