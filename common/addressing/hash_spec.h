// HashSpec: everything that determines an Engram model's row addresses.
//
// The addressing function is DeepSeek's reference (engram_demo_v1.py),
// restated in /work/shared/reference/engram-addressing.md. A HashSpec holds
// its config and what the reference derives from it: per layer, the
// max_ngram odd multipliers (numpy default_rng(seed + 10007 * layer_id)),
// the (max_ngram - 1) * heads_per_ngram prime table sizes (distinct across
// the whole model), each head's row offset, and the per-head constants of
// the fast floor modulo used by the addressers.
//
//   HashSpecConfig config;           // reference defaults
//   config.tokenizer_vocab = 129280;
//   absl::StatusOr<HashSpec> spec = HashSpec::FromConfig(config);
//   int64_t rows = spec->rows_in_layer(0);     // table height of layer 1
//   std::string id = spec->Digest();           // stable 64-hex-char id
//
// A model manifest that carries the derived values explicitly is loaded with
// FromManifest, which checks them instead of deriving them.
//
// Immutable after creation; copyable; thread-safe.
//
// Digest layout (format version 1). The digest is the lowercase hex SHA-256
// of these bytes, all integers little-endian:
//
//   16 bytes  "ENGRAM-HASHSPEC" followed by one 0 byte
//   u32       format version (1)
//   u32       max_ngram
//   u32       heads_per_ngram
//   i64       n_embed_per_ngram
//   i64       tokenizer_vocab
//   i64       pad_id (compressed, as used in the hash)
//   u32       number of layers L
//   L times, in layer order:
//     i64       layer_id
//     i64 x max_ngram                       multipliers
//     i64 x (max_ngram - 1) * heads_per_ngram head sizes (n=2 heads, n=3 ...)
//   u8        compression: 0 identity, 1 lookup table
//   if 1:  i64 raw vocabulary (lookup length), then the 32-byte SHA-256 of
//          the lookup as little-endian int64 values
//
// seed and vocab_sizes are deliberately absent: they matter only through the
// multipliers and head sizes, which are present, so a manifest spec and the
// config spec it was derived from have the same digest. The raw pad id is
// absent for the same reason (only its compressed value enters the hash).
#ifndef ENGRAM_COMMON_ADDRESSING_HASH_SPEC_H_
#define ENGRAM_COMMON_ADDRESSING_HASH_SPEC_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/addressing/compression_map.h"
#include "common/addressing/fast_mod.h"

namespace engram {

// HashSpecConfig is the reference's NgramHashMapping arguments. Defaults are
// the reference defaults (engram_demo_v1.py) with DeepSeek-V3's compressed
// vocabulary.
struct HashSpecConfig {
  // Global hashing seed; >= 0.
  int64_t seed = 0;
  // Backbone layers that carry an Engram module; non-empty, distinct, >= 0.
  std::vector<int64_t> layer_ids = {1, 15};
  // Largest n-gram order; orders 2..max_ngram are hashed. In [2, kMaxNgram].
  int max_ngram = 3;
  // Target table size per n-gram order (index n-2); max_ngram - 1 values,
  // each in [2, 2^62]. Each head's size is a prime above it.
  std::vector<int64_t> vocab_sizes = {646400, 646400};
  // Hash heads per n-gram order; in [1, 4096].
  int heads_per_ngram = 8;
  // Embedding width per n-gram order; a positive multiple of
  // heads_per_ngram (each head's row holds n_embed / heads values).
  int64_t n_embed_per_ngram = 512;
  // Padding token as a *raw* id, like the reference's pad_id argument: it is
  // compressed through `compression` (the reference does
  // lookup_table[pad_id]). Must be a valid raw id.
  int64_t pad_id = 2;
  // Size of the compressed vocabulary (len(CompressedTokenizer)); >= 1.
  // Bounds the multipliers, and valid compressed ids are [0, it).
  int64_t tokenizer_vocab = 129280;
  // Raw id -> compressed id; null means identity (raw ids are compressed
  // ids, valid in [0, tokenizer_vocab)). Its compressed_vocab() must equal
  // tokenizer_vocab.
  std::shared_ptr<const CompressionMap> compression;
};

namespace internal {

// Smallest head size for which a quotient estimated in double precision is
// off by at most one for every dividend below 2^63: the estimate's error is
// below 3 * 2^10 / p, under 1/2 from 2^13 on; 2^14 leaves margin.
inline constexpr int64_t kMinReciprocalModulus = int64_t{1} << 14;

// LayerTables is one layer's derived addressing constants. Heads are
// ordered n=2 heads 0..H-1, then n=3 heads 0..H-1, and so on.
struct LayerTables {
  int64_t layer_id = 0;
  std::vector<int64_t> multipliers;   // max_ngram values
  std::vector<int64_t> head_sizes;    // (max_ngram-1)*H primes
  std::vector<int64_t> head_offsets;  // running sum of earlier head sizes
  std::vector<FloorModulus> moduli;   // one per head
  std::vector<double> reciprocals;    // 1.0 / head size, one per head
  // Whether every head size is >= kMinReciprocalModulus, so the addresser
  // may take quotients from the double reciprocals (see addresser.cc).
  bool reciprocal_mod_exact = false;
  int64_t total_rows = 0;  // sum of head_sizes
};

}  // namespace internal

class HashSpec {
 public:
  // Largest supported max_ngram (addressers keep one window on the stack).
  static constexpr int kMaxNgram = 16;
  static constexpr int kMaxHeadsPerNgram = 4096;
  static constexpr int64_t kMaxTableSize = int64_t{1} << 62;

