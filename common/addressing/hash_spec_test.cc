#include "common/addressing/hash_spec.h"

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/addressing/compression_map.h"
#include "common/addressing/mini_json.h"
#include "common/addressing/primes.h"
#include "common/addressing/test_paths.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram {
namespace {

using ::testing::HasSubstr;

TEST(HashSpecTest, DefaultConfigMatchesReferenceVectors) {
  absl::StatusOr<internal::JsonValue> doc = internal::ReadJsonFile(
      internal::ReferenceVectorPath("addressing-vectors-default.json"));
  ASSERT_TRUE(doc.ok()) << doc.status();
  absl::StatusOr<HashSpec> spec = HashSpec::FromConfig(HashSpecConfig{});
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_EQ(spec->num_layers(), 2);
  for (int i = 0; i < spec->num_layers(); ++i) {
    const internal::JsonValue& layer =
        (*doc)["layers"][std::to_string(spec->layer_id(i))];
    EXPECT_EQ(std::vector<int64_t>(spec->multipliers(i).begin(),
                                   spec->multipliers(i).end()),
              layer["multipliers"].FlattenInt64());
    EXPECT_EQ(std::vector<int64_t>(spec->head_sizes(i).begin(),
                                   spec->head_sizes(i).end()),
              layer["head_sizes"].FlattenInt64());
  }
  EXPECT_EQ(spec->rows_per_token(), 16);
  EXPECT_EQ(spec->head_dim(), 64);
  EXPECT_EQ(spec->pad_id(), 2);
  EXPECT_EQ(spec->raw_vocab(), 129280);
}

TEST(HashSpecTest, HeadSizesArePrimeDistinctAndOffsetsRunning) {
  HashSpecConfig config;
  config.layer_ids = {3, 0, 7, 1};
  config.max_ngram = 4;
  config.heads_per_ngram = 5;
  config.vocab_sizes = {10, 10, 4};  // small: later heads must skip taken ones
  config.n_embed_per_ngram = 10;
  config.tokenizer_vocab = 50;
  config.pad_id = 49;
  absl::StatusOr<HashSpec> spec = HashSpec::FromConfig(config);
  ASSERT_TRUE(spec.ok()) << spec.status();
  std::set<int64_t> seen;
  for (int layer = 0; layer < spec->num_layers(); ++layer) {
    int64_t offset = 0;
    for (int r = 0; r < spec->rows_per_token(); ++r) {
      const int64_t p = spec->head_sizes(layer)[r];
      EXPECT_TRUE(internal::IsPrime(p)) << p;
      EXPECT_GT(p, config.vocab_sizes[r / config.heads_per_ngram] - 1);
      EXPECT_TRUE(seen.insert(p).second) << p << " used twice";
      EXPECT_EQ(spec->head_offsets(layer)[r], offset);
      offset += p;
      // Within one n-gram order sizes increase (each search starts above the
      // previous head's prime).
      if (r % config.heads_per_ngram != 0) {
        EXPECT_GT(p, spec->head_sizes(layer)[r - 1]);
      }
    }
    EXPECT_EQ(spec->rows_in_layer(layer), offset);
    for (int64_t m : spec->multipliers(layer)) {
      EXPECT_EQ(m % 2, 1);
      EXPECT_LE(m, ReferenceMultiplierBound(config.tokenizer_vocab));
    }
  }
  EXPECT_EQ(*spec->LayerIndex(7), 2);
  EXPECT_EQ(spec->LayerIndex(8).status().code(), absl::StatusCode::kNotFound);
}

struct BadConfig {
  std::string name;
  void (*mutate)(HashSpecConfig&);
  std::string message;
};

TEST(HashSpecTest, ConfigValidation) {
  const std::vector<BadConfig> cases = {
      {"seed", [](HashSpecConfig& c) { c.seed = -1; }, "seed must be >= 0"},
      {"max_ngram", [](HashSpecConfig& c) { c.max_ngram = 1; },
       "max_ngram must be in [2, 16], got 1"},
      {"max_ngram_big", [](HashSpecConfig& c) { c.max_ngram = 17; },
       "max_ngram"},
      {"heads", [](HashSpecConfig& c) { c.heads_per_ngram = 0; },
       "heads_per_ngram must be in [1, 4096], got 0"},
      {"n_embed", [](HashSpecConfig& c) { c.n_embed_per_ngram = 100; },
       "n_embed_per_ngram must be a positive multiple"},
      {"vocab", [](HashSpecConfig& c) { c.tokenizer_vocab = 0; },
       "tokenizer_vocab must be >= 1"},
      {"no_layers", [](HashSpecConfig& c) { c.layer_ids.clear(); },
       "layer_ids must not be empty"},
      {"dup_layers",
       [](HashSpecConfig& c) {
         c.layer_ids = {1, 2, 1};
       },
       "layer id 1 is listed twice"},
      {"neg_layer", [](HashSpecConfig& c) { c.layer_ids = {-1}; },
       "layer_ids must be >= 0"},
      {"vocab_count", [](HashSpecConfig& c) { c.vocab_sizes = {646400}; },
       "vocab_sizes must have max_ngram - 1 = 2 values, got 1"},
      {"vocab_size",
       [](HashSpecConfig& c) {
         c.vocab_sizes = {646400, 1};
       },
       "vocab_sizes[1] must be in [2, 2^62], got 1"},
      {"pad", [](HashSpecConfig& c) { c.pad_id = 129280; },
       "pad_id must be a valid raw id in [0, 129280)"},
      {"pad_neg", [](HashSpecConfig& c) { c.pad_id = -1; }, "pad_id"},
      {"layer_seed",
       [](HashSpecConfig& c) {
         c.seed = INT64_MAX;
         c.layer_ids = {INT64_MAX / 10007 * 3};
       },
       "exceeds 2^64 - 1"},
      {"compression_vocab",
       [](HashSpecConfig& c) {
         CompressionMap::Options options;
         options.compressed_vocab = 100;
         c.compression = *CompressionMap::FromLookup({0, 1, 2}, options);
       },
       "compression map targets a vocabulary of 100 ids"},
      {"compression_pad",
       [](HashSpecConfig& c) {
         CompressionMap::Options options;
         options.compressed_vocab = c.tokenizer_vocab;
         c.compression = *CompressionMap::FromLookup({0, 1}, options);
       },
       "pad_id must be a valid raw id in [0, 2)"},
  };
  for (const BadConfig& c : cases) {
    HashSpecConfig config;
    c.mutate(config);
    absl::StatusOr<HashSpec> spec = HashSpec::FromConfig(config);
    ASSERT_FALSE(spec.ok()) << c.name;
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument)
        << c.name;
    EXPECT_THAT(spec.status().message(), HasSubstr(c.message)) << c.name;
  }
}

