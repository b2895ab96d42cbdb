#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/<target>/ (committed; re-run only to
change them). Seeds are small valid inputs that reach deep into each parser, so that
libFuzzer starts from whole files rather than from nothing. Needs the `gguf` package
(pip install gguf) for the GGUF seeds.
Usage: tools/make_fuzz_seeds.py [CORPUS...]   (gguf safetensors tokenizer tokenizer_json jinja request)"""
import json
import os
import struct
import sys

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def tiny_llama_gguf(path, tokenizer_model):
    import gguf
    w = gguf.GGUFWriter(path, "llama")
    w.add_context_length(64)
    w.add_embedding_length(8)
    w.add_block_count(1)
    w.add_feed_forward_length(16)
    w.add_head_count(2)
    w.add_head_count_kv(1)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + ["▁a", "ab", "▁ab", "Ġ", "Ġa"]
    w.add_tokenizer_model(tokenizer_model)
    w.add_token_list(tokens)
    w.add_token_scores([float(-i) for i in range(len(tokens))])
    w.add_token_types([2, 3, 3] + [6] * 256 + [1] * 5)
    if tokenizer_model == "gpt2":
        w.add_token_merges(["Ġ a", "a b"])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_chat_template("{% for m in messages %}{{ m.content }}{% endfor %}")
    vocab = len(tokens)
    rng = np.random.default_rng(0)
    def t(name, *shape):
        w.add_tensor(name, rng.standard_normal(shape).astype(np.float32))
    t("token_embd.weight", vocab, 8)
    t("output_norm.weight", 8)
    t("blk.0.attn_norm.weight", 8)
    t("blk.0.attn_q.weight", 8, 8)
    t("blk.0.attn_k.weight", 4, 8)
    t("blk.0.attn_v.weight", 4, 8)
    t("blk.0.attn_output.weight", 8, 8)
    t("blk.0.ffn_norm.weight", 8)
    t("blk.0.ffn_gate.weight", 16, 8)
    t("blk.0.ffn_up.weight", 16, 8)
    t("blk.0.ffn_down.weight", 8, 16)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def gguf_seeds():
    with open(os.path.join(ROOT, "tests/model/data/reference_small.gguf"), "rb") as f:
        write("gguf", "reference_small.gguf", f.read())
    tmp = os.path.join(CORPUS, "gguf", ".tmp.gguf")
    for model in ("llama", "gpt2"):
        tiny_llama_gguf(tmp, model)
        with open(tmp, "rb") as f:
            write("gguf", f"tiny_llama_{model}_vocab.gguf", f.read())
    os.remove(tmp)


def safetensors_seeds():
    # The first byte selects the parser: 0 = safetensors file, 1 = config.json.
    with open(os.path.join(ROOT, "tests/model/data/reference.safetensors"), "rb") as f:
        write("safetensors", "reference.safetensors", b"\0" + f.read())
    header = json.dumps({"w": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 8]}}).encode()
    write("safetensors", "small.safetensors", b"\0" + struct.pack("<Q", len(header)) + header + bytes(8))
    configs = {
        "llama": {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
                  "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                  "vocab_size": 300, "max_position_embeddings": 128, "rms_norm_eps": 1e-5,
                  "rope_theta": 500000.0, "tie_word_embeddings": True,
                  "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                   "high_freq_factor": 4.0, "original_max_position_embeddings": 64}},
        "qwen2": {"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128,
                  "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                  "vocab_size": 300, "max_position_embeddings": 128, "rms_norm_eps": 1e-6,
                  "rope_theta": 1000000.0},
        "qwen3": {"model_type": "qwen3", "hidden_size": 64, "intermediate_size": 128, "head_dim": 32,
                  "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                  "vocab_size": 300, "max_position_embeddings": 128, "rms_norm_eps": 1e-6},
    }
    for name, config in configs.items():
        write("safetensors", f"config_{name}.json", b"\1" + json.dumps(config).encode())


def tokenizer_seeds():
    # First byte: tokenizer (bits 0-1), flags (bits 2-3), decode mode (bit 4).
    texts = ["Hello world! 123", " leading  spaces\n\ttabs", "日本語のテキスト 😀 émoji",
             "<s>[INST] special <|begin_of_text|> tokens </s>", "a" * 40, "\u00a0\u200b\ufeff"]
    for i, text in enumerate(texts):
        write("tokenizer", f"encode_{i}", bytes([i % 4 | (8 if i % 2 else 0)]) + text.encode())
    ids = struct.pack("<8i", 1, 15043, 3186, 29991, 2, 13, 259, 0x7fffffff)
    write("tokenizer", "decode_ids", bytes([16]) + ids)
    write("tokenizer", "decode_skip_special", bytes([16 | 4 | 3]) + ids)


def shrink_hf_tokenizer(j, keep_vocab, keep_merges):
    """A real tokenizer.json cut down to its first keep_vocab tokens (ids made dense), the
    first keep_merges merges among them and its added tokens, with its own normalizer,
    pre-tokenizer, post-processor and decoder: the same pipeline on a few KB."""
    model = j["model"]
    by_id = sorted(model["vocab"].items(), key=lambda kv: kv[1])[:keep_vocab]
    new_id = {old: i for i, (_, old) in enumerate(by_id)}
    vocab = {text: new_id[old] for text, old in by_id}
    merges = []
    for m in model.get("merges", []):
        a, b = m if isinstance(m, list) else m.split(" ", 1)
        if a in vocab and b in vocab and a + b in vocab:
            merges.append(m)
            if len(merges) == keep_merges:
                break
    added = []
    for a in j["added_tokens"][:12]:
        a = dict(a)
        new_id.setdefault(a["id"], len(vocab) + len(added))
        a["id"] = new_id[a["id"]]
        added.append(a)

    def remap(node):
        if isinstance(node, dict):
            return {k: ([new_id.get(i, 0) for i in v] if k == "ids" else remap(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [remap(x) for x in node]
        return node

    out = dict(j)
    out["model"] = dict(model, vocab=vocab, merges=merges)
    out["added_tokens"] = added
    out["post_processor"] = remap(j.get("post_processor"))
    return out


def small_config(config):
    """The special-token entries of a tokenizer_config.json and a short chat template."""
    keep = {k: v for k, v in config.items() if k in ("bos_token", "eos_token", "unk_token", "pad_token",
                                                     "add_bos_token", "add_eos_token")}
    keep["chat_template"] = "{% for m in messages %}{{ m.content }}{% endfor %}"
    return keep


def tokenizer_json_seeds():
    # Flags byte (bit 0 add_special, bit 1 parse_special, bit 2 skip_special), tokenizer.json,
    # NUL, text to encode (also decoded as ids), optionally NUL and a tokenizer_config.json.
    hf = os.path.join(ROOT, "..", "shared", "fixtures", "tokenizers", "hf")
    texts = {"llama2": "Hello world! <s> 日本 \u00e9\U0001F600 \x7f",
             "llama3_1": "I'm here, it's 12345 <|begin_of_text|>\n\n  x",
             "qwen3": "<|im_start|>user\nCafe\u0301 123<|im_end|>",
             "deepseek_v3": "中文字符 ありがとう 1234 a,b"}
    for i, name in enumerate(("llama2", "llama3_1", "qwen3", "deepseek_v3")):
        with open(os.path.join(hf, name, "tokenizer.json"), encoding="utf-8") as f:
            j = shrink_hf_tokenizer(json.load(f), keep_vocab=320, keep_merges=120)
        with open(os.path.join(hf, name, "tokenizer_config.json"), encoding="utf-8") as f:
            config = small_config(json.load(f))
        body = json.dumps(j, ensure_ascii=False).encode()
        write("tokenizer_json", f"{name}.bin", bytes([i % 8]) + body + b"\0" + texts[name].encode())
        write("tokenizer_json", f"{name}_config.bin", bytes([3]) + body + b"\0" + texts[name].encode() +
              b"\0" + json.dumps(config).encode())
    # WordPiece with the BERT pipeline, and the remaining normalizers, pre-tokenizers and
    # decoders on a tiny byte-fallback BPE.
    wp_vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world", "##s", "##ing",
                                             "play", "!", ",", "a", "b", "##a", "##b", "中"])}
    wordpiece = {"version": "1.0", "added_tokens": [
                     {"id": 2, "content": "[CLS]", "special": True, "normalized": False},
                     {"id": 3, "content": "[SEP]", "special": True, "normalized": False}],
                 "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                                "strip_accents": None, "lowercase": True},
                 "pre_tokenizer": {"type": "BertPreTokenizer"},
                 "post_processor": {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]},
                 "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
                 "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                           "max_input_chars_per_word": 100, "vocab": wp_vocab}}
    write("tokenizer_json", "wordpiece.bin", bytes([1]) + json.dumps(wordpiece).encode() +
          b"\0" + "Hello, WORLD! playing ab中".encode())
    spm_tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + \
                 ["\u2581", "a", "b", "\u2581a", "ab", "\u2581ab", "1", "2"]
    spm = {"version": "1.0", "added_tokens": [
               {"id": 1, "content": "<s>", "special": True, "normalized": False, "lstrip": False, "rstrip": False},
               {"id": 267, "content": "<tool>", "special": False, "normalized": True, "lstrip": True,
                "rstrip": True, "single_word": True}],
           "normalizer": {"type": "Sequence", "normalizers": [
               {"type": "NFD"}, {"type": "StripAccents"}, {"type": "Lowercase"}, {"type": "NFC"},
               {"type": "Strip", "strip_left": True, "strip_right": False},
               {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "}]},
           "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
               {"type": "Digits", "individual_digits": True},
               {"type": "Punctuation", "behavior": "Contiguous"},
               {"type": "Split", "pattern": {"String": "|"}, "behavior": "Removed", "invert": False},
               {"type": "WhitespaceSplit"},
               {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True}]},
           "post_processor": {"type": "TemplateProcessing",
                              "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                         {"Sequence": {"id": "A", "type_id": 0}},
                                         {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                              "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]},
                                                 "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}},
           "decoder": {"type": "Sequence", "decoders": [
               {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
               {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
           "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": True,
                     "vocab": {t: i for i, t in enumerate(spm_tokens)},
                     "merges": [["\u2581", "a"], "a b", "\u2581a b"]}}
    write("tokenizer_json", "spm_byte_fallback.bin", bytes([7]) + json.dumps(spm).encode() +
          b"\0" + "  \u00c9t\u00e9 ab|12 <tool> x\tY".encode() + b"\0" +
          json.dumps({"bos_token": {"content": "<s>"}, "eos_token": "</s>", "unk_token": "<unk>"}).encode())
    write("tokenizer_json", "whitespace_bpe.bin", bytes([0]) + json.dumps(
        {"model": {"vocab": {"a": 0, "b": 1, "ab": 2, "</w>": 3, "ab</w>": 4}, "merges": ["a b", "ab </w>"],
                   "end_of_word_suffix": "</w>", "continuing_subword_prefix": "##", "ignore_merges": True},
         "pre_tokenizer": {"type": "Whitespace"}, "added_tokens": []}).encode() + b"\0ab ab, a")
    write("tokenizer_json", "malformed.bin", bytes([0]) + b'{"model": {"type": "BPE", "vocab": {"a": 2147483647}, '
          b'"merges": ["a"]}, "added_tokens": [{"id": -1, "content": ""}]}\0a')


def jinja_seeds():
    tdir = os.path.join(ROOT, "..", "shared", "fixtures", "chat-templates")
    picks = ["Qwen-Qwen2.5-7B-Instruct.jinja", "HuggingFaceTB-SmolLM3-3B.jinja",
             "Mistral-Small-3.2-24B-Instruct-2506.jinja"]
    for name in picks:
        with open(os.path.join(tdir, name), "rb") as f:
            write("jinja", name, f.read())
    write("jinja", "constructs.jinja",
          "{% macro m(x, y=2) %}{{ x * y }}{% endmacro %}{% set ns = namespace(a=0) %}"
          "{% for i in range(3) if i != 1 %}{% set ns.a = ns.a + i %}{{ loop.index }}{% endfor %}"
          "{{ m(3) }}{{ messages | map(attribute='role') | join(',') }}{{ 'x' ~ 1 | string }}"
          "{% if tools is defined %}{{ tools | tojson(indent=2) }}{% elif false %}{% else %}{% endif %}"
          "{{ raise_exception('no') if false }}{{ {'a': [1, 2.5, none, true]} | items | list }}"
          "{%- filter upper %}t{% endfilter -%}{{ strftime_now('%Y') }}{{ 'abc'[1:] }}")


def request_seeds():
    # First byte: even = /v1/chat/completions, odd = /v1/completions.
    chat = {"model": "test-model", "messages": [{"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]}],
            "max_tokens": 8, "temperature": 0.7, "top_p": 0.9, "top_k": 40, "min_p": 0.05,
            "seed": 3, "n": 2, "stop": ["\n", "END"], "logit_bias": {"5": -100, "7": 2.5},
            "logprobs": True, "top_logprobs": 3, "stream": True,
            "stream_options": {"include_usage": True}, "presence_penalty": 0.5,
            "frequency_penalty": -0.5, "repetition_penalty": 1.1, "user": "u",
            "tools": [], "tool_choice": "none", "response_format": {"type": "text"}}
    write("request", "chat_full.json", b"\0" + json.dumps(chat).encode())
    write("request", "chat_min.json", b"\0" + b'{"messages":[{"role":"user","content":"x"}]}')
    cmpl = {"model": "test-model", "prompt": ["once", "upon"], "max_tokens": 4, "echo": True,
            "logprobs": 2, "stop": "x", "ignore_eos": True, "min_tokens": 1}
    write("request", "completion_texts.json", b"\1" + json.dumps(cmpl).encode())
    write("request", "completion_ids.json", b"\1" + b'{"prompt":[[1,2,3],[4]],"max_completion_tokens":3}')


if __name__ == "__main__":
    # Optional arguments name the corpora to write (e.g. tokenizer_json); default: all.
    makers = {"gguf": gguf_seeds, "safetensors": safetensors_seeds, "tokenizer": tokenizer_seeds,
              "tokenizer_json": tokenizer_json_seeds, "jinja": jinja_seeds, "request": request_seeds}
    for name in sys.argv[1:] or makers:
        makers[name]()
    print("seeds written to", CORPUS, file=sys.stderr)
