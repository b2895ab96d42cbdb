#!/usr/bin/env python3
"""Golden logits for Strata's random-weight models, computed by Hugging Face transformers.

For each architecture (llama with llama3 rope scaling, qwen2, qwen3) this runs
`strata make-model --arch A --shape tiny --dtype f32 --format safetensors --seed S` (or uses
directories given with --model-dir), loads the directory with transformers in float64 and
writes tests/model/data/golden_random_<arch>.json: the seed, the token sequences and the
logits of every position of each sequence.

    tools/gen_golden_random.py --strata build/strata
"""
import argparse
import json
import os
import subprocess
import tempfile

import torch
from transformers import AutoModelForCausalLM

SEED = 1234
SHAPE = "tiny"
# Fixed sequences (vocab of the tiny shape is 512); one long enough to span several KV
# blocks of 16 tokens.
SEQUENCES = [
    [1, 17, 300, 42, 42, 7, 511, 0, 256, 99, 100, 101, 5, 77, 300, 12, 480, 33, 2, 64, 128, 9, 400, 8],
    [3, 250, 251, 252, 9, 9, 9, 400],
]
ARCHS = ["llama", "qwen2", "qwen3"]


def make_model(strata, arch, directory):
    subprocess.run([strata, "make-model", "--arch", arch, "--shape", SHAPE, "--dtype", "f32",
                    "--format", "safetensors", "--seed", str(SEED), "-o", directory], check=True)


def golden_for(model_dir, arch):
    model = AutoModelForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float64,
                                                 attn_implementation="eager")
    model.eval()
    out = {"arch": arch, "shape": SHAPE, "seed": SEED, "sequences": []}
    with torch.no_grad():
        for seq in SEQUENCES:
            logits = model(torch.tensor([seq])).logits[0]
            out["sequences"].append({
                "tokens": seq,
                "logits": [[float(f"{v:.7g}") for v in row] for row in logits.tolist()],
            })
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--strata", help="the strata binary (runs make-model)")
    parser.add_argument("--model-dir", action="append", default=[],
                        help="ARCH=DIR of an existing make-model directory")
    parser.add_argument("--out-dir", default=os.path.join(os.path.dirname(__file__), "..", "tests", "model", "data"))
    args = parser.parse_args()
    given = dict(item.split("=", 1) for item in args.model_dir)
    with tempfile.TemporaryDirectory() as tmp:
        for arch in ARCHS:
            directory = given.get(arch)
            if directory is None:
                if not args.strata:
                    parser.error(f"no --model-dir for {arch} and no --strata to make one")
                directory = os.path.join(tmp, arch)
                make_model(args.strata, arch, directory)
            golden = golden_for(directory, arch)
            path = os.path.join(args.out_dir, f"golden_random_{arch}.json")
            with open(path, "w") as f:
                json.dump(golden, f, separators=(",", ":"))
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
