// Typed access to config.json fields (model/json_fields.h): the values of a real-shaped
// Hugging Face config, and errors that name the file and the field (BAD_INPUTS.md case 13).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>

#include "model/json_fields.h"
#include "test_gguf_util.h"

namespace strata {
namespace {

using nlohmann::json;

const json kConfig = json::parse(R"({
  "model_type": "llama", "num_hidden_layers": 30, "hidden_size": 576, "rms_norm_eps": 1e-05,
  "rope_theta": 100000.0, "max_position_embeddings": 8192.0, "tie_word_embeddings": true,
  "eos_token_id": [1, 2], "rope_scaling": null, "architectures": ["LlamaForCausalLM"],
  "big": 18446744073709551615, "ratio": 1.5, "name": "x", "weights": [0.5, 1],
  "rope": {"type": "yarn", "factor": 4, "inner": {"depth": "deep"}}
})");

void expect_field_error(const std::function<void()>& call, std::initializer_list<std::string> needles) {
  try {
    call();
    ADD_FAILURE() << "expected JsonFieldError";
  } catch (const JsonFieldError& e) {
    for (const auto& needle : needles) EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(JsonFields, ReadsTypedValues) {
  JsonFieldReader f(kConfig, "config.json");
  EXPECT_EQ(f.get_string("model_type"), "llama");
  EXPECT_EQ(f.get_int("num_hidden_layers"), 30);
  EXPECT_EQ(f.get_int("max_position_embeddings"), 8192);  // a whole float counts as an integer
  EXPECT_DOUBLE_EQ(f.get_float("rms_norm_eps"), 1e-5);
  EXPECT_DOUBLE_EQ(f.get_float("hidden_size"), 576.0);
  EXPECT_TRUE(f.get_bool("tie_word_embeddings"));
  EXPECT_EQ(f.get_int_array("eos_token_id"), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(f.get_float_array("weights"), (std::vector<double>{0.5, 1.0}));
  EXPECT_EQ(f.get_string_array("architectures"), (std::vector<std::string>{"LlamaForCausalLM"}));
  EXPECT_EQ(f.get_int_in_range("hidden_size", 1, 1 << 20), 576);
  EXPECT_EQ(f.try_int("absent"), std::nullopt);
  EXPECT_EQ(f.try_object("rope_scaling"), std::nullopt);  // null counts as missing
  EXPECT_FALSE(f.has("rope_scaling"));
  EXPECT_EQ(f.try_string("model_type"), "llama");
  auto rope = f.get_object("rope");
  EXPECT_EQ(rope.get_string("type"), "yarn");
  EXPECT_DOUBLE_EQ(rope.get_float("factor"), 4.0);
}

TEST(JsonFields, ErrorsNameFileAndField) {
  JsonFieldReader f(kConfig, "config.json");
  expect_field_error([&] { f.get_int("model_type"); },
                     {"config.json: field \"model_type\": expected an integer, got string"});
  expect_field_error([&] { f.get_int("num_layers"); }, {"config.json: field \"num_layers\": missing"});
  expect_field_error([&] { f.get_object("rope_scaling"); }, {"field \"rope_scaling\": is null"});
  expect_field_error([&] { f.get_int("ratio"); }, {"field \"ratio\"", "non-integral number 1.5"});
  expect_field_error([&] { f.get_int("big"); }, {"field \"big\"", "expected an integer"});
  expect_field_error([&] { f.get_string("hidden_size"); }, {"field \"hidden_size\": expected a string, got number"});
  expect_field_error([&] { f.get_bool("name"); }, {"field \"name\": expected a boolean, got string"});
  expect_field_error([&] { f.get_float("architectures"); }, {"expected a number, got array"});
  expect_field_error([&] { f.get_int_in_range("hidden_size", 1, 512); }, {"value 576 is outside [1, 512]"});
  expect_field_error([&] { f.get_int_array("architectures"); }, {"item 0: expected an integer, got string"});
  expect_field_error([&] { f.get_string_array("eos_token_id"); }, {"item 0: expected a string, got number"});
  expect_field_error([&] { f.try_bool("hidden_size"); }, {"expected a boolean"});
  expect_field_error([&] { f.get_object("rope").get_object("inner").get_int("depth"); },
                     {"config.json: field \"rope.inner.depth\": expected an integer, got string"});
  try {
    f.get_int("model_type");
  } catch (const JsonFieldError& e) {
    EXPECT_EQ(e.file(), "config.json");
    EXPECT_EQ(e.field(), "model_type");
  }
  EXPECT_THROW(JsonFieldReader(json::array(), "config.json"), Error);
}

TEST(JsonFields, ReadJsonFile) {
  auto config = read_json_file(test::model_data_dir() + "/hf_single/config.json");
  EXPECT_EQ(JsonFieldReader(config, "config.json").get_int("num_hidden_layers"), 2);
  EXPECT_THROW(read_json_file(test::model_data_dir() + "/no_such_file.json"), Error);
  const auto path = std::filesystem::path(::testing::TempDir()) / "strata_bad_config.json";
  std::ofstream(path) << "{\"a\": 1,\n \"b\": }";
  try {
    read_json_file(path.string());
    ADD_FAILURE() << "expected FileFormatError";
  } catch (const FileFormatError& e) {
    EXPECT_EQ(e.offset(), 16u) << e.what();
    EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos);
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace strata
