// CompressionMap: the reference's token compression lookup (step 1 of the
// Engram addressing, see /work/shared/reference/engram-addressing.md).
//
// A model folds raw tokenizer ids whose normalised text is equal into one
// compressed id; the lookup is an int64 array, raw id -> compressed id, saved
// with np.save. The reference replaces every id >= 0 by lookup[id] and leaves
// negative ids alone; this server rejects negative ids elsewhere (see
// addresser.h), so Compress only maps ids in [0, raw_vocab()).
//
//   CompressionMap::Options options;
//   options.compressed_vocab = 129280;  // the HashSpec's tokenizer_vocab
//   absl::StatusOr<std::unique_ptr<CompressionMap>> map =
//       CompressionMap::Load("/models/x/compression.npy", options);
//
// Immutable after creation: thread-safe.
#ifndef ENGRAM_COMMON_ADDRESSING_COMPRESSION_MAP_H_
#define ENGRAM_COMMON_ADDRESSING_COMPRESSION_MAP_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/addressing/sha256.h"

namespace engram {

class CompressionMap {
 public:
  struct Options {
    // Size of the compressed vocabulary (the HashSpec's tokenizer_vocab):
    // every value of the lookup must lie in [0, compressed_vocab). Required.
    int64_t compressed_vocab = 0;
    // Expected length of the lookup (the raw tokenizer's vocabulary size);
    // -1 accepts any length.
    int64_t expected_raw_vocab = -1;
  };

  // Load reads a .npy file ('<i8', 1-D; see npy.h).
  // Errors: NotFound if unreadable; InvalidArgument for a bad file (dtype,
  // shape, size), a length other than expected_raw_vocab, or a value outside
  // [0, compressed_vocab) (the first such index and value are named).
  static absl::StatusOr<std::unique_ptr<CompressionMap>> Load(
      const std::string& npy_path, const Options& options);

  // FromLookup validates an in-memory lookup like Load.
  static absl::StatusOr<std::unique_ptr<CompressionMap>> FromLookup(
      std::vector<int64_t> lookup, const Options& options);

  // FromLittleEndian validates a lookup given as little-endian int64 values
  // (as LittleEndian() writes it) like Load; InvalidArgument also for a
  // size that is not a multiple of 8 bytes.
  static absl::StatusOr<std::unique_ptr<CompressionMap>> FromLittleEndian(
      absl::string_view bytes, const Options& options);

  // raw_vocab is the lookup's length: valid raw ids are [0, raw_vocab).
  int64_t raw_vocab() const { return static_cast<int64_t>(lookup_.size()); }
  int64_t compressed_vocab() const { return compressed_vocab_; }
  absl::Span<const int64_t> lookup() const { return lookup_; }

  // Compress maps one raw id. REQUIRES: 0 <= raw_id < raw_vocab().
  int64_t Compress(int64_t raw_id) const { return lookup_[raw_id]; }

  // CompressInPlace maps every id of `ids`. InvalidArgument naming the
  // first id outside [0, raw_vocab()) and its position (`ids` are then
  // partly mapped).
  absl::Status CompressInPlace(absl::Span<int64_t> ids) const;

  // The lookup as little-endian int64 values: the bytes content_digest
  // covers, and what FromLittleEndian reads.
  std::string LittleEndian() const;

  // content_digest is SHA-256 over the lookup as little-endian int64 values
  // (the same bytes as the .npy data section); HashSpec::Digest covers it.
  const internal::Sha256::Digest& content_digest() const {
    return content_digest_;
  }

 private:
  CompressionMap(std::vector<int64_t> lookup, int64_t compressed_vocab);

  std::vector<int64_t> lookup_;
  int64_t compressed_vocab_;
  internal::Sha256::Digest content_digest_;
};

}  // namespace engram

#endif  // ENGRAM_COMMON_ADDRESSING_COMPRESSION_MAP_H_
