// TokenBatch: the token ids of a `--tokens "1,2,3;4,5"` flag, as the
// commands that address tokens (addresses, explain) take them: ',' between
// tokens, ';' between sequences. Shorter sequences are left-padded, the way
// the addressers expect a batch (see common/addressing/addresser.h).
//
//   ENGRAM_ASSIGN_OR_RETURN(TokenBatch batch, ParseTokenBatch("1,2;3", 2));
//   // batch.tokens == {1, 2, 2, 3}, batch.lengths == {2, 1}
#ifndef ENGRAM_CLI_TOKEN_BATCH_H_
#define ENGRAM_CLI_TOKEN_BATCH_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace engram::cli {

struct TokenBatch {
  std::vector<int64_t> tokens;   // [batch][time], left-padded.
  std::vector<int32_t> lengths;  // Real tokens per sequence.
  int batch = 0;
  int time = 0;

  // Whether some sequence is shorter than `time` (padded).
  bool ragged() const;
};

// Parses `text`, padding with `pad_id`. InvalidArgument naming the bad item
// (via ParseIntegerList, as flag "tokens").
absl::StatusOr<TokenBatch> ParseTokenBatch(absl::string_view text,
                                           int64_t pad_id);

}  // namespace engram::cli

#endif  // ENGRAM_CLI_TOKEN_BATCH_H_