  // FromConfig derives multipliers and head sizes as the reference does.
  // Errors: InvalidArgument naming the offending field (see the bounds on
  // HashSpecConfig), e.g. "HashSpec: max_ngram must be in [2, 16], got 1".
  static absl::StatusOr<HashSpec> FromConfig(const HashSpecConfig& config);

  // FromManifest takes the derived values explicitly (multipliers[layer] has
  // max_ngram values, head_sizes[layer] has (max_ngram-1)*heads_per_ngram),
  // in config.layer_ids order. config.seed and config.vocab_sizes are kept
  // but not used. Errors: InvalidArgument as FromConfig, and for wrong
  // counts, a multiplier outside [1, max(1, INT64_MAX / tokenizer_vocab)]
  // (the bound that keeps products from overflowing), a head size that is
  // not prime or is used twice in the model, or layers whose total rows
  // overflow int64.
  static absl::StatusOr<HashSpec> FromManifest(
      const HashSpecConfig& config,
      std::vector<std::vector<int64_t>> multipliers,
      std::vector<std::vector<int64_t>> head_sizes);

  const HashSpecConfig& config() const { return config_; }

  int num_layers() const { return static_cast<int>(layers_.size()); }
  int64_t layer_id(int layer_index) const {
    return layers_[layer_index].layer_id;
  }
  // LayerIndex finds a layer by its backbone id.
  // Errors: NotFound when the model has no Engram module at that layer.
  absl::StatusOr<int> LayerIndex(int64_t layer_id) const;

  int max_ngram() const { return config_.max_ngram; }
  int heads_per_ngram() const { return config_.heads_per_ngram; }
  // rows_per_token is (max_ngram - 1) * heads_per_ngram: rows per token and
  // layer.
  int rows_per_token() const {
    return (config_.max_ngram - 1) * config_.heads_per_ngram;
  }
  int64_t n_embed_per_ngram() const { return config_.n_embed_per_ngram; }
  // head_dim is the width of one row: n_embed_per_ngram / heads_per_ngram.
  int64_t head_dim() const {
    return config_.n_embed_per_ngram / config_.heads_per_ngram;
  }
  int64_t tokenizer_vocab() const { return config_.tokenizer_vocab; }
  // pad_id is the compressed padding id, the value the hash uses.
  int64_t pad_id() const { return pad_id_; }
  int64_t raw_pad_id() const { return config_.pad_id; }
  // raw_vocab bounds the raw ids the addressers accept: [0, raw_vocab).
  int64_t raw_vocab() const {
    return config_.compression ? config_.compression->raw_vocab()
                               : config_.tokenizer_vocab;
  }
  // compression is null for identity.
  const CompressionMap* compression() const {
    return config_.compression.get();
  }

  absl::Span<const int64_t> multipliers(int layer_index) const {
    return layers_[layer_index].multipliers;
  }
  absl::Span<const int64_t> head_sizes(int layer_index) const {
    return layers_[layer_index].head_sizes;
  }
  absl::Span<const int64_t> head_offsets(int layer_index) const {
    return layers_[layer_index].head_offsets;
  }
  // rows_in_layer is the height of the layer's table: the sum of its sizes.
  int64_t rows_in_layer(int layer_index) const {
    return layers_[layer_index].total_rows;
  }
  const internal::LayerTables& layer_tables(int layer_index) const {
    return layers_[layer_index];
  }

  // Digest identifies the addressing function (see the layout above): equal
  // digests mean equal row addresses for every input.
  const std::string& Digest() const { return digest_; }
  // DigestInput returns the bytes that Digest hashes.
  std::string DigestInput() const;

 private:
  HashSpec() = default;
  static absl::StatusOr<HashSpec> Build(
      const HashSpecConfig& config,
      std::vector<std::vector<int64_t>> multipliers,
      std::vector<std::vector<int64_t>> head_sizes);

  HashSpecConfig config_;
  int64_t pad_id_ = 0;
  std::vector<internal::LayerTables> layers_;
  std::string digest_;
};

// ReferenceMultiplierBound is max(1, INT64_MAX / tokenizer_vocab): the
// largest multiplier for which (tokenizer_vocab - 1) * m cannot overflow.
// REQUIRES: tokenizer_vocab >= 1.
int64_t ReferenceMultiplierBound(int64_t tokenizer_vocab);

// ReferenceMultipliers computes one layer's multipliers like the reference:
// r = default_rng(seed + 10007 * layer_id).integers(0, half, max_ngram,
// int64) with half = max(1, (INT64_MAX / tokenizer_vocab) / 2); m = 2r + 1.
// Errors: InvalidArgument for a negative seed or layer_id, seed + 10007 *
// layer_id beyond 2^64 - 1, max_ngram < 1 or tokenizer_vocab < 1.
absl::StatusOr<std::vector<int64_t>> ReferenceMultipliers(
    int64_t seed, int64_t layer_id, int max_ngram, int64_t tokenizer_vocab);

// ReferenceHeadSizes computes all layers' prime head sizes like the
// reference: in layer, n-gram, head order, the next prime strictly above the
// running start (vocab_sizes[n-2] - 1 for each layer's order n) that no
// earlier head took. Result [layer][(n-2)*heads + head].
// Errors: InvalidArgument for bad counts or vocab sizes outside [2, 2^62].
absl::StatusOr<std::vector<std::vector<int64_t>>> ReferenceHeadSizes(
    int num_layers, int max_ngram, absl::Span<const int64_t> vocab_sizes,
    int heads_per_ngram);

}  // namespace engram

#endif  // ENGRAM_COMMON_ADDRESSING_HASH_SPEC_H_
