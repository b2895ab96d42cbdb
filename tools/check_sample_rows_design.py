"""A model in Python of the GPU sampler's algorithm (src/kernels/cuda/sample_rows.cu), run
against a port of the host reference (src/sampling/truncation.cpp: truncate_candidates and
draw_index): top-k, the nucleus and the draw as selections of "the target-th unit of
weight counted from the largest key", 10 or 11 bits of a 64-bit key a pass, over integer masses
(weights exp(s - max) in units of 2^-42). It checks the design (the selection rules, the
targets' rounding, the draw order by rank or by id, ties) on random rows where no GPU is
at hand; the CUDA code itself is checked on the device by tests/cuda/test_cuda_sample_rows.cpp.

    python3 tools/check_sample_rows_design.py    # prints "N/N equal", exit 1 on a mismatch
"""
import math
import random
import struct
import sys

import numpy as np

f32 = np.float32
UNIT = 2.0 ** 42


def host_reference(logits, temperature, top_k, top_p, min_p, u):
    V = len(logits); inv_t = f32(1.0)/f32(temperature)
    s = (logits * inv_t).astype(f32)
    mx = f32(s.max())
    cands = list(range(V))
    key = lambda i: (-float(s[i]), i)
    use_k = top_k > 0 and top_k < V; use_p = top_p < 1.0
    total = 0.0
    if use_k:
        cands = sorted(cands, key=key)[:top_k]
        for i in cands: total += math.exp(float(f32(s[i]-mx)))
    elif use_p:
        for i in cands: total += math.exp(float(f32(s[i]-mx)))
        cands = sorted(cands, key=key)
    w = [math.exp(float(f32(s[i]-mx))) for i in cands]
    if use_p:
        cum = 0.0; keep = len(w)
        for j, x in enumerate(w):
            cum += x
            if cum >= float(f32(top_p)) * total: keep = j+1; break
        cands = cands[:keep]; w = w[:keep]
    if min_p > 0:
        kk = [(c, x) for c, x in zip(cands, w) if x >= float(f32(min_p))]
        cands = [c for c, _ in kk]; w = [x for _, x in kk]
    tot = sum(w); target = u * tot; cum = 0.0; last = 0
    for j, x in enumerate(w):
        if x <= 0: continue
        cum += x; last = j
        if target < cum: return cands[j]
    return cands[last]

def rank_key(s, i):
    """Larger first: by value, then by lower id (NaN last)."""
    b = struct.unpack('<I', struct.pack('<f', float(s)))[0]
    o = 0 if s != s else ((~b) & 0xFFFFFFFF if b & 0x80000000 else b | 0x80000000)
    return (o << 32) | (0xFFFFFFFF - i)


def id_key(i):
    return 0xFFFFFFFF - i


def device_model(logits, temperature, top_k, top_p, min_p, u):
    V = len(logits); inv_t = f32(1.0)/f32(temperature)
    s = (logits * inv_t).astype(f32); mx = f32(s.max())
    ranks = [rank_key(s[i], i) for i in range(V)]
    wd = [math.exp(float(f32(s[i]-mx))) for i in range(V)]
    mass = [int(round(x*UNIT)) for x in wd]  # __double2ull_rn
    def get(i, min_rank, min_w, by_id, count):
        if ranks[i] < min_rank: return None
        k = id_key(i) if by_id else ranks[i]
        if count: return (k, 1)
        if wd[i] < min_w: return None
        return (k, mass[i])
    def total(min_rank, min_w, by_id, count=False):
        t = 0
        for i in range(V):
            g = get(i, min_rank, min_w, by_id, count)
            if g: t += g[1]
        return t
    # The kernel's passes: 11, 11, 10 bits of the ordered scaled logit, then of the id;
    # keys by id start at the id passes. Returns the key, the weight above it and its own.
    shifts = [53, 42, 32, 21, 10, 0]
    def select(min_rank, min_w, by_id, count, target):
        prefix = 0; mask = 0; above = 0; weight = 0
        first = 3 if by_id else 0
        for p in range(first, len(shifts)):
            shift = shifts[p]; top = 64 if p == 0 else shifts[p - 1]
            hist = [0]*2048
            for i in range(V):
                g = get(i, min_rank, min_w, by_id, count)
                if not g: continue
                k, w = g
                if (k & mask) != prefix or w == 0: continue
                hist[(k >> shift) & 0x7FF] += w
            acc = above; digit = 0
            for d in range(2047, -1, -1):
                if acc + hist[d] >= target: digit = d; break
                acc += hist[d]
            above = acc; weight = hist[digit]
            prefix |= digit << shift; mask |= ((1 << top) - 1) & ~((1 << shift) - 1)
        return prefix, above, weight
    use_k = top_k > 0 and top_k < V; use_p = top_p < 1.0
    min_rank = 0
    if use_k: min_rank = select(0, 0.0, False, True, top_k)[0]
    tot = None
    if use_p:
        before = total(min_rank, 0.0, False)
        t = math.ceil(float(f32(top_p)) * before); t = max(1, min(t, before))
        min_rank, above, weight = select(min_rank, 0.0, False, False, t)
        tot = above + weight  # the nucleus's mass, as the kernel takes it
    min_w = float(f32(min_p)) if min_p > 0 else 0.0
    by_id = not use_k and not use_p
    if tot is None or min_w > 0: tot = total(min_rank, min_w, by_id)
    t = math.floor(u * tot) + 1; t = min(t, tot)
    k = select(min_rank, min_w, by_id, False, t)[0]
    return 0xFFFFFFFF - (k & 0xFFFFFFFF)

def main():
    rng = np.random.default_rng(3)
    random.seed(3)
    bad = n = 0
    for trial in range(300):
        V = random.choice([50, 300, 2000])
        logits = (rng.standard_normal(V) * random.choice([0.5, 2, 6])).astype(f32)
        if trial % 10 == 0:
            logits[rng.integers(0, V, 5)] = logits.max()  # ties at the top
        kind = trial % 7
        temperature = random.choice([0.6, 1.0, 1.3])
        top_k = [-1, 40, -1, -1, 10, 1000, -1][kind]
        top_p = [1.0, 1.0, 0.9, 1.0, 0.8, 0.5, 0.95][kind]
        min_p = [0.0, 0.0, 0.0, 0.05, 0.1, 0.0, 0.02][kind]
        u = random.random()
        a = host_reference(logits, temperature, top_k, top_p, min_p, u)
        b = device_model(logits, temperature, top_k, top_p, min_p, u)
        n += 1
        if a != b:
            bad += 1
            print(f"mismatch: trial {trial}, vocab {V}, kind {kind}, host {a}, device model {b}")
    print(f"{n - bad}/{n} equal")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
