// Safetensors files and Hugging Face model directories, compared with the files and
// expected values written by tools/make_safetensors_reference.py; plus malformed files
// (docs/BAD_INPUTS.md case 12).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <random>

#include "core/error.h"
#include "model/safetensors.h"
#include "test_gguf_util.h"

namespace strata {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string data_path(const std::string& name) { return test::model_data_dir() + "/" + name; }

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::shared_ptr<SafetensorsFile> parse(const std::vector<uint8_t>& bytes) {
  return SafetensorsFile::from_memory(test::storage_of(bytes), "bad.safetensors");
}

// A file from a header text and a data section; `header_length` overrides the prefix.
std::vector<uint8_t> make_file(const std::string& header, size_t data_bytes,
                               std::optional<uint64_t> header_length = std::nullopt) {
  std::vector<uint8_t> bytes(8 + header.size() + data_bytes, 0);
  const uint64_t length = header_length.value_or(header.size());
  std::memcpy(bytes.data(), &length, 8);
  std::memcpy(bytes.data() + 8, header.data(), header.size());
  return bytes;
}

void expect_format_error(const std::vector<uint8_t>& bytes, std::initializer_list<std::string> needles) {
  try {
    parse(bytes);
    ADD_FAILURE() << "expected FileFormatError";
  } catch (const FileFormatError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("bad.safetensors: at offset "), std::string::npos) << message;
    for (const auto& needle : needles) EXPECT_NE(message.find(needle), std::string::npos) << message;
  }
}

void expect_matches(const Tensor& t, const json& expected) {
  const std::string name = expected["name"];
  if (expected.contains("bits")) {
    const auto bits = expected["bits"].get<std::vector<int>>();
    ASSERT_EQ(t.numel(), static_cast<int64_t>(bits.size())) << name;
    for (size_t i = 0; i < bits.size(); ++i) EXPECT_EQ(t.data<uint16_t>()[i], bits[i]) << name << " " << i;
  } else if (t.dtype() == DType::F32) {
    const auto values = expected["values"].get<std::vector<double>>();
    ASSERT_EQ(t.numel(), static_cast<int64_t>(values.size())) << name;
    for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(t.data<float>()[i], static_cast<float>(values[i])) << name;
  } else {
    const auto values = expected["values"].get<std::vector<int64_t>>();
    ASSERT_EQ(t.numel(), static_cast<int64_t>(values.size())) << name;
    for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(t.data<int32_t>()[i], values[i]) << name;
  }
}

TEST(Safetensors, ReferenceFileMatchesPythonWriter) {
  std::ifstream in(data_path("reference_safetensors.json"));
  const json expected = json::parse(in);
  auto file = SafetensorsFile::open(data_path("reference.safetensors"));
  EXPECT_EQ(file->metadata(), (expected["metadata"].get<std::map<std::string, std::string>>()));
  ASSERT_EQ(file->tensor_infos().size(), expected["tensors"].size());
  const auto data_start = expected["data_start"].get<uint64_t>();
  for (const auto& e : expected["tensors"]) {
    const std::string name = e["name"];
    SCOPED_TRACE(name);
    const SafetensorsTensorInfo* info = file->find_tensor(name);
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(info->dtype_name, e["dtype"].get<std::string>());
    EXPECT_EQ(info->shape, e["shape"].get<std::vector<int64_t>>());
    const auto offsets = e["data_offsets"].get<std::vector<uint64_t>>();
    EXPECT_EQ(info->data_offset, data_start + offsets[0]);
    EXPECT_EQ(info->nbytes, offsets[1] - offsets[0]);
    if (e["dtype"] == "I64") {
      EXPECT_FALSE(info->dtype.has_value());
      try {
        file->tensor(name);
        ADD_FAILURE() << "I64 should be unsupported";
      } catch (const FileFormatError& err) {
        EXPECT_NE(std::string(err.what()).find("tensor 'e.i64': unsupported dtype I64"), std::string::npos) << err.what();
      }
      continue;
    }
    Tensor t = file->tensor(name);
    const auto shape = e["shape"].get<std::vector<int64_t>>();
    EXPECT_EQ(t.shape(), shape.empty() ? Tensor::Shape{1} : shape);
    EXPECT_EQ(t.byte_offset(), info->data_offset);  // a view into the mapping, not a copy
    expect_matches(t, e);
  }
  EXPECT_THROW(file->tensor("missing"), Error);
}

