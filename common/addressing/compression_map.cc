#include "common/addressing/compression_map.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/addressing/npy.h"
#include "common/addressing/sha256.h"
#include "common/status_context.h"
#include "common/status_macros.h"

namespace engram {

CompressionMap::CompressionMap(std::vector<int64_t> lookup,
                               int64_t compressed_vocab)
    : lookup_(std::move(lookup)), compressed_vocab_(compressed_vocab) {
  internal::Sha256 sha;
  uint8_t chunk[8 * 512];
  size_t used = 0;
  for (int64_t value : lookup_) {
    const uint64_t v = static_cast<uint64_t>(value);
    for (int b = 0; b < 8; ++b)
      chunk[used++] = static_cast<uint8_t>(v >> (8 * b));
    if (used == sizeof(chunk)) {
      sha.Update(chunk, used);
      used = 0;
    }
  }
  sha.Update(chunk, used);
  content_digest_ = sha.Finish();
}

absl::StatusOr<std::unique_ptr<CompressionMap>> CompressionMap::FromLookup(
    std::vector<int64_t> lookup, const Options& options) {
  if (options.compressed_vocab < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("compression map: compressed_vocab must be >= 1, got ",
                     options.compressed_vocab));
  }
  if (options.expected_raw_vocab >= 0 &&
      static_cast<int64_t>(lookup.size()) != options.expected_raw_vocab) {
    return absl::InvalidArgumentError(absl::StrCat(
        "compression map has ", lookup.size(), " entries, expected ",
        options.expected_raw_vocab, " (the raw tokenizer vocabulary)"));
  }
  for (size_t i = 0; i < lookup.size(); ++i) {
    if (lookup[i] < 0 || lookup[i] >= options.compressed_vocab) {
      return absl::InvalidArgumentError(
          absl::StrCat("compression map entry ", i, " is ", lookup[i],
                       ", outside [0, ", options.compressed_vocab, ")"));
    }
  }
  return std::unique_ptr<CompressionMap>(
      new CompressionMap(std::move(lookup), options.compressed_vocab));
}

absl::StatusOr<std::unique_ptr<CompressionMap>> CompressionMap::Load(
    const std::string& npy_path, const Options& options) {
  ENGRAM_ASSIGN_OR_RETURN(std::vector<int64_t> lookup,
                          internal::ReadNpyInt64(npy_path));
  absl::StatusOr<std::unique_ptr<CompressionMap>> map =
      FromLookup(std::move(lookup), options);
  if (!map.ok()) {
    return Annotate(map.status(), absl::StrCat(npy_path, ": "));
  }
  return map;
}

}  // namespace engram
