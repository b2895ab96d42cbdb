#include "kernels/forward_batch.h"

#include "core/error.h"

namespace strata {

void ForwardBatch::add_sequence(const std::vector<int32_t>& tokens, int32_t num_cached,
                                const std::vector<int32_t>& block_table, int block_size,
                                Logits want_logits) {
  const int32_t total = num_cached + static_cast<int32_t>(tokens.size());
  if (static_cast<int64_t>(block_table.size()) * block_size < total)
    throw Error("block table of " + std::to_string(block_table.size()) + " blocks cannot hold " +
                std::to_string(total) + " tokens");
  const int32_t first_row = query_start.back();
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int32_t pos = num_cached + static_cast<int32_t>(i);
    token_ids.push_back(tokens[i]);
    positions.push_back(pos);
    slot_mapping.push_back(block_table[static_cast<size_t>(pos / block_size)] * block_size + pos % block_size);
  }
  query_start.push_back(first_row + static_cast<int32_t>(tokens.size()));
  context_lens.push_back(total);
  block_tables.push_back(block_table);
  if (want_logits == Logits::Last && !tokens.empty()) {
    logit_rows.push_back(first_row + static_cast<int32_t>(tokens.size()) - 1);
  } else if (want_logits == Logits::All) {
    for (size_t i = 0; i < tokens.size(); ++i) logit_rows.push_back(first_row + static_cast<int32_t>(i));
  }
}

}  // namespace strata
