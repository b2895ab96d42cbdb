#!/usr/bin/env python3
"""Generates tests/tokenizer/data/golden_<name>.json: the ids and decoded texts that the
Hugging Face reference gives on every string of tests/tokenizer/data/corpus.json.

References:
  - each /work/shared/fixtures/tokenizers/hf/<name>/tokenizer.json through the Python
    `tokenizers` library (Tokenizer.from_file);
  - smollm2_gguf: the tokenizer that `transformers` builds from the GGUF file
    ~/.cache/strata/models/SmolLM2-135M-Instruct.Q4_1.gguf (skipped when absent), with
    one correction: transformers has no entry for GGUF pre "smollm" and falls back to
    plain GPT-2 ByteLevel splitting, which is not the tokenizer SmolLM2 was trained with.
    The model's own tokenizer.json (HuggingFaceTB/SmolLM2-*) splits digits first:
    Sequence[Digits(individual_digits=True), ByteLevel(use_regex=True)], which is also
    what llama.cpp's "smollm" pre does; the reference is given that pre-tokenizer.

Per string: ids (add_special_tokens=False), ids_special (add_special_tokens=True),
ids_no_parse (special-token text tokenized as plain text), decoded (decode(ids)),
decoded_skip (decode(ids_special, skip_special_tokens=True)).

Usage: python3 tools/gen_tokenizer_goldens.py [--shared DIR]"""
import argparse
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "tests", "tokenizer", "data")
SMOLLM_GGUF = os.path.expanduser("~/.cache/strata/models/SmolLM2-135M-Instruct.Q4_1.gguf")


def corpus_texts():
    with open(os.path.join(DATA, "corpus.json"), encoding="utf-8") as f:
        entries = json.load(f)["strings"]
    # Python strings cannot hold invalid UTF-8; the C++ encoder replaces it the same way.
    return [e["text"] if "text" in e else bytes.fromhex(e["hex"]).decode("utf-8", errors="replace")
            for e in entries]


def golden_from_tokenizers(path, texts):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(path)
    cases = []
    for text in texts:
        tok.encode_special_tokens = False
        ids = tok.encode(text, add_special_tokens=False).ids
        ids_special = tok.encode(text, add_special_tokens=True).ids
        tok.encode_special_tokens = True
        ids_no_parse = tok.encode(text, add_special_tokens=False).ids
        tok.encode_special_tokens = False
        cases.append({"ids": ids, "ids_special": ids_special, "ids_no_parse": ids_no_parse,
                      "decoded": tok.decode(ids, skip_special_tokens=False),
                      "decoded_skip": tok.decode(ids_special, skip_special_tokens=True)})
    return cases


def golden_from_transformers_gguf(gguf_path, texts):
    from transformers import AutoTokenizer
    from tokenizers import pre_tokenizers
    tok = AutoTokenizer.from_pretrained(os.path.dirname(gguf_path), gguf_file=os.path.basename(gguf_path))
    tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    cases = []
    for text in texts:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        ids_special = tok(text, add_special_tokens=True)["input_ids"]
        ids_no_parse = tok(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        cases.append({"ids": ids, "ids_special": ids_special, "ids_no_parse": ids_no_parse,
                      "decoded": tok.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False),
                      "decoded_skip": tok.decode(ids_special, skip_special_tokens=True,
                                                 clean_up_tokenization_spaces=False)})
    return cases


def write(name, source, cases):
    path = os.path.join(DATA, f"golden_{name}.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"source": ' + json.dumps(source) + ', "cases": [\n')
        f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
        f.write("\n]}\n")
    print(f"wrote {path}: {len(cases)} cases")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=os.path.join(HERE, "..", "..", "shared"))
    args = parser.parse_args()
    texts = corpus_texts()
    hf_dir = os.path.join(args.shared, "fixtures", "tokenizers", "hf")
    for name in sorted(os.listdir(hf_dir)):
        path = os.path.join(hf_dir, name, "tokenizer.json")
        if os.path.exists(path):
            write(name, f"tokenizers: fixtures/tokenizers/hf/{name}/tokenizer.json",
                  golden_from_tokenizers(path, texts))
    if os.path.exists(SMOLLM_GGUF):
        write("smollm2_gguf", "transformers from SmolLM2-135M-Instruct.Q4_1.gguf",
              golden_from_transformers_gguf(SMOLLM_GGUF, texts))
    else:
        print(f"{SMOLLM_GGUF} not found: smollm2_gguf golden not regenerated")


if __name__ == "__main__":
    main()
