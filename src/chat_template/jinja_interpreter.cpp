#include "chat_template/jinja_interpreter.h"

#include "chat_template/jinja_builtins.h"
#include "chat_template/jinja_error.h"

namespace strata::jinja {

struct Interpreter::Scope {
  std::vector<std::pair<std::string, Value>> vars;
  ScopePtr parent;

  const Value* find(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent.get())
      for (const auto& [k, v] : s->vars)
        if (k == name) return &v;
    return nullptr;
  }
  void set(const std::string& name, Value value) {
    for (auto& [k, v] : vars) {
      if (k == name) {
        v = std::move(value);
        return;
      }
    }
    vars.emplace_back(name, std::move(value));
  }
};

namespace {

// Restores a member on scope exit (scopes, output buffers, depth).
template <typename T>
class Restore {
 public:
  Restore(T& ref, T value) : ref_(ref), saved_(std::move(ref)) { ref_ = std::move(value); }
  ~Restore() { ref_ = std::move(saved_); }
  Restore(const Restore&) = delete;
  Restore& operator=(const Restore&) = delete;

 private:
  T& ref_;
  T saved_;
};

}  // namespace

Interpreter::Interpreter(Value globals, RenderLimits limits)
    : globals_(std::move(globals)), limits_(limits), scope_(std::make_shared<Scope>()) {}

std::string Interpreter::render(const Body& body) {
  std::string out;
  Restore<std::string*> buffer(out_, &out);
  exec_body(body);
  return out;
}

void Interpreter::emit(const std::string& text) {
  if (out_->size() + text.size() > limits_.max_output_bytes)
    throw RenderError("rendered output exceeds the limit of " + std::to_string(limits_.max_output_bytes) + " bytes");
  *out_ += text;
}

void Interpreter::count_iterations(int64_t n) {
  iterations_ += n;
  if (iterations_ > limits_.max_loop_iterations)
    throw RenderError("loop iteration limit exceeded (" + std::to_string(limits_.max_loop_iterations) + ")");
}

Value Interpreter::lookup(const std::string& name) const {
  if (const Value* v = scope_->find(name)) return *v;
  if (const Value* v = globals_.dict_ref().find(std::string_view(name))) return *v;
  return Value::undefined("'" + name + "' is undefined");
}

void Interpreter::assign(const Expr& target, const Value& value) {
  if (target.kind == ExprKind::Name) {
    scope_->set(target.name, value);
  } else if (target.kind == ExprKind::GetAttr) {
    Value ns = eval(*target.children[0]);
    if (!ns.is_namespace()) throw RenderError("can only assign attributes on namespace objects");
    if (!target.name.empty() && target.name[0] == '_')
      throw RenderError("cannot store underscore-prefixed attributes on a namespace");
    ns.dict_ref().set(Value(target.name), value);
  } else {
    List items = iterate(value);
    if (items.size() != target.children.size())
      throw RenderError(items.size() < target.children.size() ? "not enough values to unpack"
                                                              : "too many values to unpack");
    for (size_t i = 0; i < items.size(); ++i) assign(*target.children[i], items[i]);
  }
}

Interpreter::Flow Interpreter::exec_body(const Body& body) {
  for (const auto& s : body) {
    Flow f = exec(*s);
    if (f != Flow::Normal) return f;
  }
  return Flow::Normal;
}

std::string Interpreter::capture(const Body& body) {
  std::string out;
  Restore<std::string*> buffer(out_, &out);
  exec_body(body);
  return out;
}

Interpreter::Flow Interpreter::exec(const Stmt& s) {
  if (nesting_ >= limits_.max_nesting) throw RenderError("template nesting too deep while rendering", s.line);
  Restore<int> nesting(nesting_, nesting_ + 1);
  try {
    switch (s.kind) {
      case StmtKind::Text: emit(s.text); return Flow::Normal;
      case StmtKind::Print: emit(eval(*s.expr).str()); return Flow::Normal;
      case StmtKind::If: return exec_if(s);
      case StmtKind::For: return exec_for(s);
      case StmtKind::Set: assign(*s.target, eval(*s.expr)); return Flow::Normal;
      case StmtKind::SetBlock: {
        Value v(capture(s.body));
        assign(*s.target, s.filter ? apply_filter_chain(*s.filter, v) : v);
        return Flow::Normal;
      }
      case StmtKind::Macro: exec_macro_definition(s); return Flow::Normal;
      case StmtKind::CallBlock: exec_call_block(s); return Flow::Normal;
      case StmtKind::FilterBlock: emit(apply_filter_chain(*s.filter, Value(capture(s.body))).str()); return Flow::Normal;
      case StmtKind::With: {
        auto child = std::make_shared<Scope>();
        child->parent = scope_;
        std::vector<Value> values;
        for (const auto& [target, value] : s.assignments) values.push_back(eval(*value));
        Restore<ScopePtr> scope(scope_, child);
        for (size_t i = 0; i < values.size(); ++i) assign(*s.assignments[i].first, values[i]);
        return exec_body(s.body);
      }
      case StmtKind::Break: return Flow::Break;
      case StmtKind::Continue: return Flow::Continue;
      case StmtKind::Scope: return exec_body(s.body);
    }
  } catch (const RenderError& err) {
    if (err.line() == 0) throw RenderError(err.raw(), s.line);
    throw;
  }
  return Flow::Normal;
}