TEST(Safetensors, WriterOutputReadsBack) {
  SafetensorsWriter w;
  w.add_metadata("format", "pt");
  const std::vector<float> a = {1.0f, -2.0f, 3.5f, 0.25f, 8.0f, -0.5f};
  const std::vector<uint16_t> b = {0x3C00, 0xC000, 0x7BFF};  // f16 1, -2, 65504
  w.add_tensor("a", DType::F32, {2, 3}, {reinterpret_cast<const uint8_t*>(a.data()), a.size() * 4});
  w.add_tensor("b", DType::BF16, {3}, {reinterpret_cast<const uint8_t*>(b.data()), b.size() * 2});
  Tensor c = Tensor::empty({2, 2}, DType::I32);
  for (int i = 0; i < 4; ++i) c.data<int32_t>()[i] = 10 * i;
  w.add_tensor("c", c);
  const auto bytes = w.to_bytes();
  uint64_t header_length = 0;
  std::memcpy(&header_length, bytes.data(), 8);
  EXPECT_EQ(header_length % 8, 0u);
  auto file = parse(bytes);
  EXPECT_EQ(file->metadata().at("format"), "pt");
  Tensor ra = file->tensor("a");
  EXPECT_EQ(ra.shape(), (Tensor::Shape{2, 3}));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(ra.data<float>()[i], a[static_cast<size_t>(i)]);
  Tensor rb = file->tensor("b");
  EXPECT_EQ(rb.dtype(), DType::BF16);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(rb.data<uint16_t>()[i], b[static_cast<size_t>(i)]);
  EXPECT_EQ(file->tensor("c").data<int32_t>()[3], 30);
  for (const auto& info : file->tensor_infos())  // widest types first keeps every tensor aligned
    EXPECT_EQ(info.data_offset % static_cast<uint64_t>(dtype_info(*info.dtype).block_bytes), 0u) << info.name;
  EXPECT_THROW(w.add_tensor("bad", DType::F32, {3}, {reinterpret_cast<const uint8_t*>(a.data()), 8}), InvalidArgument);
  EXPECT_THROW(w.add_tensor("q", DType::Q8_0, {32}, {}), Error);
}

void expect_model_tensors(const SafetensorsModel& model) {
  EXPECT_EQ(model.tensor_names(),
            (std::vector<std::string>{"model.embed_tokens.weight", "model.layers.0.input_layernorm.weight",
                                      "model.layers.1.input_layernorm.weight", "model.norm.weight"}));
  EXPECT_EQ(model.config_fields().get_int("num_hidden_layers"), 2);
  EXPECT_EQ(model.config_fields().get_string("model_type"), "llama");
  Tensor embed = model.tensor("model.embed_tokens.weight");
  EXPECT_EQ(embed.shape(), (Tensor::Shape{16, 8}));
  EXPECT_EQ(model.tensor("model.layers.0.input_layernorm.weight").data<float>()[7], 1.0f);
  Tensor ln1 = model.tensor("model.layers.1.input_layernorm.weight");
  EXPECT_EQ(ln1.dtype(), DType::BF16);
  EXPECT_EQ(ln1.data<uint16_t>()[0], 0x3F80);  // bf16 1.0
  Tensor norm = model.tensor("model.norm.weight");
  EXPECT_EQ(norm.dtype(), DType::F16);
  EXPECT_EQ(norm.data<uint16_t>()[5], 0x3800);  // f16 0.5
  EXPECT_TRUE(model.has_tensor("model.norm.weight"));
  EXPECT_FALSE(model.has_tensor("lm_head.weight"));
  EXPECT_THROW(model.tensor("lm_head.weight"), Error);
}

