#pragma once
// Renders a parsed template: evaluates expressions, runs statements with Jinja's scoping
// (a fresh scope per loop iteration and macro call; `if` opens none), and enforces the
// render limits so hostile templates fail fast instead of exhausting memory or time.
#include <memory>
#include <string>

#include "chat_template/jinja_ast.h"

namespace strata::jinja {

struct RenderLimits {
  size_t max_output_bytes = 32u << 20;
  int64_t max_loop_iterations = 1'000'000;  // across the whole render
  int max_call_depth = 200;                  // macro and function calls
  // Statements and expressions being evaluated at once (nesting multiplied by recursion):
  // bounds the C++ stack the render uses.
  int max_nesting = 1500;
};

class Interpreter {
 public:
  // `globals` is a dict of the names the template sees besides its own variables.
  Interpreter(Value globals, RenderLimits limits);
  std::string render(const Body& body);

  // Calls a callable value (used by filters such as map/select).
  Value call(const Value& fn, const CallArgs& args);
  void count_iterations(int64_t n);

 private:
  struct Scope;
  using ScopePtr = std::shared_ptr<Scope>;
  enum class Flow { Normal, Break, Continue };

  Value lookup(const std::string& name) const;
  void assign(const Expr& target, const Value& value);

  Flow exec_body(const Body& body);
  Flow exec(const Stmt& s);
  Flow exec_for(const Stmt& s);
  Flow exec_if(const Stmt& s);
  std::string capture(const Body& body);
  void exec_macro_definition(const Stmt& s);
  void exec_call_block(const Stmt& s);
  Value make_macro(const Stmt& s, const std::string& name);
  Value call_macro(const Stmt& def, const ScopePtr& closure, const CallArgs& args);
  void emit(const std::string& text);

  Value eval(const Expr& e);
  Value eval_inner(const Expr& e);
  Value eval_call(const Expr& e, const Value* caller);
  Value eval_compare(const Expr& e);
  Value apply_filter_chain(const Expr& filter, const Value& input);
  CallArgs eval_args(const Expr& e, size_t first);

  Value globals_;
  RenderLimits limits_;
  ScopePtr scope_;
  std::string* out_ = nullptr;
  int64_t iterations_ = 0;
  int depth_ = 0;
  int nesting_ = 0;
};

}  // namespace strata::jinja
