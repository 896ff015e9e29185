#include "common/addressing/hash_spec.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/addressing/numpy_random.h"
#include "common/addressing/primes.h"
#include "common/addressing/sha256.h"
#include "common/status_macros.h"

namespace engram {
namespace {

constexpr int64_t kLayerSeedPrime = 10007;  // PRIME_1 of the reference
constexpr uint32_t kDigestFormatVersion = 1;

absl::Status ConfigError(absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("HashSpec: ", message));
}

// Checks what both constructors need, before anything is derived.
absl::Status ValidateConfig(const HashSpecConfig& config) {
  if (config.seed < 0) {
    return ConfigError(absl::StrCat("seed must be >= 0, got ", config.seed));
  }
  if (config.max_ngram < 2 || config.max_ngram > HashSpec::kMaxNgram) {
    return ConfigError(absl::StrCat("max_ngram must be in [2, ",
                                    HashSpec::kMaxNgram, "], got ",
                                    config.max_ngram));
  }
  if (config.heads_per_ngram < 1 ||
      config.heads_per_ngram > HashSpec::kMaxHeadsPerNgram) {
    return ConfigError(absl::StrCat("heads_per_ngram must be in [1, ",
                                    HashSpec::kMaxHeadsPerNgram, "], got ",
                                    config.heads_per_ngram));
  }
  if (config.n_embed_per_ngram < 1 ||
      config.n_embed_per_ngram % config.heads_per_ngram != 0) {
    return ConfigError(absl::StrCat(
        "n_embed_per_ngram must be a positive multiple of heads_per_ngram (",
        config.heads_per_ngram, "), got ", config.n_embed_per_ngram));
  }
  if (config.tokenizer_vocab < 1) {
    return ConfigError(absl::StrCat("tokenizer_vocab must be >= 1, got ",
                                    config.tokenizer_vocab));
  }
  if (config.layer_ids.empty()) {
    return ConfigError("layer_ids must not be empty");
  }
  absl::flat_hash_set<int64_t> seen_layers;
  for (int64_t id : config.layer_ids) {
    if (id < 0) {
      return ConfigError(absl::StrCat("layer_ids must be >= 0, got ", id));
    }
    if (!seen_layers.insert(id).second) {
      return ConfigError(absl::StrCat("layer id ", id, " is listed twice"));
    }
  }
  if (config.vocab_sizes.size() != static_cast<size_t>(config.max_ngram - 1)) {
    return ConfigError(absl::StrCat(
        "vocab_sizes must have max_ngram - 1 = ", config.max_ngram - 1,
        " values, got ", config.vocab_sizes.size()));
  }
  for (size_t i = 0; i < config.vocab_sizes.size(); ++i) {
    const int64_t size = config.vocab_sizes[i];
    if (size < 2 || size > HashSpec::kMaxTableSize) {
      return ConfigError(absl::StrCat("vocab_sizes[", i,
                                      "] must be in [2, 2^62], got ", size));
    }
  }
  const CompressionMap* map = config.compression.get();
  if (map != nullptr && map->compressed_vocab() != config.tokenizer_vocab) {
    return ConfigError(absl::StrCat(
        "compression map targets a vocabulary of ", map->compressed_vocab(),
        " ids but tokenizer_vocab is ", config.tokenizer_vocab));
  }
  const int64_t raw_vocab =
      map != nullptr ? map->raw_vocab() : config.tokenizer_vocab;
  if (config.pad_id < 0 || config.pad_id >= raw_vocab) {
    return ConfigError(absl::StrCat("pad_id must be a valid raw id in [0, ",
                                    raw_vocab, "), got ", config.pad_id));
  }
  return absl::OkStatus();
}

template <typename T>
void AppendLittleEndian(std::string& out, T value) {
  using U = std::make_unsigned_t<T>;
  const U v = static_cast<U>(value);
  for (size_t b = 0; b < sizeof(T); ++b) {
    out.push_back(static_cast<char>(static_cast<uint8_t>(v >> (8 * b))));
  }
}

}  // namespace

int64_t ReferenceMultiplierBound(int64_t tokenizer_vocab) {
  return std::max<int64_t>(
      1, std::numeric_limits<int64_t>::max() / tokenizer_vocab);
}

