#include "cli/token_batch.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_split.h"
#include "common/cli_flags.h"
#include "common/status_macros.h"

namespace engram::cli {

bool TokenBatch::ragged() const {
  return std::any_of(lengths.begin(), lengths.end(),
                     [&](int32_t length) { return length != time; });
}

absl::StatusOr<TokenBatch> ParseTokenBatch(absl::string_view text,
                                           int64_t pad_id) {
  std::vector<std::vector<int64_t>> sequences;
  for (absl::string_view sequence : absl::StrSplit(text, ';')) {
    ENGRAM_ASSIGN_OR_RETURN(std::vector<int64_t> ids,
                            ParseIntegerList("tokens", sequence));
    sequences.push_back(std::move(ids));
  }
  TokenBatch batch;
  batch.batch = static_cast<int>(sequences.size());
  for (const auto& sequence : sequences) {
    batch.time = std::max(batch.time, static_cast<int>(sequence.size()));
  }
  for (const auto& sequence : sequences) {
    batch.tokens.insert(batch.tokens.end(), batch.time - sequence.size(),
                        pad_id);
    batch.tokens.insert(batch.tokens.end(), sequence.begin(), sequence.end());
    batch.lengths.push_back(static_cast<int32_t>(sequence.size()));
  }
  return batch;
}

}  // namespace engram::cli
