// Malformed GGUF files (docs/BAD_INPUTS.md cases 1-9 and 11): each must throw
// FileFormatError whose message names the offset and the field, key or tensor; plus a
// truncation sweep and a seeded byte-flip sweep that must never crash.
#include <gtest/gtest.h>

#include <cstring>
#include <initializer_list>
#include <random>

#include "core/error.h"
#include "model/gguf_writer.h"
#include "test_gguf_util.h"

namespace strata {
namespace {

using test::parse_gguf;
using Type = GGUFValue::Type;
using RawInfo = GGUFWriter::RawTensorInfo;

constexpr uint64_t kHeaderBytes = 24;  // magic, version, tensor count, metadata count

template <typename T>
void patch(std::vector<uint8_t>& bytes, size_t offset, T value) {
  ASSERT_LE(offset + sizeof(T), bytes.size());
  std::memcpy(bytes.data() + offset, &value, sizeof(T));
}

// Parses `bytes` expecting a FileFormatError whose message holds every `needle`.
void expect_format_error(const std::vector<uint8_t>& bytes, std::initializer_list<std::string> needles) {
  try {
    parse_gguf(bytes, "bad.gguf");
    ADD_FAILURE() << "expected FileFormatError";
  } catch (const FileFormatError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("bad.gguf: at offset "), std::string::npos) << message;
    for (const auto& needle : needles) EXPECT_NE(message.find(needle), std::string::npos) << message;
  }
}

std::vector<uint8_t> f32_bytes(size_t n) {
  std::vector<uint8_t> bytes(n * 4);
  for (size_t i = 0; i < n; ++i) {
    float v = static_cast<float>(i) * 0.5f;
    std::memcpy(bytes.data() + 4 * i, &v, 4);
  }
  return bytes;
}

// A small valid file with a few keys and two tensors.
GGUFWriter small_writer() {
  GGUFWriter w;
  w.add_string("general.architecture", "llama");
  w.add_uint32("llama.block_count", 2);
  w.add_float32_array("scores", {0.5f, -1.0f});
  w.add_string_array("tokens", {"a", "bc"});
  w.add_tensor("a.weight", DType::F32, {2, 4}, f32_bytes(8));
  w.add_tensor("b.weight", DType::F32, {3}, f32_bytes(3));
  return w;
}

TEST(GGUFCorrupt, SmallWriterFileIsValid) {
  auto file = parse_gguf(small_writer().to_bytes());
  EXPECT_EQ(file->version(), 3u);
  EXPECT_EQ(file->get_int("llama.block_count"), 2);
  Tensor a = file->tensor("a.weight");
  EXPECT_EQ(a.shape(), (Tensor::Shape{2, 4}));
  EXPECT_EQ(a.data<float>()[7], 3.5f);
}

TEST(GGUFCorrupt, WrongMagic) {
  auto bytes = small_writer().to_bytes();
  bytes[0] = 'X';
  expect_format_error(bytes, {"at offset 0", "wrong magic"});
  expect_format_error({}, {"truncated", "magic"});
}

TEST(GGUFCorrupt, UnsupportedVersion) {
  for (uint32_t version : {0u, 1u, 4u, 0x03000000u}) {
    auto bytes = small_writer().to_bytes();
    patch<uint32_t>(bytes, 4, version);
    expect_format_error(bytes, {"at offset 4", "unsupported GGUF version " + std::to_string(version)});
  }
  auto bytes = small_writer().to_bytes();
  patch<uint32_t>(bytes, 4, 2);  // v2 has the same layout as v3
  EXPECT_EQ(parse_gguf(bytes)->version(), 2u);
}

TEST(GGUFCorrupt, HugeStringLength) {
  GGUFWriter w;
  w.add_string("key", "value");
  auto bytes = w.to_bytes();
  patch<uint64_t>(bytes, kHeaderBytes, uint64_t{1} << 60);  // the key's length
  expect_format_error(bytes, {"at offset 24", "string length 1152921504606846976", "metadata key 0"});
  bytes = w.to_bytes();
  patch<uint64_t>(bytes, kHeaderBytes + 8 + 3 + 4, uint64_t{1} << 60);  // the value's length
  expect_format_error(bytes, {"at offset 39", "metadata key 'key'", "string length"});
}

TEST(GGUFCorrupt, HugeArrayLength) {
  GGUFWriter w;
  w.add_int32_array("arr", {1, 2, 3});
  const size_t count_at = kHeaderBytes + 8 + 3 + 4 + 4;  // key, value type, element type
  for (uint64_t count : {uint64_t{1} << 60, ~uint64_t{0}, uint64_t{4}}) {
    auto bytes = w.to_bytes();
    patch<uint64_t>(bytes, count_at, count);
    expect_format_error(bytes, {"metadata key 'arr' array", "count " + std::to_string(count)});
  }
  GGUFWriter nested;  // an array of empty arrays still costs 12 bytes per item
  nested.add("nest", gguf_array(Type::Array, {gguf_array(Type::UInt8, {})}));
  auto bytes = nested.to_bytes();
  patch<uint64_t>(bytes, kHeaderBytes + 8 + 4 + 4 + 4, uint64_t{1} << 40);
  expect_format_error(bytes, {"metadata key 'nest'", "cannot fit"});
}

TEST(GGUFCorrupt, AbsurdCounts) {
  auto bytes = small_writer().to_bytes();
  patch<uint64_t>(bytes, 8, uint64_t{1} << 62);
  expect_format_error(bytes, {"at offset 8", "tensor infos", "count 4611686018427387904"});
  bytes = small_writer().to_bytes();
  patch<uint64_t>(bytes, 16, ~uint64_t{0});
  expect_format_error(bytes, {"at offset 16", "metadata entries", "count 18446744073709551615"});
}

void expect_bad_dims(std::vector<uint64_t> dims, std::initializer_list<std::string> needles) {
  GGUFWriter w;
  w.add_raw_tensor_info(RawInfo{"t.weight", std::move(dims), 0, 0});
  expect_format_error(w.to_bytes(), needles);
}

TEST(GGUFCorrupt, BadDimensions) {
  const uint64_t big = uint64_t{1} << 32;
  expect_bad_dims({big, big, big}, {"tensor 't.weight'", "element count overflows"});
  expect_bad_dims({4, 0}, {"tensor 't.weight'", "dimension 1 has invalid size 0"});
  expect_bad_dims({~uint64_t{0}}, {"tensor 't.weight'", "dimension 0 has invalid size -1"});
  expect_bad_dims({}, {"tensor 't.weight'", "number of dimensions 0"});
  expect_bad_dims({1, 1, 1, 1, 1}, {"tensor 't.weight'", "number of dimensions 5"});
  GGUFWriter w;  // the element count fits but the byte size does not
  w.add_raw_tensor_info(RawInfo{"t.weight", {uint64_t{1} << 31, uint64_t{1} << 31}, 0, 0});
  expect_format_error(w.to_bytes(), {"tensor 't.weight'", "byte size overflows"});
}

TEST(GGUFCorrupt, RowNotWholeBlocks) {
  GGUFWriter w;
  w.add_raw_tensor_info(RawInfo{"q.weight", {33, 2}, 8, 0});  // Q8_0 rows hold 32-element blocks
  expect_format_error(w.to_bytes(), {"tensor 'q.weight'", "row length 33", "q8_0 block size 32"});
}

TEST(GGUFCorrupt, TensorBeyondEndOfFile) {
  GGUFWriter w = small_writer();
  w.add_raw_tensor_info(RawInfo{"late.weight", {8}, 0, 4096});
  expect_format_error(w.to_bytes(), {"tensor 'late.weight'", "beyond the end of the file"});
  GGUFWriter wrap;  // offset + size wraps around 64 bits
  wrap.add_raw_tensor_info(RawInfo{"wrap.weight", {8}, 0, ~uint64_t{31}});
  expect_format_error(wrap.to_bytes(), {"tensor 'wrap.weight'", "beyond the end of the file"});
}

TEST(GGUFCorrupt, OverlappingTensors) {
  GGUFWriter w;
  w.add_tensor("first.weight", DType::F32, {16}, f32_bytes(16));  // bytes [0, 64)
  w.add_tensor("second.weight", DType::F32, {16}, f32_bytes(16));  // bytes [64, 128)
  w.add_raw_tensor_info(RawInfo{"third.weight", {16}, 0, 32});
  expect_format_error(w.to_bytes(), {"tensors 'first.weight' and 'third.weight' overlap"});
}

TEST(GGUFCorrupt, Alignment) {
  GGUFWriter w;
  w.add_tensor("a.weight", DType::F32, {16}, f32_bytes(16));
  w.add_raw_tensor_info(RawInfo{"b.weight", {4}, 0, 80});
  expect_format_error(w.to_bytes(), {"tensor 'b.weight'", "data offset 80 is not aligned to 32"});
  for (uint32_t alignment : {0u, 24u, 33u}) {
    GGUFWriter bad;
    bad.add_uint32("general.alignment", alignment);
    expect_format_error(bad.to_bytes(), {"at offset 24", "general.alignment " + std::to_string(alignment) +
                                                              " is not a power of two"});
  }
  GGUFWriter wrong_type;
  wrong_type.add_string("general.alignment", "32");
  expect_format_error(wrong_type.to_bytes(), {"general.alignment", "expected an integer"});
  GGUFWriter custom;  // a valid non-default alignment is honoured
  custom.set_alignment(64);
  custom.add_tensor("a.weight", DType::F32, {3}, f32_bytes(3));
  custom.add_tensor("b.weight", DType::F32, {3}, f32_bytes(3));
  auto file = parse_gguf(custom.to_bytes());
  EXPECT_EQ(file->alignment(), 64u);
  EXPECT_EQ(file->find_tensor("b.weight")->data_offset % 64, 0u);
}

TEST(GGUFCorrupt, UnknownTensorType) {
  for (uint32_t type_id : {4u, 16u, 39u, 1000u}) {  // removed Q4_2, an IQ type, beyond the list
    GGUFWriter w;
    w.add_raw_tensor_info(RawInfo{"t.weight", {256}, type_id, 0});
    expect_format_error(w.to_bytes(), {"tensor 't.weight'", "unknown or unsupported tensor type id " +
                                                                 std::to_string(type_id)});
  }
}

TEST(GGUFCorrupt, UnknownValueType) {
  GGUFWriter w;
  w.add_uint32("some.key", 7);
  for (uint32_t type : {13u, 0xFFFFFFFFu}) {
    auto bytes = w.to_bytes();
    patch<uint32_t>(bytes, kHeaderBytes + 8 + 8, type);
    expect_format_error(bytes, {"at offset 40", "metadata key 'some.key'",
                                "unknown metadata value type " + std::to_string(type)});
  }
  GGUFWriter arrays;  // an unknown element type inside an array
  arrays.add_int32_array("arr", {1});
  auto bytes = arrays.to_bytes();
  patch<uint32_t>(bytes, kHeaderBytes + 8 + 3 + 4, 77);
  expect_format_error(bytes, {"metadata key 'arr'", "unknown metadata value type 77"});
}

TEST(GGUFCorrupt, DuplicateKeysAndTensorNames) {
  GGUFWriter keys;
  keys.add_uint32("dup.key", 1);
  keys.add_string("dup.key", "again");
  expect_format_error(keys.to_bytes(), {"duplicate metadata key 'dup.key'"});
  GGUFWriter tensors;
  tensors.add_tensor("dup.weight", DType::F32, {4}, f32_bytes(4));
  tensors.add_tensor("dup.weight", DType::F32, {4}, f32_bytes(4));
  expect_format_error(tensors.to_bytes(), {"duplicate tensor name 'dup.weight'"});
}

TEST(GGUFCorrupt, InvalidUtf8) {
  const std::vector<std::string> bad = {"\xff", "a\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80"};
  for (const auto& s : bad) {
    GGUFWriter value;
    value.add_string("name", s);
    expect_format_error(value.to_bytes(), {"metadata key 'name'", "not valid UTF-8"});
    GGUFWriter key;
    key.add_uint8("k" + s, 1);
    expect_format_error(key.to_bytes(), {"metadata key 0", "not valid UTF-8"});
    GGUFWriter array;
    array.add_string_array("tokens", {"ok", s});
    expect_format_error(array.to_bytes(), {"metadata key 'tokens'", "not valid UTF-8"});
    GGUFWriter tensor;
    tensor.add_tensor("w" + s, DType::F32, {1}, f32_bytes(1));
    expect_format_error(tensor.to_bytes(), {"tensor 0 name", "not valid UTF-8"});
  }
  GGUFWriter good;  // multi-byte sequences of every length are fine
  good.add_string("name", "é ✓ 😀");
  EXPECT_EQ(parse_gguf(good.to_bytes())->get_string("name"), "é ✓ 😀");
}

GGUFValue nested_array(int depth) {
  GGUFValue v = gguf_array(Type::Int32, {gguf_int(Type::Int32, 1)});
  for (int i = 1; i < depth; ++i) v = gguf_array(Type::Array, {v});
  return v;
}

TEST(GGUFCorrupt, ArrayNestingDepthIsLimited) {
  GGUFWriter ok;
  ok.add("deep", nested_array(8));
  EXPECT_NO_THROW(parse_gguf(ok.to_bytes()));
  GGUFWriter too_deep;
  too_deep.add("deep", nested_array(9));
  expect_format_error(too_deep.to_bytes(), {"metadata key 'deep'", "nested deeper than 8"});
}

TEST(GGUFCorrupt, BoolOutOfRange) {
  GGUFWriter w;
  w.add_bool("flag", true);
  auto bytes = w.to_bytes();
  bytes[kHeaderBytes + 8 + 4 + 4] = 2;
  expect_format_error(bytes, {"metadata key 'flag'", "bool value 2"});
}

// Every prefix of a valid file that cuts into its header, metadata, infos or tensor data
// must fail with a FileFormatError; only the trailing padding may be dropped.
void truncation_sweep(const std::vector<uint8_t>& bytes) {
  auto full = parse_gguf(bytes);
  uint64_t data_end = 0;
  for (const auto& t : full->tensor_infos()) data_end = std::max(data_end, t.data_offset + t.nbytes);
  for (size_t n = 0; n < bytes.size(); ++n) {
    std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    if (n >= data_end && !full->tensor_infos().empty()) {
      EXPECT_NO_THROW(parse_gguf(prefix)) << "cut at " << n;
      continue;
    }
    EXPECT_THROW(parse_gguf(prefix), FileFormatError) << "cut at " << n;
  }
}

TEST(GGUFCorrupt, TruncationSweepOfWriterFile) { truncation_sweep(small_writer().to_bytes()); }

TEST(GGUFCorrupt, TruncationSweepOfReferenceFile) {
  auto file = GGUFFile::open(test::model_data_dir() + "/reference_small.gguf");
  const auto& storage = *file->tensor(file->tensor_infos().front().name).storage();
  const auto* p = static_cast<const uint8_t*>(storage.data);
  truncation_sweep(std::vector<uint8_t>(p, p + storage.bytes));
}

// Random corruption: every variant either parses (and then its views are in bounds) or
// throws strata::Error. A crash or an absurd allocation fails the test binary.
TEST(GGUFCorrupt, SeededByteFlipSweep) {
  const auto original = small_writer().to_bytes();
  std::mt19937 rng(20261123);
  std::uniform_int_distribution<size_t> position(0, original.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255), flips(1, 4);
  int parsed = 0, rejected = 0;
  for (int variant = 0; variant < 4000; ++variant) {
    auto bytes = original;
    for (int f = flips(rng); f > 0; --f) bytes[position(rng)] = static_cast<uint8_t>(byte(rng));
    try {
      auto file = parse_gguf(bytes);
      for (const auto& info : file->tensor_infos()) {
        Tensor t = file->tensor(info.name);
        EXPECT_LE(t.byte_offset() + t.nbytes(), bytes.size());
      }
      ++parsed;
    } catch (const Error&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 0);
  EXPECT_GT(parsed, 0);
}

}  // namespace
}  // namespace strata