absl::StatusOr<std::vector<int64_t>> ReferenceMultipliers(
    int64_t seed, int64_t layer_id, int max_ngram, int64_t tokenizer_vocab) {
  if (seed < 0 || layer_id < 0) {
    return ConfigError(absl::StrCat("seed and layer_id must be >= 0, got ",
                                    seed, " and ", layer_id));
  }
  if (max_ngram < 1 || tokenizer_vocab < 1) {
    return ConfigError("max_ngram and tokenizer_vocab must be >= 1");
  }
  const unsigned __int128 layer_seed =
      static_cast<unsigned __int128>(seed) +
      static_cast<unsigned __int128>(kLayerSeedPrime) * layer_id;
  if (layer_seed > std::numeric_limits<uint64_t>::max()) {
    return ConfigError(absl::StrCat("seed + 10007 * layer_id exceeds 2^64 - 1",
                                    " for layer ", layer_id));
  }
  const int64_t m_max = std::numeric_limits<int64_t>::max() / tokenizer_vocab;
  const int64_t half_bound = std::max<int64_t>(1, m_max / 2);
  ENGRAM_ASSIGN_OR_RETURN(
      std::vector<int64_t> r,
      internal::NumpyDefaultRngIntegersInt64(static_cast<uint64_t>(layer_seed),
                                             0, half_bound, max_ngram));
  for (int64_t& value : r) value = 2 * value + 1;
  return r;
}

absl::StatusOr<std::vector<std::vector<int64_t>>> ReferenceHeadSizes(
    int num_layers, int max_ngram, absl::Span<const int64_t> vocab_sizes,
    int heads_per_ngram) {
  if (num_layers < 1 || max_ngram < 2 || heads_per_ngram < 1 ||
      vocab_sizes.size() != static_cast<size_t>(max_ngram - 1)) {
    return ConfigError("ReferenceHeadSizes: bad counts");
  }
  for (int64_t size : vocab_sizes) {
    if (size < 2 || size > HashSpec::kMaxTableSize) {
      return ConfigError(
          absl::StrCat("vocab size must be in [2, 2^62], got ", size));
    }
  }
  absl::flat_hash_set<int64_t> seen;
  std::vector<std::vector<int64_t>> sizes(num_layers);
  for (int layer = 0; layer < num_layers; ++layer) {
    for (int n = 2; n <= max_ngram; ++n) {
      uint64_t start = static_cast<uint64_t>(vocab_sizes[n - 2] - 1);
      for (int head = 0; head < heads_per_ngram; ++head) {
        uint64_t candidate = internal::NextPrimeAfter(start);
        while (seen.contains(static_cast<int64_t>(candidate))) {
          candidate = internal::NextPrimeAfter(candidate);
        }
        seen.insert(static_cast<int64_t>(candidate));
        sizes[layer].push_back(static_cast<int64_t>(candidate));
        start = candidate;
      }
    }
  }
  return sizes;
}

absl::StatusOr<HashSpec> HashSpec::FromConfig(const HashSpecConfig& config) {
  ENGRAM_RETURN_IF_ERROR(ValidateConfig(config));
  std::vector<std::vector<int64_t>> multipliers;
  for (int64_t layer_id : config.layer_ids) {
    ENGRAM_ASSIGN_OR_RETURN(
        std::vector<int64_t> m,
        ReferenceMultipliers(config.seed, layer_id, config.max_ngram,
                             config.tokenizer_vocab));
    multipliers.push_back(std::move(m));
  }
  ENGRAM_ASSIGN_OR_RETURN(
      std::vector<std::vector<int64_t>> head_sizes,
      ReferenceHeadSizes(static_cast<int>(config.layer_ids.size()),
                         config.max_ngram, config.vocab_sizes,
                         config.heads_per_ngram));
  return Build(config, std::move(multipliers), std::move(head_sizes));
}

absl::StatusOr<HashSpec> HashSpec::FromManifest(
    const HashSpecConfig& config, std::vector<std::vector<int64_t>> multipliers,
    std::vector<std::vector<int64_t>> head_sizes) {
  ENGRAM_RETURN_IF_ERROR(ValidateConfig(config));
  return Build(config, std::move(multipliers), std::move(head_sizes));
}

