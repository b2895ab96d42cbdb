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

  - bert_bge: a WordPiece tokenizer.json (BertNormalizer, BertPreTokenizer, WordPiece,
    BertProcessing) that `tokenizers` builds from the vocabulary of the fixture
    ggml-vocab-bert-bge.gguf, written to tests/tokenizer/data/bert_bge/tokenizer.json.

  - llama2_metaspace: the llama2 fixture rewritten the way newer SentencePiece conversions
    are written (no normalizer; Metaspace pre-tokenizer, prepend_scheme "first", split
    false; Metaspace decoder). metaspace_variant() below is mirrored by the C++ test.

  - added_tokens: extra added tokens (normalized or not, lstrip/rstrip/single_word,
    special or not) put into the llama2 and qwen3 fixtures, on a few strings made for them.

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


def make_bert_tokenizer_json(shared):
    """tokenizer.json of a BERT (bge) WordPiece tokenizer from the GGUF fixture's vocab."""
    import gguf
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    reader = gguf.GGUFReader(os.path.join(shared, "fixtures", "tokenizers", "gguf-vocab", "ggml-vocab-bert-bge.gguf"))
    field = reader.fields["tokenizer.ggml.tokens"]
    types = reader.fields["tokenizer.ggml.token_type"]
    vocab = {}
    for i, idx in enumerate(field.data):
        text = bytes(field.parts[idx]).decode("utf-8")
        normal = int(types.parts[types.data[i]][0]) == 1
        # llama.cpp marks word starts with U+2581 and drops "##"; restore vocab.txt spelling.
        text = text[1:] if text.startswith("\u2581") else ("##" + text if normal else text)
        vocab.setdefault(text, i)
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.post_processor = processors.BertProcessing(("[SEP]", vocab["[SEP]"]), ("[CLS]", vocab["[CLS]"]))
    tok.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    out_dir = os.path.join(DATA, "bert_bge")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "tokenizer.json")
    tok.save(path)
    return path


def metaspace_variant(tokenizer_json):
    j = json.loads(tokenizer_json)
    j["normalizer"] = None
    j["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False}
    j["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False},
        {"type": "ByteFallback"}, {"type": "Fuse"}]}
    return json.dumps(j)


def golden_from_tokenizer_json_text(text, texts):
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "tokenizer.json")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return golden_from_tokenizers(path, texts)


ADDED_TOKEN_SPECS = [
    dict(content="foo bar", normalized=True, special=False),
    dict(content="<xy>", normalized=False, special=False),
    dict(content="<L>", normalized=False, special=True, lstrip=True),
    dict(content="<R>", normalized=False, special=True, rstrip=True),
    dict(content="word", normalized=False, special=False, single_word=True),
    dict(content="Caf\u00e9", normalized=True, special=False),
]
ADDED_TOKEN_TEXTS = [
    "hello foo bar baz", "foo bar", "foo barfoo bar", "a<xy>b", "x  <L>  y", "x  <R>  y", " <L><R> ",
    "a word here", "swordfish", "word", "words word", "Cafe\u0301 au lait", "Caf\u00e9", "<xy><L>foo bar<R>",
]


def added_tokens_golden(hf_dir):
    from tokenizers import AddedToken, Tokenizer
    out = {"tokens": {}, "cases": []}
    for name in ["llama2", "qwen3"]:
        tok = Tokenizer.from_file(os.path.join(hf_dir, name, "tokenizer.json"))
        tokens = []
        for spec in ADDED_TOKEN_SPECS:
            flags = {k: v for k, v in spec.items() if k not in ("content", "special")}
            token = AddedToken(spec["content"], special=spec["special"], **flags)
            (tok.add_special_tokens if spec["special"] else tok.add_tokens)([token])
            tokens.append(dict(spec, id=tok.token_to_id(spec["content"])))
        out["tokens"][name] = tokens
        for text in ADDED_TOKEN_TEXTS:
            tok.encode_special_tokens = False
            ids = tok.encode(text, add_special_tokens=False).ids
            tok.encode_special_tokens = True
            ids_no_parse = tok.encode(text, add_special_tokens=False).ids
            out["cases"].append({"tokenizer": name, "text": text, "ids": ids, "ids_no_parse": ids_no_parse})
    path = os.path.join(DATA, "golden_added_tokens.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
    print(f"wrote {path}")


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
    added_tokens_golden(hf_dir)
    with open(os.path.join(hf_dir, "llama2", "tokenizer.json"), encoding="utf-8") as f:
        llama2_json = f.read()
    write("llama2_metaspace", "tokenizers: llama2 tokenizer.json with a Metaspace pre-tokenizer",
          golden_from_tokenizer_json_text(metaspace_variant(llama2_json), texts))
    write("bert_bge", "tokenizers: tests/tokenizer/data/bert_bge/tokenizer.json (from ggml-vocab-bert-bge.gguf)",
          golden_from_tokenizers(make_bert_tokenizer_json(args.shared), texts))
    if os.path.exists(SMOLLM_GGUF):
        write("smollm2_gguf", "transformers from SmolLM2-135M-Instruct.Q4_1.gguf",
              golden_from_transformers_gguf(SMOLLM_GGUF, texts))
    else:
        print(f"{SMOLLM_GGUF} not found: smollm2_gguf golden not regenerated")


if __name__ == "__main__":
    main()
