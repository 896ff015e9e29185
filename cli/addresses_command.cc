#include "cli/addresses_command.h"

#include <cstdint>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "cli/hash_spec_flags.h"
#include "cli/token_batch.h"
#include "common/addressing/hash_spec.h"
#include "common/addressing/vector_json.h"
#include "common/status_macros.h"

ABSL_FLAG(std::string, tokens, "",
          "addresses, explain: token ids, ',' between tokens, ';' between "
          "sequences.");

namespace engram::cli {

absl::StatusOr<std::string> RunAddressesCommand() {
  if (absl::GetFlag(FLAGS_tokens).empty()) {
    return absl::InvalidArgumentError("--tokens is required");
  }
  ENGRAM_ASSIGN_OR_RETURN(HashSpecConfig config, HashSpecConfigFromFlags());
  // Row width does not affect addresses; one value per head keeps it valid.
  if (config.n_embed_per_ngram == 0) {
    config.n_embed_per_ngram = config.heads_per_ngram;
  }
  ENGRAM_ASSIGN_OR_RETURN(HashSpec spec, HashSpec::FromConfig(config));
  ENGRAM_ASSIGN_OR_RETURN(
      TokenBatch batch,
      ParseTokenBatch(absl::GetFlag(FLAGS_tokens), config.pad_id));
  // Full-length batches get the reference layout exactly, with no lengths.
  return AddressesToJson(spec, batch.tokens, batch.batch, batch.time,
                         batch.ragged()
                             ? absl::Span<const int32_t>(batch.lengths)
                             : absl::Span<const int32_t>());
}

}  // namespace engram::cli