absl::StatusOr<HashSpec> HashSpec::Build(
    const HashSpecConfig& config, std::vector<std::vector<int64_t>> multipliers,
    std::vector<std::vector<int64_t>> head_sizes) {
  const size_t num_layers = config.layer_ids.size();
  const size_t heads_per_layer =
      static_cast<size_t>(config.max_ngram - 1) * config.heads_per_ngram;
  if (multipliers.size() != num_layers) {
    return ConfigError(absl::StrCat("multipliers given for ",
                                    multipliers.size(), " layers, expected ",
                                    num_layers));
  }
  if (head_sizes.size() != num_layers) {
    return ConfigError(absl::StrCat("head sizes given for ", head_sizes.size(),
                                    " layers, expected ", num_layers));
  }
  const int64_t multiplier_bound =
      ReferenceMultiplierBound(config.tokenizer_vocab);
  absl::flat_hash_set<int64_t> seen_sizes;

  HashSpec spec;
  spec.config_ = config;
  spec.pad_id_ = config.compression
                     ? config.compression->Compress(config.pad_id)
                     : config.pad_id;
  spec.layers_.resize(num_layers);
  for (size_t layer = 0; layer < num_layers; ++layer) {
    const int64_t layer_id = config.layer_ids[layer];
    internal::LayerTables& tables = spec.layers_[layer];
    tables.layer_id = layer_id;
    if (multipliers[layer].size() != static_cast<size_t>(config.max_ngram)) {
      return ConfigError(absl::StrCat(
          "layer ", layer_id, " has ", multipliers[layer].size(),
          " multipliers, expected max_ngram = ", config.max_ngram));
    }
    for (int64_t m : multipliers[layer]) {
      if (m < 1 || m > multiplier_bound) {
        return ConfigError(absl::StrCat("layer ", layer_id, " multiplier ", m,
                                        " is outside [1, ", multiplier_bound,
                                        "] (INT64_MAX / tokenizer_vocab)"));
      }
    }
    if (head_sizes[layer].size() != heads_per_layer) {
      return ConfigError(absl::StrCat(
          "layer ", layer_id, " has ", head_sizes[layer].size(),
          " head sizes, expected (max_ngram - 1) * heads_per_ngram = ",
          heads_per_layer));
    }
    int64_t offset = 0;
    for (int64_t size : head_sizes[layer]) {
      if (size < 2 || !internal::IsPrime(static_cast<uint64_t>(size))) {
        return ConfigError(absl::StrCat("layer ", layer_id, " head size ", size,
                                        " is not prime"));
      }
      if (!seen_sizes.insert(size).second) {
        return ConfigError(
            absl::StrCat("head size ", size, " is used twice (layer ", layer_id,
                         "); every head of the model needs its own prime"));
      }
      tables.head_offsets.push_back(offset);
      tables.moduli.push_back(
          internal::MakeFloorModulus(static_cast<uint64_t>(size)));
      tables.reciprocals.push_back(1.0 / static_cast<double>(size));
      if (offset > std::numeric_limits<int64_t>::max() - size) {
        return ConfigError(absl::StrCat("layer ", layer_id,
                                        " has more rows than int64 holds"));
      }
      offset += size;
    }
    tables.total_rows = offset;
    tables.reciprocal_mod_exact = std::all_of(
        head_sizes[layer].begin(), head_sizes[layer].end(),
        [](int64_t size) { return size >= internal::kMinReciprocalModulus; });
    tables.multipliers = std::move(multipliers[layer]);
    tables.head_sizes = std::move(head_sizes[layer]);
  }
  spec.digest_ =
      internal::Sha256::ToHex(internal::Sha256::Of(spec.DigestInput()));
  return spec;
}

absl::StatusOr<int> HashSpec::LayerIndex(int64_t layer_id) const {
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (layers_[i].layer_id == layer_id) return static_cast<int>(i);
  }
  std::vector<int64_t> ids;
  for (const internal::LayerTables& tables : layers_) {
    ids.push_back(tables.layer_id);
  }
  return absl::NotFoundError(
      absl::StrCat("no Engram layer ", layer_id,
                   " (layers: ", absl::StrJoin(ids, ", "), ")"));
}

std::string HashSpec::DigestInput() const {
  std::string out("ENGRAM-HASHSPEC", 15);
  out.push_back('\0');
  AppendLittleEndian<uint32_t>(out, kDigestFormatVersion);
  AppendLittleEndian<uint32_t>(out, static_cast<uint32_t>(config_.max_ngram));
  AppendLittleEndian<uint32_t>(out,
                               static_cast<uint32_t>(config_.heads_per_ngram));
  AppendLittleEndian<int64_t>(out, config_.n_embed_per_ngram);
  AppendLittleEndian<int64_t>(out, config_.tokenizer_vocab);
  AppendLittleEndian<int64_t>(out, pad_id_);
  AppendLittleEndian<uint32_t>(out, static_cast<uint32_t>(layers_.size()));
  for (const internal::LayerTables& tables : layers_) {
    AppendLittleEndian<int64_t>(out, tables.layer_id);
    for (int64_t m : tables.multipliers) AppendLittleEndian<int64_t>(out, m);
    for (int64_t p : tables.head_sizes) AppendLittleEndian<int64_t>(out, p);
  }
  const CompressionMap* map = config_.compression.get();
  out.push_back(map != nullptr ? '\1' : '\0');
  if (map != nullptr) {
    AppendLittleEndian<int64_t>(out, map->raw_vocab());
    out.append(reinterpret_cast<const char*>(map->content_digest().data()),
               map->content_digest().size());
  }
  return out;
}

}  // namespace engram
