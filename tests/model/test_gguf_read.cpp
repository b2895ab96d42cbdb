// Reads GGUF files and compares every field with the JSON dumps that
// tools/dump_gguf_reference.py made with the Python `gguf` package.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "model/gguf.h"
#include "test_gguf_util.h"

namespace strata {
namespace {

using nlohmann::json;
using Type = GGUFValue::Type;

json load_json(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  return json::parse(in);
}

void expect_scalar_equal(const GGUFValue& v, const json& expected, const std::string& where) {
  if (v.type == Type::String) {
    EXPECT_EQ(std::get<std::string>(v.value), expected.get<std::string>()) << where;
  } else if (v.type == Type::Bool) {
    EXPECT_EQ(std::get<bool>(v.value), expected.get<bool>()) << where;
  } else if (v.type == Type::Float32 || v.type == Type::Float64) {
    EXPECT_EQ(std::get<double>(v.value), expected.get<double>()) << where;
  } else if (const auto* u = std::get_if<uint64_t>(&v.value)) {
    EXPECT_EQ(*u, expected.get<uint64_t>()) << where;
  } else {
    EXPECT_EQ(std::get<int64_t>(v.value), expected.get<int64_t>()) << where;
  }
}

void expect_value_equal(const GGUFValue& v, const json& expected, const std::string& where) {
  if (v.type != Type::Array) return expect_scalar_equal(v, expected, where);
  const auto& items = std::get<GGUFValue::Array>(v.value).items;
  ASSERT_TRUE(expected.is_array()) << where;
  ASSERT_EQ(items.size(), expected.size()) << where;
  for (size_t i = 0; i < items.size(); ++i)
    expect_value_equal(items[i], expected[i], where + "[" + std::to_string(i) + "]");
}

std::string items_hash(const GGUFValue::Array& array) {
  test::Fnv1a h;
  for (const auto& item : array.items) {
    if (const auto* s = std::get_if<std::string>(&item.value)) {
      h.add_value<uint64_t>(s->size());
      h.add(s->data(), s->size());
    } else if (const auto* d = std::get_if<double>(&item.value)) {
      h.add_value(*d);
    } else if (const auto* b = std::get_if<bool>(&item.value)) {
      h.add_value<uint8_t>(*b ? 1 : 0);
    } else if (const auto* u = std::get_if<uint64_t>(&item.value)) {
      h.add_value(*u);
    } else {
      h.add_value(std::get<int64_t>(item.value));
    }
  }
  return h.hex();
}

void expect_metadata_entry(const GGUFFile& file, const json& entry) {
  const std::string key = entry["key"];
  const GGUFValue* v = file.find(key);
  ASSERT_NE(v, nullptr) << key;
  EXPECT_EQ(gguf_value_type_name(v->type), entry["type"].get<std::string>()) << key;
  if (v->type == Type::Array) {
    const auto& array = std::get<GGUFValue::Array>(v->value);
    EXPECT_EQ(gguf_value_type_name(array.element_type), entry["element_type"].get<std::string>()) << key;
    if (entry.contains("length")) {
      ASSERT_EQ(array.items.size(), entry["length"].get<size_t>()) << key;
      const size_t n = array.items.size(), edge = entry["first"].size();
      for (size_t i = 0; i < edge; ++i) {
        expect_value_equal(array.items[i], entry["first"][i], key + " first");
        expect_value_equal(array.items[n - edge + i], entry["last"][i], key + " last");
      }
      EXPECT_EQ(items_hash(array), entry["hash"].get<std::string>()) << key;
      return;
    }
  }
  expect_value_equal(*v, entry["value"], key);
}

void expect_tensor(const GGUFFile& file, const json& expected) {
  const std::string name = expected["name"];
  const GGUFTensorInfo* info = file.find_tensor(name);
  ASSERT_NE(info, nullptr) << name;
  EXPECT_EQ(info->dims, expected["dims"].get<std::vector<int64_t>>()) << name;
  EXPECT_EQ(gguf_type_of(info->dtype), expected["type_id"].get<uint32_t>()) << name;
  EXPECT_EQ(info->data_offset, expected["offset"].get<uint64_t>()) << name;
  EXPECT_EQ(info->nbytes, expected["nbytes"].get<uint64_t>()) << name;
  Tensor t = file.tensor(name);
  EXPECT_EQ(t.shape(), Tensor::Shape(info->dims.rbegin(), info->dims.rend())) << name;
  EXPECT_EQ(t.nbytes(), info->nbytes) << name;
  test::Fnv1a h;
  h.add(t.raw_data(), t.nbytes());
  EXPECT_EQ(h.hex(), expected["hash"].get<std::string>()) << name;
}

void compare_with_reference(const std::string& gguf_path, const std::string& json_path) {
  SCOPED_TRACE(gguf_path);
  const json expected = load_json(json_path);
  auto file = GGUFFile::open(gguf_path);
  EXPECT_EQ(file->version(), expected["version"].get<uint32_t>());
  EXPECT_EQ(file->alignment(), expected["alignment"].get<uint64_t>());
  EXPECT_EQ(file->metadata().size(), expected["metadata"].size());
  for (const auto& entry : expected["metadata"]) expect_metadata_entry(*file, entry);
  EXPECT_EQ(file->tensor_infos().size(), expected["tensors"].size());
  for (const auto& t : expected["tensors"]) expect_tensor(*file, t);
}

TEST(GGUFRead, SmallReferenceFileMatchesPythonReader) {
  compare_with_reference(test::model_data_dir() + "/reference_small.gguf",
                         test::model_data_dir() + "/reference_small.json");
}

class GGUFVocabFile : public ::testing::TestWithParam<std::string> {};

TEST_P(GGUFVocabFile, MatchesPythonReader) {
  compare_with_reference(test::gguf_vocab_dir() + "/" + GetParam() + ".gguf",
                         test::model_data_dir() + "/" + GetParam() + ".json");
}

INSTANTIATE_TEST_SUITE_P(SharedFixtures, GGUFVocabFile,
                         ::testing::Values("ggml-vocab-bert-bge", "ggml-vocab-deepseek-llm",
                                           "ggml-vocab-falcon", "ggml-vocab-gpt-2",
                                           "ggml-vocab-llama-spm", "ggml-vocab-starcoder"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (auto& c : name) if (c == '-') c = '_';
                           return name;
                         });

TEST(GGUFRead, TypedAccessors) {
  auto file = GGUFFile::open(test::model_data_dir() + "/reference_small.gguf");
  EXPECT_EQ(file->get_string("general.architecture"), "test");
  EXPECT_EQ(file->get_int("test.u32"), 4000000000LL);
  EXPECT_EQ(file->get_int("test.i8"), -100);
  EXPECT_DOUBLE_EQ(file->get_float("test.i16"), -30000.0);
  EXPECT_FLOAT_EQ(static_cast<float>(file->get_float("test.f32")), 3.14159f);
  EXPECT_TRUE(file->get_bool("test.bool_true"));
  EXPECT_EQ(file->get_string_array("test.array.strings"),
            (std::vector<std::string>{"alpha", "", "γάμμα"}));
  EXPECT_EQ(file->get_int_array("test.array.i32"), (std::vector<int64_t>{7, -8, 9}));
  EXPECT_EQ(file->get_float_array("test.array.f64"), (std::vector<double>{0.5, -1e300}));
  EXPECT_EQ(file->try_int("missing.key"), std::nullopt);
  EXPECT_EQ(file->try_string("general.architecture"), "test");
  // A uint64 beyond int64 is not silently wrapped.
  EXPECT_THROW(file->get_int("test.u64"), FileFormatError);
  try {
    file->get_int("test.string");
    FAIL() << "expected a type error";
  } catch (const FileFormatError& e) {
    EXPECT_NE(std::string(e.what()).find("test.string"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("expected an integer, got string"), std::string::npos) << e.what();
  }
  EXPECT_THROW(file->get_string("missing.key"), FileFormatError);
  EXPECT_THROW(file->try_bool("test.u8"), FileFormatError);
  EXPECT_THROW(file->get_string_array("test.array.i32"), FileFormatError);
  EXPECT_THROW(file->tensor("no.such.tensor"), Error);
}

TEST(GGUFRead, TensorViewsAreZeroCopyAndOutliveTheFile) {
  Tensor t;
  {
    auto file = GGUFFile::open(test::model_data_dir() + "/reference_small.gguf");
    t = file->tensor("weights.i32");
    EXPECT_EQ(t.byte_offset(), file->find_tensor("weights.i32")->data_offset);
  }
  ASSERT_EQ(t.shape(), (Tensor::Shape{10}));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(t.data<int32_t>()[i], i - 5);  // np.arange(-5, 5)
}

// The real default model (fetched by scripts/fetch-model); skipped when absent.
TEST(GGUFRead, DefaultModelIfPresent) {
  const char* home = std::getenv("HOME");
  const std::string path = std::string(home ? home : "") + "/.cache/strata/models/SmolLM2-135M-Instruct.Q4_1.gguf";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " not present";
  auto file = GGUFFile::open(path);
  EXPECT_EQ(file->tensor_infos().size(), 272u);
  EXPECT_EQ(file->get_int("llama.block_count"), 30);
  Tensor embd = file->tensor("token_embd.weight");
  EXPECT_EQ(embd.dtype(), DType::Q8_0);
  EXPECT_EQ(embd.shape(), (Tensor::Shape{49152, 576}));
}

}  // namespace
}  // namespace strata