Interpreter::Flow Interpreter::exec_if(const Stmt& s) {
  for (const auto& [cond, body] : s.branches) {
    if (!cond || eval(*cond).truthy()) return exec_body(body);
  }
  return Flow::Normal;
}

Interpreter::Flow Interpreter::exec_for(const Stmt& s) {
  List items = iterate(eval(*s.expr));
  count_iterations(static_cast<int64_t>(items.size()));
  ScopePtr outer = scope_;
  auto bind_targets = [&](const Value& item) {
    if (s.targets.size() == 1) {
      scope_->set(s.targets[0], item);
      return;
    }
    List parts = iterate(item);
    if (parts.size() != s.targets.size())
      throw RenderError(parts.size() < s.targets.size() ? "not enough values to unpack" : "too many values to unpack");
    for (size_t i = 0; i < parts.size(); ++i) scope_->set(s.targets[i], parts[i]);
  };
  auto fresh_scope = [&] {
    auto child = std::make_shared<Scope>();
    child->parent = outer;
    return child;
  };
  if (s.filter) {
    List kept;
    for (const Value& item : items) {
      Restore<ScopePtr> scope(scope_, fresh_scope());
      bind_targets(item);
      if (eval(*s.filter).truthy()) kept.push_back(item);
    }
    items = std::move(kept);
  }
  if (items.empty()) return exec_body(s.else_body);
  const int64_t n = static_cast<int64_t>(items.size());
  for (int64_t i = 0; i < n; ++i) {
    Restore<ScopePtr> scope(scope_, fresh_scope());
    Value loop = Value::dict();
    auto& entries = loop.dict_ref().entries;  // fresh dict: append without lookups
    entries.reserve(12);
    auto add = [&](const char* key, Value v) { entries.emplace_back(Value(key), std::move(v)); };
    add("index", Value(i + 1));
    add("index0", Value(i));
    add("revindex", Value(n - i));
    add("revindex0", Value(n - i - 1));
    add("first", Value(i == 0));
    add("last", Value(i == n - 1));
    add("length", Value(n));
    add("depth", Value(1));
    add("depth0", Value(0));
    if (i > 0) add("previtem", items[i - 1]);
    if (i + 1 < n) add("nextitem", items[i + 1]);
    add("cycle", Value::function("cycle", [i](const CallArgs& args) {
      if (args.positional.empty()) throw RenderError("no items for cycling given");
      return args.positional[static_cast<size_t>(i) % args.positional.size()];
    }));
    scope_->set("loop", loop);
    bind_targets(items[i]);
    if (exec_body(s.body) == Flow::Break) break;
  }
  return Flow::Normal;
}

Value Interpreter::call(const Value& fn, const CallArgs& args) {
  if (fn.is_undefined()) throw_undefined(fn);
  if (!fn.is_callable()) throw RenderError("'" + fn.type_name() + "' object is not callable");
  if (depth_ >= limits_.max_call_depth) throw RenderError("maximum call depth exceeded");
  Restore<int> depth(depth_, depth_ + 1);
  return fn.callable().call(args);
}

Value Interpreter::call_macro(const Stmt& def, const ScopePtr& closure, const CallArgs& args) {
  auto frame = std::make_shared<Scope>();
  frame->parent = closure;
  Restore<ScopePtr> scope(scope_, frame);
  for (size_t i = 0; i < def.params.size(); ++i) {
    const auto& [name, default_value] = def.params[i];
    if (const Value* v = args.get(i, name)) {
      frame->set(name, *v);
    } else {
      frame->set(name, default_value ? eval(*default_value) : Value::undefined("'" + name + "' is undefined"));
    }
  }
  Value kwargs = Value::dict();
  for (const auto& [k, v] : args.keyword) {
    bool is_param = false;
    for (const auto& p : def.params) is_param |= p.first == k;
    if (k == "caller") {
      frame->set("caller", v);
    } else if (!is_param) {
      kwargs.dict_ref().set(Value(k), v);
    }
  }
  // Extra positional arguments go to `varargs` (jinja2 only accepts them when the body
  // reads varargs; accepting them always is the lenient superset).
  List extra;
  for (size_t i = def.params.size(); i < args.positional.size(); ++i) extra.push_back(args.positional[i]);
  frame->set("varargs", Value::tuple(std::move(extra)));
  frame->set("kwargs", kwargs);
  return Value(capture(def.body));
}

