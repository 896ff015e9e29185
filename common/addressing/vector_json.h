// Addressing test vectors as JSON, in the layout of the shared reference
// vectors (/work/shared/reference/addressing-vectors-*.json), byte for byte
// what Python's json.dumps writes for them:
//
//   {"config": {"seed": 0, "layer_ids": [1, 15], "vocab_sizes": [...],
//               "max_ngram": 3, "heads_per_ngram": 8, "pad_id": 2,
//               "tokenizer_vocab": 129280},
//    "tokens": [[...], ...],
//    "layers": {"1": {"multipliers": [...], "head_sizes": [...],
//                     "hash_ids": [[[...]]], "row_ids": [[[...]]]}, ...}}
//
// hash_ids and row_ids are [batch][time][(max_ngram-1)*heads]. Integers are
// printed exactly. Additions, only when they apply (the shared files have
// neither):
//   * a compression map adds "compression_raw_vocab" and "compression_sha256"
//     (SHA-256 of the lookup as little-endian int64) at the end of "config";
//   * sequences shorter than `time` add "padding": "left" and "lengths":
//     [...] after "tokens" (see addresser.h for what left padding means).
//
//   absl::StatusOr<std::string> json =
//       AddressesToJson(spec, tokens, batch, time, /*lengths=*/{});
//
// Thread-safe.
#ifndef ENGRAM_COMMON_ADDRESSING_VECTOR_JSON_H_
#define ENGRAM_COMMON_ADDRESSING_VECTOR_JSON_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/addressing/hash_spec.h"

namespace engram {

// AddressesToJson addresses `tokens` ([batch][time] raw ids, left-padded per
// `lengths`, which may be empty) for every layer of `spec` and renders the
// vector JSON. Errors: as ComputeRowIds (addresser.h).
absl::StatusOr<std::string> AddressesToJson(const HashSpec& spec,
                                            absl::Span<const int64_t> tokens,
                                            int batch, int time,
                                            absl::Span<const int32_t> lengths);

}  // namespace engram

#endif  // ENGRAM_COMMON_ADDRESSING_VECTOR_JSON_H_
