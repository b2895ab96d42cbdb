#!/usr/bin/env python3
"""Golden files for Strata's GGUF reader (tests/model/test_gguf_read.cpp).

1. Writes tests/model/data/reference_small.gguf with the `gguf` package: every metadata
   value type, nested arrays, and tensors of several ggml types.
2. Dumps that file and every /work/shared/fixtures/tokenizers/gguf-vocab/*.gguf, as read
   by `gguf.GGUFReader`, into tests/model/data/<name>.json.

JSON summary: version, alignment, data_offset, metadata (key, type, element_type, and
either the full value or, for arrays longer than LONG_ARRAY: length, first/last items and
an FNV-1a 64 hash of the items), tensors (name, GGUF dims, type id, absolute offset,
byte size, FNV-1a 64 of the bytes). The hash encoding is described in `items_hash`.

Usage: python3 tools/dump_gguf_reference.py [--shared /work/shared]
"""
import argparse
import json
import pathlib
import struct

import numpy as np
import gguf
from gguf import GGUFValueType as VT

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "model" / "data"
LONG_ARRAY = 16
EDGE_ITEMS = 4
FNV_OFFSET, FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3

# Nested arrays: GGUFReader flattens them, so their expected values are the ones written.
NESTED = {
    "test.nested.int_matrix": [[1, 2, 3], [4, 5], [-6]],
    "test.nested.strings": [["a", "bc"], ["déjà vu", "日本"]],
    "test.nested.deep": [[[1.5, -2.25]], [[3.0], [4.5, 5.75]]],
}


def fnv1a(data: bytes, h: int = FNV_OFFSET) -> int:
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def items_hash(element_type: VT, items) -> str:
    """FNV-1a 64 over the items: strings as u64 length + UTF-8 bytes, integers as int64
    (uint64 as uint64) little-endian, floats as float64, bools as one byte."""
    out = bytearray()
    for x in items:
        if element_type == VT.STRING:
            b = x.encode("utf-8")
            out += struct.pack("<Q", len(b)) + b
        elif element_type in (VT.FLOAT32, VT.FLOAT64):
            out += struct.pack("<d", float(x))
        elif element_type == VT.BOOL:
            out += struct.pack("<B", 1 if x else 0)
        elif element_type == VT.UINT64:
            out += struct.pack("<Q", int(x))
        else:
            out += struct.pack("<q", int(x))
    return f"{fnv1a(bytes(out)):016x}"


def write_small_gguf(path: pathlib.Path) -> None:
    w = gguf.GGUFWriter(str(path), arch="test", use_temp_file=False)
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_uint64("test.u64", 18000000000000000000)
    w.add_int64("test.i64", -9000000000000000000)
    w.add_float32("test.f32", 3.14159)
    w.add_float64("test.f64", -2.718281828459045)
    w.add_bool("test.bool_true", True)
    w.add_bool("test.bool_false", False)
    w.add_string("test.string", "héllo, wörld ✓")
    w.add_key_value("test.array.u8", [1, 2, 255], VT.ARRAY, sub_type=VT.UINT8)
    w.add_key_value("test.array.i16", [-1, 2, -3], VT.ARRAY, sub_type=VT.INT16)
    w.add_key_value("test.array.u64", [1, 2**63 + 5], VT.ARRAY, sub_type=VT.UINT64)
    w.add_key_value("test.array.f64", [0.5, -1e300], VT.ARRAY, sub_type=VT.FLOAT64)
    w.add_key_value("test.array.bool", [True, False, True], VT.ARRAY, sub_type=VT.BOOL)
    w.add_array("test.array.i32", [7, -8, 9])
    w.add_array("test.array.f32", [0.25, -1.5, 1e-3])
    w.add_array("test.array.strings", ["alpha", "", "γάμμα"])
    w.add_array("test.array.long_ints", list(range(-50, 50)))
    w.add_array("test.array.long_strings", [f"token_{i}" for i in range(40)])
    for key, value in NESTED.items():
        w.add_array(key, value)

    rng = np.random.default_rng(1234)
    w.add_tensor("weights.f32", rng.standard_normal((3, 4)).astype(np.float32))
    w.add_tensor("weights.f16", rng.standard_normal((2, 8)).astype(np.float16))
    w.add_tensor("weights.i32", np.arange(-5, 5, dtype=np.int32))
    w.add_tensor("weights.bf16", rng.integers(0, 256, (2, 16), dtype=np.uint8),
                 raw_dtype=gguf.GGMLQuantizationType.BF16)
    w.add_tensor("weights.q8_0", rng.integers(0, 256, (2, 2 * 34), dtype=np.uint8),
                 raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.add_tensor("weights.q4_1", rng.integers(0, 256, (3, 20), dtype=np.uint8),
                 raw_dtype=gguf.GGMLQuantizationType.Q4_1)
    w.add_tensor("weights.q4_k", rng.integers(0, 256, (1, 144), dtype=np.uint8),
                 raw_dtype=gguf.GGMLQuantizationType.Q4_K)
    w.add_tensor("weights.3d", rng.standard_normal((2, 3, 4)).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def flatten(value):
    if isinstance(value, list):
        return [y for x in value for y in flatten(x)]
    return [value]


def leaf_type(field) -> VT:
    return VT(int(field.types[-1]))


def metadata_entry(key: str, field) -> dict:
    main = VT(int(field.types[0]))
    entry = {"key": key, "type": main.name.lower()}
    if main != VT.ARRAY:
        entry["value"] = field.contents()
        return entry
    if len(field.types) > 2:  # nested: the reader flattens; check and use what was written
        written = NESTED[key]
        assert field.contents() == flatten(written), key
        entry["element_type"] = "array"
        entry["value"] = written
        return entry
    element = leaf_type(field)
    entry["element_type"] = element.name.lower()
    items = field.contents()
    if element == VT.BOOL:
        items = [bool(x) for x in items]
    if len(items) <= LONG_ARRAY:
        entry["value"] = items
    else:
        entry["length"] = len(items)
        entry["first"] = items[:EDGE_ITEMS]
        entry["last"] = items[-EDGE_ITEMS:]
        entry["hash"] = items_hash(element, items)
    return entry


def dump(path: pathlib.Path) -> dict:
    reader = gguf.GGUFReader(str(path))
    version = int(reader.fields["GGUF.version"].parts[-1][0])
    metadata = [metadata_entry(key, field) for key, field in reader.fields.items()
                if not key.startswith("GGUF.")]
    tensors = []
    for t in reader.tensors:
        raw = bytes(reader.data[t.data_offset:t.data_offset + t.n_bytes])
        tensors.append({"name": t.name, "dims": [int(d) for d in t.shape],
                        "type_id": int(t.tensor_type), "offset": int(t.data_offset),
                        "nbytes": int(t.n_bytes), "hash": f"{fnv1a(raw):016x}"})
    return {"file": path.name, "version": version, "alignment": int(reader.alignment),
            "data_offset": int(reader.data_offset), "metadata": metadata, "tensors": tensors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default="/work/shared")
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    small = DATA / "reference_small.gguf"
    write_small_gguf(small)
    files = [small] + sorted(pathlib.Path(args.shared, "fixtures/tokenizers/gguf-vocab").glob("*.gguf"))
    for path in files:
        out = DATA / (path.stem + ".json")
        out.write_text(json.dumps(dump(path), ensure_ascii=False, indent=1) + "\n")
        print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
