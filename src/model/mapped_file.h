#pragma once
// Read-only memory mapping of a whole file, wrapped as Storage so that tensor views into
// it keep the mapping alive (the last view to go unmaps the file).
#include <memory>
#include <string>

#include "core/tensor.h"

namespace strata {

// Maps `path` read-only. Throws Error naming the path if it cannot be opened or mapped.
// An empty file yields a Storage of 0 bytes (parsers then report the truncation).
std::shared_ptr<Storage> map_file_readonly(const std::string& path);

}  // namespace strata
