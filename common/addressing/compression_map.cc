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
  const std::string bytes = LittleEndian();
  internal::Sha256 sha;
  sha.Update(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  content_digest_ = sha.Finish();
}

std::string CompressionMap::LittleEndian() const {
  std::string bytes(lookup_.size() * sizeof(int64_t), '\0');
  for (size_t i = 0; i < lookup_.size(); ++i) {
    const uint64_t v = static_cast<uint64_t>(lookup_[i]);
    for (int b = 0; b < 8; ++b) {
      bytes[i * 8 + b] = static_cast<char>(v >> (8 * b));
    }
  }
  return bytes;
}

absl::Status CompressionMap::CompressInPlace(absl::Span<int64_t> ids) const {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= raw_vocab()) {
      return absl::InvalidArgumentError(
          absl::StrCat("token ", ids[i], " at position ", i,
                       " is outside the compression map's raw vocabulary [0, ",
                       raw_vocab(), ")"));
    }
    ids[i] = lookup_[ids[i]];
  }
  return absl::OkStatus();
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

absl::StatusOr<std::unique_ptr<CompressionMap>>
CompressionMap::FromLittleEndian(absl::string_view bytes,
                                 const Options& options) {
  if (bytes.size() % sizeof(int64_t) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("compression map of ", bytes.size(),
                     " bytes: not a whole number of 8-byte int64 values"));
  }
  std::vector<int64_t> lookup(bytes.size() / sizeof(int64_t));
  for (size_t i = 0; i < lookup.size(); ++i) {
    uint64_t v = 0;
    for (int b = 0; b < 8; ++b) {
      v |= uint64_t{static_cast<uint8_t>(bytes[i * 8 + b])} << (8 * b);
    }
    lookup[i] = static_cast<int64_t>(v);
  }
  return FromLookup(std::move(lookup), options);
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