TEST(SafetensorsModel, SingleFileDirectory) {
  auto model = SafetensorsModel::open(data_path("hf_single"));
  EXPECT_EQ(model->shards().size(), 1u);
  expect_model_tensors(*model);
}

TEST(SafetensorsModel, ShardedDirectoryMatchesSingleFile) {
  auto sharded = SafetensorsModel::open(data_path("hf_sharded"));
  EXPECT_EQ(sharded->shards().size(), 2u);
  expect_model_tensors(*sharded);
  auto single = SafetensorsModel::open(data_path("hf_single"));
  Tensor a = single->tensor("model.embed_tokens.weight"), b = sharded->tensor("model.embed_tokens.weight");
  EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()), 0);
}

// A scratch model directory, removed at the end of the test.
class ScratchDir {
 public:
  ScratchDir() : path_(fs::path(::testing::TempDir()) / ("strata_st_" + std::to_string(::getpid()) + "_" +
                                                          ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() { fs::remove_all(path_); }
  std::string path() const { return path_.string(); }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name, std::ios::binary) << text;
  }
  void copy_from(const std::string& dir, const std::string& name) const {
    fs::copy_file(fs::path(data_path(dir)) / name, path_ / name);
  }

 private:
  fs::path path_;
};

void expect_open_error(const std::string& dir, std::initializer_list<std::string> needles) {
  try {
    SafetensorsModel::open(dir);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    for (const auto& needle : needles) EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(SafetensorsModel, DirectoryErrors) {
  ScratchDir dir;
  expect_open_error(dir.path(), {"missing config.json"});
  dir.write("config.json", "{\"num_hidden_layers\": 2,");
  expect_open_error(dir.path(), {"config.json", "not valid JSON"});
  dir.write("config.json", "{\"model_type\": \"llama\"}");
  expect_open_error(dir.path(), {"neither model.safetensors nor model.safetensors.index.json"});
  dir.copy_from("hf_sharded", "model-00001-of-00002.safetensors");
  dir.write("model.safetensors.index.json", R"({"weight_map": {"model.norm.weight": "../../etc/passwd"}})");
  expect_open_error(dir.path(), {"weight_map.model.norm.weight", "must be a plain file name"});
  dir.write("model.safetensors.index.json",
            R"({"weight_map": {"model.norm.weight": "model-00001-of-00002.safetensors"}})");
  expect_open_error(dir.path(), {"'model.norm.weight'", "does not contain it"});
  dir.write("model.safetensors.index.json", R"({"weight_map": {"model.norm.weight": 3}})");
  expect_open_error(dir.path(), {"field \"weight_map.model.norm.weight\": expected a string, got number"});
  dir.write("model.safetensors.index.json", R"({"metadata": {}})");
  expect_open_error(dir.path(), {"field \"weight_map\": missing"});
  dir.write("model.safetensors.index.json", R"({"weight_map": {"x": "model-00009-of-00009.safetensors"}})");
  expect_open_error(dir.path(), {"model-00009-of-00009.safetensors", "cannot open"});
}

const std::string kGoodEntry = R"("t": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]})";

TEST(SafetensorsCorrupt, HeaderLengthAndJson) {
  EXPECT_NO_THROW(parse(make_file("{" + kGoodEntry + "}", 16)));
  expect_format_error({1, 2, 3}, {"at offset 0", "truncated"});
  expect_format_error(make_file("{}", 0, uint64_t{1} << 62), {"at offset 0", "header length 4611686018427387904",
                                                              "beyond the end of the file"});
  expect_format_error(make_file("{}", 0, 3), {"header length 3", "beyond the end"});
  expect_format_error(make_file("{\"t\": [1, 2", 0), {"at offset 8", "header is not valid JSON"});
  expect_format_error(make_file("[1, 2]", 0), {"header is not a JSON object but array"});
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');  // no stack overflow
  expect_format_error(make_file(deep, 0), {"header is not a JSON object"});
  expect_format_error(make_file(std::string(100000, '{'), 0), {"header is not valid JSON"});
  expect_format_error(make_file("{\"__metadata__\": {\"k\": 1}}", 0), {"__metadata__ 'k' is not a string"});
  expect_format_error(make_file("{" + kGoodEntry + ", " + kGoodEntry + "}", 16), {"duplicate tensor name 't'"});
}

TEST(SafetensorsCorrupt, Entries) {
  auto file_with = [](const std::string& entry, size_t data = 16) { return make_file("{\"t\": " + entry + "}", data); };
  expect_format_error(file_with("3"), {"tensor 't': entry is not an object"});
  expect_format_error(file_with(R"({"shape": [4], "data_offsets": [0, 16]})"), {"tensor 't'", "dtype"});
  expect_format_error(file_with(R"({"dtype": "Q9", "shape": [4], "data_offsets": [0, 16]})"),
                      {"tensor 't': unknown dtype 'Q9'"});
  expect_format_error(file_with(R"({"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]})"),
                      {"tensor 't': invalid dimension -4"});
  expect_format_error(file_with(R"({"dtype": "F32", "shape": [1, 1, 1, 1, 1], "data_offsets": [0, 4]})"),
                      {"tensor 't': rank 5 exceeds 4"});
  expect_format_error(file_with(R"({"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 16]})"),
                      {"tensor 't'", "overflows 64 bits"});
  expect_format_error(file_with(R"({"dtype": "F32", "shape": [4], "data_offsets": [0, 32]})"),
                      {"tensor 't': data_offsets [0, 32) out of range (data section has 16 bytes)"});
  expect_format_error(file_with(R"({"dtype": "F32", "shape": [0], "data_offsets": [16, 8]})"),
                      {"tensor 't'", "out of range"});
  expect_format_error(file_with(R"({"dtype": "F32", "shape": [3], "data_offsets": [0, 16]})"),
                      {"tensor 't': data_offsets span 16 bytes but F32 shape [3] needs 12"});
  expect_format_error(file_with(R"({"dtype": "F32", "shape": [4], "data_offsets": [0]})"),
                      {"tensor 't'", "data_offsets"});
  expect_format_error(file_with(R"({"dtype": "F32", "shape": [4], "data_offsets": [-16, 0]})"),
                      {"tensor 't'", "non-negative"});
  // Known but unsupported dtypes parse; loading them is the error (see the reference test).
  EXPECT_NO_THROW(parse(file_with(R"({"dtype": "F64", "shape": [2], "data_offsets": [0, 16]})")));
}