TEST(HashSpecTest, ManifestRoundTripAndValidation) {
  const HashSpecConfig config;
  absl::StatusOr<HashSpec> derived = HashSpec::FromConfig(config);
  ASSERT_TRUE(derived.ok());
  std::vector<std::vector<int64_t>> multipliers, sizes;
  for (int i = 0; i < derived->num_layers(); ++i) {
    multipliers.emplace_back(derived->multipliers(i).begin(),
                             derived->multipliers(i).end());
    sizes.emplace_back(derived->head_sizes(i).begin(),
                       derived->head_sizes(i).end());
  }
  // The seed does not enter the digest when the values are given.
  HashSpecConfig other_seed = config;
  other_seed.seed = 99;
  absl::StatusOr<HashSpec> manifest =
      HashSpec::FromManifest(other_seed, multipliers, sizes);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->Digest(), derived->Digest());

  auto expect_error = [&](std::vector<std::vector<int64_t>> m,
                          std::vector<std::vector<int64_t>> s,
                          const std::string& message) {
    absl::StatusOr<HashSpec> spec = HashSpec::FromManifest(config, m, s);
    ASSERT_FALSE(spec.ok()) << message;
    EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(spec.status().message(), HasSubstr(message));
  };
  expect_error({multipliers[0]}, sizes, "multipliers given for 1 layers");
  expect_error(multipliers, {sizes[0]}, "head sizes given for 1 layers");
  {
    auto m = multipliers;
    m[1].pop_back();
    expect_error(m, sizes, "layer 15 has 2 multipliers, expected max_ngram");
  }
  {
    auto m = multipliers;
    m[0][1] = 0;
    expect_error(m, sizes, "multiplier 0 is outside [1, ");
    m[0][1] = ReferenceMultiplierBound(config.tokenizer_vocab) + 1;
    expect_error(m, sizes, "is outside [1, ");
  }
  {
    auto s = sizes;
    s[0].push_back(7);
    expect_error(multipliers, s, "17 head sizes, expected");
  }
  {
    auto s = sizes;
    s[1][3] = 646401;  // 646401 = 3 * 215467
    expect_error(multipliers, s, "head size 646401 is not prime");
  }
  {
    auto s = sizes;
    s[1][3] = s[0][5];
    expect_error(multipliers, s, "is used twice");
  }
}

