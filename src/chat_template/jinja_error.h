#pragma once
// Errors raised while lexing, parsing or rendering a template. The interpreter adds the
// template line to a RenderError once, at the innermost statement or expression that
// failed, so that the message names where the problem is.
#include <string>

#include "core/error.h"

namespace strata::jinja {

class RenderError : public Error {
 public:
  explicit RenderError(const std::string& message, int line = 0)
      : Error(line > 0 ? "chat template line " + std::to_string(line) + ": " + message : message),
        raw_(message), line_(line) {}
  int line() const { return line_; }
  const std::string& raw() const { return raw_; }

 private:
  std::string raw_;
  int line_;
};

// A syntax error: always carries the line (and column when known).
inline Error syntax_error(int line, int column, const std::string& message) {
  return Error("chat template syntax error at line " + std::to_string(line) +
               (column > 0 ? ", column " + std::to_string(column) : "") + ": " + message);
}

}  // namespace strata::jinja