TEST(SafetensorsCorrupt, OverlappingTensors) {
  const std::string header = R"({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                                 "b": {"dtype": "F16", "shape": [4], "data_offsets": [8, 16]}})";
  expect_format_error(make_file(header, 16), {"tensors 'a' and 'b' overlap"});
}

TEST(SafetensorsCorrupt, TruncationSweep) {
  const auto bytes = read_bytes(data_path("reference.safetensors"));
  ASSERT_GT(bytes.size(), 100u);
  EXPECT_NO_THROW(parse(bytes));
  for (size_t n = 0; n < bytes.size(); ++n)
    EXPECT_THROW(parse(std::vector<uint8_t>(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n))),
                 FileFormatError) << "cut at " << n;
}

TEST(SafetensorsCorrupt, SeededByteFlipSweep) {
  const auto original = read_bytes(data_path("reference.safetensors"));
  std::mt19937 rng(7);
  std::uniform_int_distribution<size_t> position(0, original.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255), flips(1, 3);
  int parsed = 0, rejected = 0;
  for (int variant = 0; variant < 3000; ++variant) {
    auto bytes = original;
    for (int f = flips(rng); f > 0; --f) bytes[position(rng)] = static_cast<uint8_t>(byte(rng));
    try {
      auto file = parse(bytes);
      for (const auto& info : file->tensor_infos()) {
        if (info.dtype) {
          EXPECT_LE(file->tensor(info.name).byte_offset() + info.nbytes, bytes.size());
        }
      }
      ++parsed;
    } catch (const Error&) {
      ++rejected;
    }
  }
  EXPECT_GT(parsed, 0);
  EXPECT_GT(rejected, 0);
}

}  // namespace
}  // namespace strata
