// ChatTemplate: renders with the variables and globals transformers' apply_chat_template
// passes (messages, tools, documents, add_generation_prompt, bos/eos tokens, extra kwargs;
// raise_exception and strftime_now), including its aliasing of reasoning fields.
#include "chat_template/chat_template.h"

#include <ctime>

#include "chat_template/jinja_error.h"
#include "chat_template/jinja_globals.h"
#include "chat_template/jinja_interpreter.h"
#include "chat_template/jinja_parser.h"

namespace strata {

using jinja::CallArgs;
using jinja::Value;

struct ChatTemplate::Impl {
  jinja::Body body;
};

namespace {

std::string format_time(const std::string& format, const std::optional<int64_t>& fixed_time) {
  std::time_t t = fixed_time ? static_cast<std::time_t>(*fixed_time) : std::time(nullptr);
  std::tm tm{};
  if (fixed_time) {
    gmtime_r(&t, &tm);
  } else {
    localtime_r(&t, &tm);
  }
  char buf[512];
  size_t n = std::strftime(buf, sizeof buf, format.c_str(), &tm);
  if (n == 0 && !format.empty()) throw jinja::RenderError("strftime_now: format too long or invalid");
  return std::string(buf, n);
}

// Messages converted with reasoning aliasing; insertion order follows transformers:
// {"thinking": r, **message, "reasoning_content": r}.
Value messages_value(const nlohmann::ordered_json& messages) {
  Value list = Value::from_json(messages);
  if (!list.is_list()) return list;
  for (Value& message : list.items()) {
    if (!message.is_dict()) continue;
    const Value* reasoning = nullptr;
    for (const char* key : {"reasoning_content", "thinking", "reasoning"}) {
      const Value* v = message.dict_ref().find(std::string_view(key));
      if (v && !v->is_none()) {
        reasoning = v;
        break;
      }
    }
    if (!reasoning) continue;
    Value aliased = Value::dict();
    Value r = *reasoning;
    aliased.dict_ref().set(Value("thinking"), r);
    for (const auto& [k, v] : message.dict_ref().entries) aliased.dict_ref().set(k, v);
    aliased.dict_ref().set(Value("reasoning_content"), r);
    message = aliased;
  }
  return list;
}

}  // namespace

namespace {

// Every failure leaves as strata::Error; a library exception (e.g. a bad_variant_access
// from an unforeseen type mix) would otherwise escape callers that catch only Error.
template <typename F>
auto as_strata_error(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(std::string("chat template: internal error: ") + e.what());
  }
}

}  // namespace

ChatTemplate::ChatTemplate(const std::string& source) : impl_(std::make_unique<Impl>()) {
  impl_->body = as_strata_error([&] { return jinja::parse_template(source); });
}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::render(const ChatTemplateInputs& inputs) const {
  return as_strata_error([&] { return render_checked(inputs); });
}

std::string ChatTemplate::render_checked(const ChatTemplateInputs& inputs) const {
  if (!inputs.messages.is_array()) throw InvalidArgument("messages", "chat template: messages must be a list");
  for (const auto& m : inputs.messages)
    if (!m.is_object()) throw InvalidArgument("messages", "chat template: each message must be an object");
  Value globals = Value::dict();
  jinja::Dict& g = globals.dict_ref();
  jinja::add_builtin_globals(g);
  g.set(Value("raise_exception"), Value::function("raise_exception", [](const CallArgs& args) -> Value {
    throw jinja::RenderError(args.positional.empty() ? "raise_exception called" : args.positional[0].str());
  }));
  std::optional<int64_t> fixed_time = inputs.fixed_time;
  g.set(Value("strftime_now"), Value::function("strftime_now", [fixed_time](const CallArgs& args) {
    const Value* format = args.get(0, "format");
    if (!format || !format->is_string()) throw jinja::RenderError("strftime_now expects a format string");
    return Value(format_time(format->as_string(), fixed_time));
  }));
  g.set(Value("messages"), messages_value(inputs.messages));
  g.set(Value("tools"), inputs.tools.is_null() ? Value::none() : Value::from_json(inputs.tools));
  g.set(Value("documents"), inputs.documents.is_null() ? Value::none() : Value::from_json(inputs.documents));
  g.set(Value("add_generation_prompt"), Value(inputs.add_generation_prompt));
  g.set(Value("bos_token"), Value(inputs.bos_token));
  g.set(Value("eos_token"), Value(inputs.eos_token));
  if (inputs.extra_context.is_object())
    for (const auto& [k, v] : inputs.extra_context.items()) g.set(Value(k), Value::from_json(v));
  jinja::Interpreter interpreter(globals, jinja::RenderLimits{});
  return interpreter.render(impl_->body);
}

}  // namespace strata
