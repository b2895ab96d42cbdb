// `strata chat-template` end to end: the binary's output equals jinja2's golden render for
// a template file, a tokenizer_config.json and a model directory. Skipped when the strata
// binary has not been built (this test binary does not depend on it).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

const fs::path kBinary = fs::path(STRATA_BINARY_DIR) / "strata";
const fs::path kData = fs::path(STRATA_SOURCE_DIR) / "tests" / "chat_template" / "data";
const fs::path kFixtures = fs::path(STRATA_SHARED_DIR) / "fixtures";

ojson read_json(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ojson::parse(ss.str());
}

// Runs a command; returns its stdout and sets `status` to its exit status.
std::string run(const std::string& command, int& status) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  status = pclose(pipe);
  return out;
}

class CliChatTemplate : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kBinary)) GTEST_SKIP() << "strata binary not built: " << kBinary;
    ojson all = read_json(kData / "conversations.json");
    for (const auto& c : all.at("conversations")) {
      if (c.at("name") != "tool_call_dict_args") continue;
      messages_ = fs::temp_directory_path() / "strata_cli_ct_messages.json";
      tools_ = fs::temp_directory_path() / "strata_cli_ct_tools.json";
      std::ofstream(messages_) << c.at("messages").dump();
      std::ofstream(tools_) << c.at("tools").dump();
    }
    flags_ = " --messages " + messages_.string() + " --tools " + tools_.string() +
             " --add-generation-prompt --bos '<|bos|>' --eos '<|eos|>' --fixed-time " +
             std::to_string(all.at("fixed_time").get<int64_t>());
  }

  std::string golden(const std::string& template_name) {
    return read_json(kData / "golden" / (template_name + ".json"))
        .at("results").at("tool_call_dict_args").at("output").get<std::string>();
  }

  fs::path messages_, tools_;
  std::string flags_;
};

TEST_F(CliChatTemplate, TemplateFile) {
  int status = -1;
  std::string out = run(kBinary.string() + " chat-template -m " +
                            (kFixtures / "chat-templates" / "Qwen-Qwen2.5-7B-Instruct.jinja").string() + flags_,
                        status);
  EXPECT_EQ(status, 0);
  EXPECT_EQ(out, golden("Qwen-Qwen2.5-7B-Instruct"));
}

TEST_F(CliChatTemplate, TokenizerConfigAndDirectory) {
  for (const fs::path& model : {kFixtures / "tokenizers" / "hf" / "qwen3" / "tokenizer_config.json",
                                kFixtures / "tokenizers" / "hf" / "qwen3"}) {
    int status = -1;
    std::string out = run(kBinary.string() + " chat-template -m " + model.string() + flags_, status);
    EXPECT_EQ(status, 0) << model;
    EXPECT_EQ(out, golden("hf-qwen3")) << model;
  }
}

TEST_F(CliChatTemplate, BrokenTemplateFailsWithLine) {
  fs::path bad = fs::temp_directory_path() / "strata_cli_ct_bad.jinja";
  std::ofstream(bad) << "ok\n{% if %}";
  int status = -1;
  run(kBinary.string() + " chat-template -m " + bad.string() + flags_ + " 2>" +
          (fs::temp_directory_path() / "strata_cli_ct_err.txt").string(),
      status);
  EXPECT_NE(status, 0);
  std::ifstream err(fs::temp_directory_path() / "strata_cli_ct_err.txt");
  std::stringstream ss;
  ss << err.rdbuf();
  EXPECT_NE(ss.str().find("line 2"), std::string::npos) << ss.str();
}

}  // namespace
