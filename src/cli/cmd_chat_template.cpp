// strata chat-template -m MODEL_OR_TEMPLATE --messages FILE.json [--tools FILE.json]
//   [--documents FILE.json] [--add-generation-prompt] [--bos TEXT --eos TEXT] [--extra JSON]
//   [--fixed-time UNIX]
// Prints the prompt the model's chat template renders for the messages.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "chat_template/chat_template.h"
#include "cli/commands.h"
#include "core/error.h"
#include "model/gguf.h"

namespace strata::cli {

namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

struct TemplateSource {
  std::string text;
  std::string bos;
  std::string eos;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InvalidArgument("path", "cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ojson read_json(const std::string& path) {
  try {
    return ojson::parse(read_text(path));
  } catch (const ojson::parse_error& e) {
    throw InvalidArgument("path", path + ": invalid JSON: " + e.what());
  }
}

// A special-token field of tokenizer_config.json: a string or {"content": ...}.
std::string token_text(const ojson& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content")) return it->at("content").get<std::string>();
  return "";
}

// chat_template is a string, or a list of {"name", "template"}: "tool_use" when tools are
// given and present, else "default".
std::string pick_template(const ojson& field, bool has_tools, const std::string& path) {
  if (field.is_string()) return field.get<std::string>();
  if (!field.is_array()) throw InvalidArgument("model", path + ": no chat_template");
  std::optional<std::string> chosen, fallback;
  for (const auto& entry : field) {
    std::string name = entry.value("name", "");
    if (name == "default") fallback = entry.value("template", "");
    if (has_tools && name == "tool_use") chosen = entry.value("template", "");
  }
  if (chosen) return *chosen;
  if (fallback) return *fallback;
  throw InvalidArgument("model", path + ": chat_template list has no 'default' entry");
}

TemplateSource from_tokenizer_config(const std::string& path, bool has_tools) {
  ojson config = read_json(path);
  if (!config.contains("chat_template")) throw InvalidArgument("model", path + ": no chat_template field");
  return {pick_template(config["chat_template"], has_tools, path), token_text(config, "bos_token"),
          token_text(config, "eos_token")};
}

TemplateSource from_gguf(const std::string& path) {
  auto file = GGUFFile::open(path);
  auto text = file->try_string("tokenizer.chat_template");
  if (!text) throw InvalidArgument("model", path + ": no tokenizer.chat_template in the GGUF metadata");
  TemplateSource source{*text, "", ""};
  if (file->has("tokenizer.ggml.tokens")) {
    std::vector<std::string> tokens = file->get_string_array("tokenizer.ggml.tokens");
    auto token = [&](const char* key) -> std::string {
      auto id = file->try_int(key);
      return id && *id >= 0 && static_cast<size_t>(*id) < tokens.size() ? tokens[*id] : "";
    };
    source.bos = token("tokenizer.ggml.bos_token_id");
    source.eos = token("tokenizer.ggml.eos_token_id");
  }
  return source;
}

TemplateSource load_template(const std::string& path, bool has_tools) {
  if (fs::is_directory(path)) return from_tokenizer_config((fs::path(path) / "tokenizer_config.json").string(), has_tools);
  std::string ext = fs::path(path).extension().string();
  if (ext == ".gguf") return from_gguf(path);
  if (ext == ".json") return from_tokenizer_config(path, has_tools);
  return {read_text(path), "", ""};  // .jinja, .txt or any other plain template file
}

}  // namespace

int chat_template_command(int argc, char** argv) {
  CLI::App app{"Render a chat template on messages and print the prompt."};
  std::string model, messages_path;
  std::optional<std::string> tools_path, documents_path, bos, eos, extra;
  std::optional<int64_t> fixed_time;
  bool add_generation_prompt = false;
  app.add_option("-m,--model", model,
                 "template file (.jinja/.txt), tokenizer_config.json, a directory holding one, or a .gguf")
      ->required();
  app.add_option("--messages", messages_path, "JSON file: a list of messages (or {\"messages\": [...]})")->required();
  app.add_option("--tools", tools_path, "JSON file: a list of tool schemas");
  app.add_option("--documents", documents_path, "JSON file: a list of documents for RAG templates");
  app.add_flag("--add-generation-prompt", add_generation_prompt, "end with the assistant turn's opening");
  app.add_option("--bos", bos, "bos_token text (default: from the model files)");
  app.add_option("--eos", eos, "eos_token text (default: from the model files)");
  app.add_option("--extra", extra, "JSON object of extra template variables, e.g. '{\"enable_thinking\": false}'");
  app.add_option("--fixed-time", fixed_time, "Unix time strftime_now() reports (UTC), for reproducible output");
  CLI11_PARSE(app, argc, argv);

  ChatTemplateInputs inputs;
  ojson messages = read_json(messages_path);
  inputs.messages = messages.is_object() && messages.contains("messages") ? messages["messages"] : messages;
  if (tools_path) inputs.tools = read_json(*tools_path);
  if (documents_path) inputs.documents = read_json(*documents_path);
  if (extra) {
    inputs.extra_context = ojson::parse(*extra, nullptr, false);
    if (!inputs.extra_context.is_object()) throw InvalidArgument("extra", "--extra must be a JSON object");
  }
  inputs.add_generation_prompt = add_generation_prompt;
  inputs.fixed_time = fixed_time;
  TemplateSource source = load_template(model, tools_path.has_value());
  inputs.bos_token = bos ? *bos : source.bos;
  inputs.eos_token = eos ? *eos : source.eos;
  std::cout << ChatTemplate(source.text).render(inputs);
  return 0;
}

}  // namespace strata::cli
