// BuildCompressionLookup: the token compression lookup (raw id ->
// compressed id, step 1 of the addressing) of a tokenizer, built exactly as
// the reference's CompressedTokenizer._build_lookup_table does with HF
// tokenizers, so that a real model can be served without Python:
//
//   for each raw id in 0..len(tokenizer)-1, in order:
//     text = tokenizer.decode([id])       (TokenizerJson::DecodeToken)
//     if text has U+FFFD (its bytes are not valid UTF-8, e.g. a byte-level
//         token holding part of a character, or it spells U+FFFD itself):
//       key = the raw token string        (convert_ids_to_tokens)
//     else:
//       key = ReferenceNormalize(text), or text itself when that is empty
//     the key's compressed id: the next new one the first time it is seen
//
// Raw token strings and normalised texts share one key space, as in the
// reference's one dict. The result is what CompressionMap::Load reads when
// written with internal::EncodeNpyInt64, and compressed_vocab is the hash
// spec's tokenizer_vocab.
//
//   ENGRAM_ASSIGN_OR_RETURN(TokenizerJson tokenizer,
//                           TokenizerJson::Load("tokenizer.json"));
//   ENGRAM_ASSIGN_OR_RETURN(CompressionLookup map,
//                           BuildCompressionLookup(tokenizer));
//
// Not applied (the reference leaves them to the tokenizer's Python side):
// tokenizer_config.json's clean_up_tokenization_spaces, which DeepSeek-V3
// sets false.
//
// Thread-safe.
#ifndef ENGRAM_COMMON_ADDRESSING_TOKENIZER_COMPRESSION_H_
#define ENGRAM_COMMON_ADDRESSING_TOKENIZER_COMPRESSION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/addressing/tokenizer_json.h"

namespace engram {

struct CompressionLookup {
  // Raw id -> compressed id; one per token id of the tokenizer.
  std::vector<int64_t> lookup;
  // Distinct keys: compressed ids are [0, compressed_vocab).
  int64_t compressed_vocab = 0;
};

// CompressionKey is the key token `id` is folded by (above).
// REQUIRES: 0 <= id < tokenizer.size(). Errors: ReferenceNormalize's
// Internal error only.
absl::StatusOr<std::string> CompressionKey(const TokenizerJson& tokenizer,
                                           int64_t id);

// BuildCompressionLookup folds every token of `tokenizer`. Errors: as
// CompressionKey.
absl::StatusOr<CompressionLookup> BuildCompressionLookup(
    const TokenizerJson& tokenizer);

}  // namespace engram

#endif  // ENGRAM_COMMON_ADDRESSING_TOKENIZER_COMPRESSION_H_
