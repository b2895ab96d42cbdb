#include <iostream>

#include "cli/commands.h"

namespace strata::cli {

int bench_command(int, char**) {
  std::cerr << "strata: this command is being built\n";
  return 2;
}

}  // namespace strata::cli
