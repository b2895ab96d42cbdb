// Every real chat template (shared fixtures) rendered on every conversation in
// data/conversations.json must equal jinja2's output byte for byte (goldens made by
// tools/gen_chat_template_goldens.py), or throw where jinja2 raised.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <gtest/gtest.h>

#include "chat_template/chat_template.h"
#include "core/error.h"

namespace strata {
namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

const fs::path kData = fs::path(STRATA_SOURCE_DIR) / "tests" / "chat_template" / "data";
const fs::path kShared = fs::path(STRATA_SHARED_DIR);

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string template_source(const std::string& name) {
  if (name.rfind("hf-", 0) == 0) {
    ojson config = ojson::parse(read_file(kShared / "fixtures" / "tokenizers" / "hf" / name.substr(3) / "tokenizer_config.json"));
    return config.at("chat_template").get<std::string>();
  }
  return read_file(kShared / "fixtures" / "chat-templates" / (name + ".jinja"));
}

ChatTemplateInputs inputs_for(const ojson& all, const ojson& conv) {
  ChatTemplateInputs in;
  in.messages = conv.at("messages");
  if (conv.contains("tools")) in.tools = conv.at("tools");
  if (conv.contains("documents")) in.documents = conv.at("documents");
  in.add_generation_prompt = conv.value("add_generation_prompt", false);
  in.bos_token = all.at("bos_token").get<std::string>();
  in.eos_token = all.at("eos_token").get<std::string>();
  if (conv.contains("extra")) in.extra_context = conv.at("extra");
  in.fixed_time = all.at("fixed_time").get<int64_t>();
  return in;
}

std::string first_difference(const std::string& want, const std::string& got) {
  size_t i = 0;
  while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
  size_t from = i > 40 ? i - 40 : 0;
  return "first difference at byte " + std::to_string(i) + "\n  want: " + ojson(want.substr(from, 120)).dump(-1, ' ', false, ojson::error_handler_t::replace) +
         "\n  got:  " + ojson(got.substr(from, 120)).dump(-1, ' ', false, ojson::error_handler_t::replace);
}

TEST(ChatTemplateGolden, EveryTemplateMatchesJinja2) {
  ojson all = ojson::parse(read_file(kData / "conversations.json"));
  std::map<std::string, const ojson*> by_name;
  for (const auto& c : all.at("conversations")) by_name[c.at("name").get<std::string>()] = &c;
  int total = 0, matched = 0, templates = 0;
  for (const auto& entry : fs::directory_iterator(kData / "golden")) {
    ojson golden = ojson::parse(read_file(entry.path()));
    std::string name = golden.at("template").get<std::string>();
    ++templates;
    std::unique_ptr<ChatTemplate> tmpl;
    std::string parse_error;
    try {
      tmpl = std::make_unique<ChatTemplate>(template_source(name));
    } catch (const Error& e) {
      parse_error = e.what();
    }
    for (const auto& [conv_name, expected] : golden.at("results").items()) {
      ++total;
      std::string label = name + " / " + conv_name;
      bool want_error = expected.contains("error");
      std::string got, error;
      if (!tmpl) {
        error = parse_error;
      } else {
        try {
          got = tmpl->render(inputs_for(all, *by_name.at(conv_name)));
        } catch (const Error& e) {
          error = e.what();
        }
      }
      if (want_error) {
        EXPECT_FALSE(error.empty()) << label << ": jinja2 raised " << expected.at("error") << " but Strata rendered";
        matched += !error.empty();
      } else if (!error.empty()) {
        ADD_FAILURE() << label << ": Strata threw: " << error;
      } else {
        const std::string want = expected.at("output").get<std::string>();
        EXPECT_TRUE(want == got) << label << ": " << first_difference(want, got);
        matched += want == got;
      }
    }
  }
  std::cout << "[golden] " << matched << " / " << total << " (template, conversation) pairs match across "
            << templates << " templates\n";
  EXPECT_GE(templates, 25);
  EXPECT_EQ(matched, total);
}

}  // namespace
}  // namespace strata
