#!/usr/bin/env python3
"""Golden outputs of the real SmolLM2-135M-Instruct Q4_1 GGUF, computed by transformers.

transformers dequantizes the GGUF weights to float32 and runs its own Llama code, so this is
an independent reference for Strata's quantized path. For each prompt (chat-formatted and
plain; code; several languages) it records the token ids, per-position top-1 ids and top-5
(id, logit), and the greedy continuation of 32 tokens. Writes
tests/model/data/golden_smollm2.json (token ids included: the C++ test needs no tokenizer).

    tools/gen_golden_smollm2.py [--model ~/.cache/strata/models/SmolLM2-135M-Instruct.Q4_1.gguf]

Needs torch, transformers, gguf and accelerate (transformers requires accelerate to load GGUF).
"""
import argparse
import json
import os

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

DEFAULT_MODEL = os.path.expanduser("~/.cache/strata/models/SmolLM2-135M-Instruct.Q4_1.gguf")
CHAT = [
    "What is the capital of France?",
    "Write a haiku about the sea.",
    "Explain in two sentences why the sky is blue.",
    "Give me three tips for learning to play the guitar.",
]
PLAIN = [
    "The history of the Roman Empire began",
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "#include <stdio.h>\n\nint main(void) {\n",
    "La tour Eiffel est un monument situé à Paris. Elle a été construite",
    "Der schnellste Weg, eine neue Sprache zu lernen, ist",
    "1, 2, 3, 5, 8, 13, 21,",
    "Once upon a time, in a small village by the mountains, there lived",
]
CONTINUATION = 32


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "model", "data",
                                                      "golden_smollm2.json"))
    args = parser.parse_args()
    directory, name = os.path.split(os.path.abspath(args.model))
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32)
    model.eval()

    prompts = []
    for text in CHAT:
        ids = tokenizer.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                            tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "input_ids"):
            ids = ids["input_ids"]
        prompts.append(("chat", text, list(ids)))
    for text in PLAIN:
        prompts.append(("plain", text, tokenizer(text)["input_ids"]))

    out = {"model": name, "continuation_tokens": CONTINUATION, "prompts": []}
    with torch.no_grad():
        for kind, text, ids in prompts:
            logits = model(torch.tensor([ids])).logits[0]
            top = torch.topk(logits, 5, dim=-1)
            generated = model.generate(torch.tensor([ids]), max_new_tokens=CONTINUATION, do_sample=False,
                                       min_new_tokens=CONTINUATION, pad_token_id=tokenizer.eos_token_id)
            out["prompts"].append({
                "kind": kind,
                "text": text,
                "tokens": ids,
                "top1": logits.argmax(-1).tolist(),
                "top5_ids": top.indices.tolist(),
                "top5_logits": [[round(v, 5) for v in row] for row in top.values.tolist()],
                "greedy": generated[0, len(ids):].tolist(),
            })
            print(f"{kind}: {len(ids)} tokens: {text[:40]!r}")
    with open(args.out, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print(f"wrote {args.out}: {sum(len(p['tokens']) for p in out['prompts'])} positions")


if __name__ == "__main__":
    main()
