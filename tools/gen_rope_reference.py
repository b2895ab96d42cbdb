#!/usr/bin/env python3
"""Golden values for the rotary-embedding tests (tests/kernels/test_cpu_ops_rope.cpp).

The inverse frequencies come from transformers' own rope initialisers (default, linear,
llama3), and the rotation from transformers' `apply_rotary_pos_emb` (NeoX layout, rotating
the two halves of the head). The interleaved (GGUF "llama") layout is the same rotation
applied after gathering even/odd elements into halves. Angles, cos/sin and the rotation are
evaluated in float64, so the goldens carry no float32 rounding of their own.

Usage: python3 tools/gen_rope_reference.py [output.json]
"""
import json
import sys

import numpy as np
import torch
from transformers import LlamaConfig
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

CASES = [
    dict(name="default_neox", head_dim=64, rotary_dim=64, theta=10000.0, neox=True, scaling="none",
         positions=[0, 1, 2, 7, 100, 1000, 4095]),
    dict(name="default_interleaved", head_dim=32, rotary_dim=32, theta=10000.0, neox=False, scaling="none",
         positions=[0, 3, 17, 250, 2047]),
    dict(name="llama3_neox", head_dim=64, rotary_dim=64, theta=500000.0, neox=True, scaling="llama3",
         factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_positions=8192,
         positions=[0, 5, 300, 4000, 9000]),
    dict(name="llama3_interleaved", head_dim=128, rotary_dim=128, theta=500000.0, neox=False, scaling="llama3",
         factor=32.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_positions=8192,
         positions=[1, 64, 2500]),
    dict(name="linear_neox", head_dim=64, rotary_dim=64, theta=10000.0, neox=True, scaling="linear", factor=4.0,
         positions=[0, 9, 1234, 5000]),
    dict(name="partial_neox", head_dim=64, rotary_dim=32, theta=1000000.0, neox=True, scaling="none",
         positions=[0, 11, 777, 3000]),
]
NUM_HEADS = 2


def inv_freq_of(case):
    # Partial rotary embeddings use the frequencies of a head of rotary_dim (transformers:
    # dim = head_dim * partial_rotary_factor), so the config is built with that head size.
    rope = {"rope_type": {"none": "default"}.get(case["scaling"], case["scaling"]), "rope_theta": case["theta"]}
    if case["scaling"] in ("linear", "llama3"):
        rope["factor"] = case["factor"]
    if case["scaling"] == "llama3":
        rope.update(low_freq_factor=case["low_freq_factor"], high_freq_factor=case["high_freq_factor"],
                    original_max_position_embeddings=case["original_max_positions"])
    config = LlamaConfig(hidden_size=case["rotary_dim"] * NUM_HEADS, num_attention_heads=NUM_HEADS,
                         head_dim=case["rotary_dim"], max_position_embeddings=1 << 17, rope_parameters=rope)
    if case["scaling"] == "none":
        inv_freq, _ = LlamaRotaryEmbedding.compute_default_rope_parameters(config, device="cpu")
    else:
        inv_freq, _ = ROPE_INIT_FUNCTIONS[rope["rope_type"]](config, "cpu")
    return inv_freq.to(torch.float64)  # float32 values, as transformers keeps them


def rotate(case, x, inv_freq):
    """x: [T, H, head_dim] float64 -> rotated copy."""
    rot = case["rotary_dim"]
    positions = torch.tensor(case["positions"], dtype=torch.float64)
    freqs = positions[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    part = x[..., :rot].transpose(0, 1)  # [H, T, rot], as transformers expects [.., heads, seq, dim]
    if not case["neox"]:
        part = torch.cat((part[..., 0::2], part[..., 1::2]), dim=-1)
    rotated, _ = apply_rotary_pos_emb(part, part, cos, sin, unsqueeze_dim=0)
    if not case["neox"]:
        half = rot // 2
        interleaved = torch.empty_like(rotated)
        interleaved[..., 0::2], interleaved[..., 1::2] = rotated[..., :half], rotated[..., half:]
        rotated = interleaved
    out = x.clone()
    out[..., :rot] = rotated.transpose(0, 1)
    return out


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "tests/kernels/data/rope_reference.json"
    rng = np.random.default_rng(1234)
    cases = []
    for case in CASES:
        inv_freq = inv_freq_of(case)
        shape = (len(case["positions"]), NUM_HEADS, case["head_dim"])
        # float32-representable inputs, so that the C++ side sees exactly the same values.
        x = torch.from_numpy(rng.uniform(-2, 2, size=shape).astype(np.float32).astype(np.float64))
        entry = dict(case)
        entry.update(num_heads=NUM_HEADS, inv_freq=inv_freq.tolist(), input=x.flatten().tolist(),
                     expected=rotate(case, x, inv_freq).flatten().tolist())
        cases.append(entry)
    with open(path, "w") as f:
        json.dump({"generator": "tools/gen_rope_reference.py", "cases": cases}, f)
        f.write("\n")


if __name__ == "__main__":
    main()
