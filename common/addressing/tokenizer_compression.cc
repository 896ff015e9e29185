#include "common/addressing/tokenizer_compression.h"

#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "common/addressing/reference_normalizer.h"
#include "common/status_macros.h"

namespace engram {
namespace {

// U+FFFD in UTF-8: what HF's lossy decoding puts for bytes that are not
// UTF-8, and what the reference looks for.
constexpr absl::string_view kReplacementCharacter = "\xEF\xBF\xBD";

}  // namespace

absl::StatusOr<std::string> CompressionKey(const TokenizerJson& tokenizer,
                                           int64_t id) {
  std::string text = tokenizer.DecodeToken(id);
  if (!IsValidUtf8(text) || absl::StrContains(text, kReplacementCharacter)) {
    return tokenizer.token(id);
  }
  ENGRAM_ASSIGN_OR_RETURN(std::string normalized, ReferenceNormalize(text));
  return normalized.empty() ? text : normalized;
}

absl::StatusOr<CompressionLookup> BuildCompressionLookup(
    const TokenizerJson& tokenizer) {
  CompressionLookup result;
  result.lookup.reserve(tokenizer.size());
  absl::flat_hash_map<std::string, int64_t> compressed_of_key;
  for (int64_t id = 0; id < tokenizer.size(); ++id) {
    ENGRAM_ASSIGN_OR_RETURN(std::string key, CompressionKey(tokenizer, id));
    const auto [it, inserted] =
        compressed_of_key.try_emplace(std::move(key), result.compressed_vocab);
    if (inserted) ++result.compressed_vocab;
    result.lookup.push_back(it->second);
  }
  return result;
}

}  // namespace engram
