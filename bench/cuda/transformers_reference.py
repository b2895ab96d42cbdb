#!/usr/bin/env python3
"""Hugging Face transformers (eager attention, bf16) on a random-weight Llama-3.1-8B shape:
the decode rate a Python user gets without a serving engine, recorded beside Strata's
(issue 5). Greedy generation of 128 tokens after a 128-token random prompt, at batch 1 and
batch 64; each figure is generated tokens over the wall time of generate() (CUDA
synchronised), and the decode-only rate removes the time of a 1-token generate (prefill).
Usage: python3 bench/cuda/transformers_reference.py [--batches 1,64] [--new-tokens 128]
"""
import argparse
import time

import torch
import transformers
from transformers import AutoModelForCausalLM, LlamaConfig


def llama31_8b_config() -> LlamaConfig:
    return LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                       num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=8192,
                       rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=False,
                       bos_token_id=1, eos_token_id=None, pad_token_id=0)


def build_model(config: LlamaConfig):
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)
    with torch.device("cuda"):
        try:
            model = AutoModelForCausalLM.from_config(config, attn_implementation="eager", dtype=torch.bfloat16)
        except TypeError:  # transformers 4.x names it torch_dtype
            model = AutoModelForCausalLM.from_config(config, attn_implementation="eager", torch_dtype=torch.bfloat16)
    return model.eval()


def timed_generate(model, prompt: torch.Tensor, new_tokens: int) -> float:
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.no_grad():
        out = model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=new_tokens,
                             min_new_tokens=new_tokens, do_sample=False, pad_token_id=0)
    torch.cuda.synchronize()
    assert out.shape[1] == prompt.shape[1] + new_tokens
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", default="1,64")
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=128)
    args = ap.parse_args()
    t0 = time.perf_counter()
    model = build_model(llama31_8b_config())
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, {torch.cuda.get_device_name()}, "
          f"model built in {time.perf_counter() - t0:.1f} s, attention {model.config._attn_implementation}")
    print("| batch | generate tok/s (incl. prefill) | decode-only tok/s |")
    print("| --- | --- | --- |")
    gen = torch.Generator().manual_seed(1)
    for batch in (int(b) for b in args.batches.split(",")):
        prompt = torch.randint(2, 128000, (batch, args.prompt_tokens), generator=gen).cuda()
        timed_generate(model, prompt, 4)  # warm-up
        prefill = timed_generate(model, prompt, 1)
        total = timed_generate(model, prompt, args.new_tokens)
        rate = batch * args.new_tokens / total
        decode = batch * (args.new_tokens - 1) / (total - prefill)
        print(f"| {batch} | {rate:.1f} | {decode:.1f} |", flush=True)


if __name__ == "__main__":
    main()