// Each field of the documented digest layout changes the digest.
TEST(HashSpecTest, DigestIsStableAndSensitiveToEveryField) {
  absl::StatusOr<HashSpec> base = HashSpec::FromConfig(HashSpecConfig{});
  ASSERT_TRUE(base.ok());
  // Golden value, computed independently from the documented layout with
  // Python's struct + hashlib over the shared default vectors. If this
  // changes, every deployed table's digest changes: bump the format version.
  EXPECT_EQ(base->Digest(),
            "453451ebe28dd3c76c2ad3f92a1a624d44d035f70ca13e0ebcf288c6b6c993d5");
  EXPECT_EQ(base->Digest(), HashSpec::FromConfig(HashSpecConfig{})->Digest());
  EXPECT_EQ(base->DigestInput().size(),
            16u + 4 * 3 + 8 * 3 + 4 + 2 * (8 + 8 * 3 + 8 * 16) + 1);

  std::vector<std::string> digests = {base->Digest()};
  auto add = [&](const std::string& name, HashSpecConfig config) {
    absl::StatusOr<HashSpec> spec = HashSpec::FromConfig(config);
    ASSERT_TRUE(spec.ok()) << name << ": " << spec.status();
    digests.push_back(spec->Digest());
  };
  HashSpecConfig c;
  c = {};
  c.seed = 1;
  add("seed (via multipliers)", c);
  c = {};
  c.layer_ids = {1, 16};
  add("layer id", c);
  c = {};
  c.layer_ids = {15, 1};
  add("layer order", c);
  c = {};
  c.layer_ids = {1};
  add("layer count", c);
  c = {};
  c.max_ngram = 4;
  c.vocab_sizes = {646400, 646400, 646400};
  add("max_ngram", c);
  c = {};
  c.vocab_sizes = {646400, 700000};
  add("vocab size (via primes)", c);
  c = {};
  c.heads_per_ngram = 4;
  add("heads", c);
  c = {};
  c.n_embed_per_ngram = 1024;
  add("n_embed", c);
  c = {};
  c.pad_id = 3;
  add("pad", c);
  c = {};
  c.tokenizer_vocab = 129281;
  add("tokenizer_vocab", c);
  CompressionMap::Options options;
  options.compressed_vocab = 129280;
  std::vector<int64_t> lookup(129280);
  for (size_t i = 0; i < lookup.size(); ++i) lookup[i] = i;
  c = {};
  c.compression = *CompressionMap::FromLookup(lookup, options);
  add("identity lookup table", c);
  lookup[77] = 78;
  c = {};
  c.compression = *CompressionMap::FromLookup(lookup, options);
  add("lookup contents", c);
  lookup.push_back(5);
  c = {};
  c.compression = *CompressionMap::FromLookup(lookup, options);
  add("raw vocab", c);
  lookup[2] = 9;  // the compressed pad changes
  c = {};
  c.compression = *CompressionMap::FromLookup(lookup, options);
  add("compressed pad", c);
  // Manifest-only changes: one multiplier, one head size.
  std::vector<std::vector<int64_t>> m = {
      {base->multipliers(0).begin(), base->multipliers(0).end()},
      {base->multipliers(1).begin(), base->multipliers(1).end()}};
  std::vector<std::vector<int64_t>> s = {
      {base->head_sizes(0).begin(), base->head_sizes(0).end()},
      {base->head_sizes(1).begin(), base->head_sizes(1).end()}};
  m[1][2] += 2;
  digests.push_back(HashSpec::FromManifest(HashSpecConfig{}, m, s)->Digest());
  m[1][2] -= 2;
  s[1][15] = 646883;  // the next prime after the last default head
  ASSERT_TRUE(internal::IsPrime(646883));
  digests.push_back(HashSpec::FromManifest(HashSpecConfig{}, m, s)->Digest());

  const std::set<std::string> unique(digests.begin(), digests.end());
  EXPECT_EQ(unique.size(), digests.size());
  for (const std::string& d : digests) EXPECT_EQ(d.size(), 64u);
}

TEST(HashSpecTest, PadIdIsCompressed) {
  CompressionMap::Options options;
  options.compressed_vocab = 4;
  HashSpecConfig config;
  config.tokenizer_vocab = 4;
  config.pad_id = 5;
  config.compression =
      *CompressionMap::FromLookup({0, 1, 2, 3, 3, 1, 0}, options);
  absl::StatusOr<HashSpec> spec = HashSpec::FromConfig(config);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->raw_pad_id(), 5);
  EXPECT_EQ(spec->pad_id(), 1);
  EXPECT_EQ(spec->raw_vocab(), 7);
}

}  // namespace
}  // namespace engram
