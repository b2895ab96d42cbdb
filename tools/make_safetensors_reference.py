#!/usr/bin/env python3
"""Golden files for Strata's safetensors reader (tests/model/test_safetensors.cpp).

Writes with the `safetensors` package (torch backend, for bfloat16):
  tests/model/data/reference.safetensors        tensors of several dtypes + __metadata__
  tests/model/data/reference_safetensors.json   expected dtype, shape, data_offsets and
                                                values (16-bit floats as raw bit patterns)
  tests/model/data/hf_single/                   config.json + model.safetensors
  tests/model/data/hf_sharded/                  config.json + two shards + index.json
Usage: python3 tools/make_safetensors_reference.py
"""
import json
import pathlib
import struct

import torch
from safetensors.torch import save_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "model" / "data"
CONFIG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8,
          "num_hidden_layers": 2, "rms_norm_eps": 1e-5, "rope_scaling": None}


def reference_tensors() -> dict:
    g = torch.Generator().manual_seed(7)
    return {
        "a.f32": torch.randn(3, 4, generator=g),
        "b.f16": torch.randn(2, 5, generator=g).to(torch.float16),
        "c.bf16": torch.randn(4, generator=g).to(torch.bfloat16),
        "d.i32": torch.tensor([[1, -2], [3, 2**31 - 1]], dtype=torch.int32),
        "e.i64": torch.tensor([5, -6, 2**40], dtype=torch.int64),
        "scalar.f32": torch.tensor(2.5),
        "empty.f32": torch.zeros(0, 3),
    }


def expected_values(t: torch.Tensor) -> dict:
    flat = t.reshape(-1)
    if t.dtype in (torch.float16, torch.bfloat16):
        return {"bits": flat.view(torch.int16).to(torch.int32).bitwise_and(0xFFFF).tolist()}
    if t.dtype == torch.float32:
        return {"values": [float(x) for x in flat.tolist()]}
    return {"values": flat.tolist()}


def header_of(path: pathlib.Path) -> dict:
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + length])


def write_reference() -> None:
    tensors = reference_tensors()
    path = DATA / "reference.safetensors"
    save_file(tensors, str(path), metadata={"format": "pt", "note": "strata reference"})
    header = header_of(path)
    data_start = 8 + struct.unpack("<Q", path.read_bytes()[:8])[0]
    expected = {"metadata": header["__metadata__"], "data_start": data_start, "tensors": []}
    for name, t in tensors.items():
        entry = header[name]
        expected["tensors"].append({"name": name, "dtype": entry["dtype"], "shape": entry["shape"],
                                    "data_offsets": entry["data_offsets"], **expected_values(t)})
    (DATA / "reference_safetensors.json").write_text(json.dumps(expected, indent=1) + "\n")


def model_tensors() -> dict:
    g = torch.Generator().manual_seed(11)
    return {
        "model.embed_tokens.weight": torch.randn(16, 8, generator=g),
        "model.layers.0.input_layernorm.weight": torch.ones(8),
        "model.layers.1.input_layernorm.weight": torch.ones(8).to(torch.bfloat16),
        "model.norm.weight": torch.full((8,), 0.5).to(torch.float16),
    }


def write_models() -> None:
    tensors = model_tensors()
    single = DATA / "hf_single"
    single.mkdir(parents=True, exist_ok=True)
    (single / "config.json").write_text(json.dumps(CONFIG, indent=1) + "\n")
    save_file(tensors, str(single / "model.safetensors"), metadata={"format": "pt"})

    sharded = DATA / "hf_sharded"
    sharded.mkdir(parents=True, exist_ok=True)
    (sharded / "config.json").write_text(json.dumps(CONFIG, indent=1) + "\n")
    names = list(tensors)
    shards = {"model-00001-of-00002.safetensors": names[:2], "model-00002-of-00002.safetensors": names[2:]}
    weight_map, total = {}, 0
    for shard, shard_names in shards.items():
        save_file({n: tensors[n] for n in shard_names}, str(sharded / shard), metadata={"format": "pt"})
        for n in shard_names:
            weight_map[n] = shard
            total += tensors[n].numel() * tensors[n].element_size()
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index, indent=1) + "\n")


def main() -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    write_reference()
    write_models()
    print("wrote", ", ".join(str(p.relative_to(ROOT)) for p in sorted(DATA.glob("*safetensors*"))),
          "hf_single/, hf_sharded/")


if __name__ == "__main__":
    main()