Value Interpreter::make_macro(const Stmt& s, const std::string& name) {
  std::weak_ptr<Scope> closure = scope_;
  return Value::function(name, [this, &s, closure](const CallArgs& args) {
    ScopePtr scope = closure.lock();
    if (!scope) scope = std::make_shared<Scope>();
    return call_macro(s, scope, args);
  });
}

void Interpreter::exec_macro_definition(const Stmt& s) { scope_->set(s.text, make_macro(s, s.text)); }

void Interpreter::exec_call_block(const Stmt& s) {
  Value caller = make_macro(s, "caller");
  emit(eval_call(*s.expr, &caller).str());
}

CallArgs Interpreter::eval_args(const Expr& e, size_t first) {
  CallArgs args;
  for (size_t i = first; i < e.children.size(); ++i) args.positional.push_back(eval(*e.children[i]));
  for (const auto& [k, v] : e.kwargs) args.keyword.emplace_back(k, eval(*v));
  return args;
}

Value Interpreter::eval_call(const Expr& e, const Value* caller) {
  Value fn = eval(*e.children[0]);
  CallArgs args = eval_args(e, 1);
  if (caller) args.keyword.emplace_back("caller", *caller);
  return call(fn, args);
}

Value Interpreter::apply_filter_chain(const Expr& filter, const Value& input) {
  Value in = filter.children[0] ? apply_filter_chain(*filter.children[0], input) : input;
  return apply_filter(*this, filter.name, in, eval_args(filter, 1));
}

Value Interpreter::eval_compare(const Expr& e) {
  Value left = eval(*e.children[0]);
  for (size_t i = 0; i < e.ops.size(); ++i) {
    Value right = eval(*e.children[i + 1]);
    if (!compare_op(e.ops[i], left, right)) return Value(false);
    left = std::move(right);
  }
  return Value(true);
}

Value Interpreter::eval(const Expr& e) {
  if (nesting_ >= limits_.max_nesting) throw RenderError("template nesting too deep while rendering", e.line);
  Restore<int> nesting(nesting_, nesting_ + 1);
  try {
    return eval_inner(e);
  } catch (const RenderError& err) {
    if (err.line() == 0) throw RenderError(err.raw(), e.line);
    throw;
  }
}

Value Interpreter::eval_inner(const Expr& e) {
  auto child = [&](size_t i) { return eval(*e.children[i]); };
  switch (e.kind) {
    case ExprKind::Literal: return e.literal;
    case ExprKind::Name: return lookup(e.name);
    case ExprKind::List:
    case ExprKind::Tuple: {
      List items;
      for (size_t i = 0; i < e.children.size(); ++i) items.push_back(child(i));
      return e.kind == ExprKind::List ? Value::list(std::move(items)) : Value::tuple(std::move(items));
    }
    case ExprKind::Dict: {
      Value d = Value::dict();
      for (size_t i = 0; i + 1 < e.children.size(); i += 2) d.dict_ref().set(child(i), child(i + 1));
      return d;
    }
    case ExprKind::GetAttr: return get_attribute(child(0), e.name);
    case ExprKind::GetItem: return get_item(child(0), child(1));
    case ExprKind::Slice: {
      Value obj = child(0);
      auto part = [&](size_t i) { return e.children[i] ? child(i) : Value::none(); };
      return get_slice(obj, part(1), part(2), part(3));
    }
    case ExprKind::Call: return eval_call(e, nullptr);
    case ExprKind::Filter: return apply_filter(*this, e.name, child(0), eval_args(e, 1));
    case ExprKind::Test: return Value(apply_test(*this, e.name, child(0), eval_args(e, 1)) != e.negated);
    case ExprKind::Not: return Value(!child(0).truthy());
    case ExprKind::Negate:
    case ExprKind::Plus: {
      Value v = child(0);
      if (v.is_undefined()) throw_undefined(v);
      if (!v.is_number()) throw RenderError("bad operand type for unary " + std::string(e.kind == ExprKind::Negate ? "-" : "+") + ": '" + v.type_name() + "'");
      if (e.kind == ExprKind::Plus) return v.is_bool() ? Value(v.as_int()) : v;
      return v.is_float() ? Value(-v.as_double()) : Value(-v.as_int());
    }
    case ExprKind::Binary: return binary_op(e.name, child(0), child(1));
    case ExprKind::Compare: return eval_compare(e);
    case ExprKind::And: {
      Value left = child(0);
      return left.truthy() ? child(1) : left;
    }
    case ExprKind::Or: {
      Value left = child(0);
      return left.truthy() ? left : child(1);
    }
    case ExprKind::Conditional:
      if (child(1).truthy()) return child(0);
      return e.children[2] ? child(2) : Value::undefined("conditional expression has no else branch");
  }
  throw RenderError("unsupported expression");
}

}  // namespace strata::jinja
