#pragma once
// Errors: one exception type that carries a message naming the problem (the file and
// offset, the parameter, the template line). Callers at the edges (CLI, server) turn
// it into an exit code or an HTTP error; nothing in between swallows it.
#include <cstdint>
#include <stdexcept>
#include <string>

namespace strata {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A malformed model/tokenizer file: the message names the path and byte offset.
class FileFormatError : public Error {
 public:
  FileFormatError(const std::string& path, uint64_t offset, const std::string& what)
      : Error(path + ": at offset " + std::to_string(offset) + ": " + what),
        path_(path), offset_(offset) {}
  const std::string& path() const { return path_; }
  uint64_t offset() const { return offset_; }

 private:
  std::string path_;
  uint64_t offset_;
};

// Invalid user input (a request parameter, a CLI flag): names the parameter.
class InvalidArgument : public Error {
 public:
  InvalidArgument(std::string param, const std::string& message)
      : Error(message), param_(std::move(param)) {}
  const std::string& param() const { return param_; }

 private:
  std::string param_;
};

}  // namespace strata
