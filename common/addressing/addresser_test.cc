#include "common/addressing/addresser.h"

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "common/addressing/compression_map.h"
#include "common/addressing/hash_spec.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram {
namespace {

using ::testing::HasSubstr;

HashSpecConfig SmallConfig() {
  HashSpecConfig config;
  config.seed = 42;
  config.layer_ids = {2, 6, 11};
  config.max_ngram = 4;
  config.vocab_sizes = {50000, 70000, 90000};
  config.heads_per_ngram = 4;
  config.n_embed_per_ngram = 64;
  config.pad_id = 0;
  config.tokenizer_vocab = 32000;
  return config;
}

std::vector<int64_t> RandomTokens(int n, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> tokens(n);
  for (int64_t& t : tokens) t = static_cast<int64_t>(rng() % vocab);
  return tokens;
}

std::vector<int64_t> Rows(const HashSpec& spec, int layer,
                          const std::vector<int64_t>& tokens, int batch,
                          int time, const std::vector<int32_t>& lengths = {}) {
  std::vector<int64_t> rows(static_cast<size_t>(batch) * time *
                            spec.rows_per_token());
  const absl::Status status = ComputeRowIds(spec, layer, tokens, batch, time,
                                            lengths, absl::MakeSpan(rows));
  EXPECT_TRUE(status.ok()) << status;
  return rows;
}

TEST(AddresserTest, RowsLieInTheirHeadsRange) {
  absl::StatusOr<HashSpec> spec = HashSpec::FromConfig(SmallConfig());
  ASSERT_TRUE(spec.ok());
  const int batch = 3, time = 50, rows_per_token = spec->rows_per_token();
  std::vector<int64_t> tokens = RandomTokens(batch * time, 32000, 1);
  tokens[5] = 31999;
  std::vector<int64_t> rows(batch * time * rows_per_token);
  std::vector<int64_t> hashes(rows.size());
  ASSERT_TRUE(ComputeRowIds(*spec, 1, tokens, batch, time, {},
                            absl::MakeSpan(rows), absl::MakeSpan(hashes))
                  .ok());
  for (size_t i = 0; i < rows.size(); ++i) {
    const int r = i % rows_per_token;
    EXPECT_GE(hashes[i], 0);
    EXPECT_LT(hashes[i], spec->head_sizes(1)[r]);
    EXPECT_EQ(rows[i], spec->head_offsets(1)[r] + hashes[i]);
  }
  EXPECT_EQ(Rows(*spec, 1, tokens, batch, time), rows);
}

TEST(AddresserTest, DecodeEqualsPrefillAtEveryPosition) {
  absl::StatusOr<HashSpec> spec = HashSpec::FromConfig(SmallConfig());
  ASSERT_TRUE(spec.ok());
  const int batch = 4, time = 23, n = spec->max_ngram();
  const int rows_per_token = spec->rows_per_token();
  const std::vector<int64_t> tokens = RandomTokens(batch * time, 32000, 2);
  const std::vector<int32_t> lengths = {23, 0, 1, 9};
  for (int layer = 0; layer < spec->num_layers(); ++layer) {
    const std::vector<int64_t> prefill =
        Rows(*spec, layer, tokens, batch, time, lengths);
    for (int t = 0; t < time; ++t) {
      // Window of the last max_ngram tokens ending at t, with the count of
      // real ones; slots before a sequence's start hold junk.
      std::vector<int64_t> windows(batch * n, -12345);
      std::vector<int32_t> window_lengths(batch);
      bool any_real = false;
      for (int b = 0; b < batch; ++b) {
        const int start = time - lengths[b];
        window_lengths[b] = std::max(1, std::min(n, t - start + 1));
        for (int k = 0; k < n; ++k) {
          const int pos = t - (n - 1) + k;
          if (pos >= start && pos >= 0) {
            windows[b * n + k] = tokens[b * time + pos];
          }
        }
        any_real |= t >= start;
        if (t < start) {
          // No real token yet: decode only makes sense from the first one.
          window_lengths[b] = 1;
          windows[b * n + n - 1] = 7;
        }
      }
      if (!any_real) continue;
      std::vector<int64_t> decode(batch * rows_per_token);
      ASSERT_TRUE(ComputeDecodeRowIds(*spec, layer, windows, batch,
                                      window_lengths, absl::MakeSpan(decode))
                      .ok());
      for (int b = 0; b < batch; ++b) {
        if (t < time - lengths[b]) continue;
        for (int r = 0; r < rows_per_token; ++r) {
          ASSERT_EQ(decode[b * rows_per_token + r],
                    prefill[(b * time + t) * rows_per_token + r])
              << "layer " << layer << " b " << b << " t " << t;
        }
      }
    }
  }
}

TEST(AddresserTest, LeftPaddingMatchesSequenceAloneAndIgnoresFiller) {
  absl::StatusOr<HashSpec> spec = HashSpec::FromConfig(SmallConfig());
  ASSERT_TRUE(spec.ok());
  const int time = 12, length = 7, start = time - length;
  const int rows_per_token = spec->rows_per_token();
  const std::vector<int64_t> real = RandomTokens(length, 32000, 3);
  std::vector<int64_t> padded(time, -999);  // invalid junk is ignored
  std::copy(real.begin(), real.end(), padded.begin() + start);
  const std::vector<int64_t> alone = Rows(*spec, 0, real, 1, length);
  const std::vector<int64_t> rows = Rows(*spec, 0, padded, 1, time, {length});
  EXPECT_TRUE(std::equal(alone.begin(), alone.end(),
                         rows.begin() + start * rows_per_token));
  // Filler rows are the rows of pad tokens there.
  std::vector<int64_t> with_pad = padded;
  std::fill(with_pad.begin(), with_pad.begin() + start, spec->pad_id());
  EXPECT_EQ(Rows(*spec, 0, with_pad, 1, time), rows);
}

TEST(AddresserTest, AllLayersEqualsPerLayer) {
  absl::StatusOr<HashSpec> spec = HashSpec::FromConfig(SmallConfig());
  ASSERT_TRUE(spec.ok());
  const int batch = 2, time = 9;
  const std::vector<int64_t> tokens = RandomTokens(batch * time, 32000, 4);
  const std::vector<int32_t> lengths = {9, 4};
  std::vector<int64_t> all(spec->num_layers() * batch * time *
                           spec->rows_per_token());
  ASSERT_TRUE(ComputeRowIdsAllLayers(*spec, tokens, batch, time, lengths,
                                     absl::MakeSpan(all))
                  .ok());
  std::vector<int64_t> expected;
  for (int layer = 0; layer < spec->num_layers(); ++layer) {
    const std::vector<int64_t> rows =
        Rows(*spec, layer, tokens, batch, time, lengths);
    expected.insert(expected.end(), rows.begin(), rows.end());
  }
  EXPECT_EQ(all, expected);
}

TEST(AddresserTest, CompressionMapIsAppliedToTokensAndPad) {
  HashSpecConfig config = SmallConfig();
  config.tokenizer_vocab = 100;
  config.pad_id = 150;  // raw; compresses to 150 % 100 = 50
  std::vector<int64_t> lookup(250);
  for (size_t i = 0; i < lookup.size(); ++i) lookup[i] = (i * 7 + 3) % 100;
  CompressionMap::Options options;
  options.compressed_vocab = 100;
  config.compression = *CompressionMap::FromLookup(lookup, options);
  absl::StatusOr<HashSpec> compressed_spec = HashSpec::FromConfig(config);
  ASSERT_TRUE(compressed_spec.ok()) << compressed_spec.status();

  // The same spec without a map, padding with the compressed pad.
  HashSpecConfig identity = config;
  identity.compression = nullptr;
  identity.pad_id = lookup[150];
  absl::StatusOr<HashSpec> identity_spec = HashSpec::FromConfig(identity);
  ASSERT_TRUE(identity_spec.ok());
  EXPECT_EQ(compressed_spec->pad_id(), identity_spec->pad_id());
  EXPECT_NE(compressed_spec->Digest(), identity_spec->Digest());

  const int batch = 2, time = 10;
  const std::vector<int64_t> raw = RandomTokens(batch * time, 250, 5);
  std::vector<int64_t> compressed(raw.size());
  ASSERT_TRUE(CompressTokens(*compressed_spec, raw, batch, time, {3, 10},
                             absl::MakeSpan(compressed))
                  .ok());
  for (size_t i = 0; i < raw.size(); ++i) {
    const bool filler = i < 7;  // sequence 0 starts at position 7
    EXPECT_EQ(compressed[i], filler ? lookup[150] : lookup[raw[i]]);
  }
  for (int layer = 0; layer < 3; ++layer) {
    EXPECT_EQ(Rows(*compressed_spec, layer, raw, batch, time, {3, 10}),
              Rows(*identity_spec, layer, compressed, batch, time, {3, 10}));
  }
}

TEST(AddresserTest, RejectsBadInput) {
  absl::StatusOr<HashSpec> spec = HashSpec::FromConfig(SmallConfig());
  ASSERT_TRUE(spec.ok());
  const int rows_per_token = spec->rows_per_token();
  std::vector<int64_t> tokens = {1, 2, 3, 4, 5, 6};
  std::vector<int64_t> rows(6 * rows_per_token);

  auto expect = [&](absl::Status status, const std::string& message) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << message;
    EXPECT_THAT(status.message(), HasSubstr(message));
  };
  tokens[4] = 32000;
  expect(ComputeRowIds(*spec, 0, tokens, 2, 3, {}, absl::MakeSpan(rows)),
         "token 32000 at batch 1, position 1 is outside the vocabulary "
         "[0, 32000)");
  tokens[4] = -1;
  expect(ComputeRowIds(*spec, 0, tokens, 2, 3, {}, absl::MakeSpan(rows)),
         "token -1 at batch 1, position 1");
  // ... unless it is filler.
  EXPECT_TRUE(
      ComputeRowIds(*spec, 0, tokens, 2, 3, {3, 1}, absl::MakeSpan(rows)).ok());
  tokens[4] = 5;
  expect(ComputeRowIds(*spec, 3, tokens, 2, 3, {}, absl::MakeSpan(rows)),
         "layer_index 3 is outside [0, 3)");
  expect(ComputeRowIds(*spec, -1, tokens, 2, 3, {}, absl::MakeSpan(rows)),
         "layer_index -1");
  expect(ComputeRowIds(*spec, 0, tokens, 3, 3, {}, absl::MakeSpan(rows)),
         "tokens has 6 values, expected 9");
  expect(ComputeRowIds(*spec, 0, tokens, 2, 3, {},
                       absl::MakeSpan(rows).subspan(1)),
         "out_row_ids has");
  std::vector<int64_t> hashes(5);
  expect(ComputeRowIds(*spec, 0, tokens, 2, 3, {}, absl::MakeSpan(rows),
                       absl::MakeSpan(hashes)),
         "out_hash_ids has 5 values");
  expect(ComputeRowIds(*spec, 0, tokens, 2, 3, {3}, absl::MakeSpan(rows)),
         "lengths has 1 values, expected 2");
  expect(ComputeRowIds(*spec, 0, tokens, 2, 3, {3, 4}, absl::MakeSpan(rows)),
         "lengths[1] = 4 is outside [0, 3]");
  expect(ComputeRowIds(*spec, 0, tokens, -2, -3, {}, absl::MakeSpan(rows)),
         "batch and time must be >= 0");

  // Decode: windows of max_ngram = 4, lengths in [1, 4].
  std::vector<int64_t> windows = {1, 2, 3, 4, 5, 6, 7, 8};
  std::vector<int64_t> decode(2 * rows_per_token);
  EXPECT_TRUE(
      ComputeDecodeRowIds(*spec, 0, windows, 2, {}, absl::MakeSpan(decode))
          .ok());
  expect(
      ComputeDecodeRowIds(*spec, 0, windows, 2, {0, 4}, absl::MakeSpan(decode)),
      "lengths[0] = 0 is outside [1, 4]");
  expect(ComputeDecodeRowIds(*spec, 0, windows, 3, {}, absl::MakeSpan(decode)),
         "tokens has 8 values, expected 12");
  windows[7] = 40000;
  expect(ComputeDecodeRowIds(*spec, 0, windows, 2, {}, absl::MakeSpan(decode)),
         "token 40000 at batch 1, position 3");

  // Raw ids beyond a compression map.
  HashSpecConfig config = SmallConfig();
  CompressionMap::Options options;
  options.compressed_vocab = config.tokenizer_vocab;
  config.compression = *CompressionMap::FromLookup({0, 1, 2, 3}, options);
  absl::StatusOr<HashSpec> mapped = HashSpec::FromConfig(config);
  ASSERT_TRUE(mapped.ok());
  expect(ComputeRowIds(*mapped, 0, tokens, 2, 3, {}, absl::MakeSpan(rows)),
         "raw token 4 at batch 1, position 0 is outside the compression "
         "map's raw vocabulary [0, 4)");

  // Empty batches are fine.
  EXPECT_TRUE(ComputeRowIds(*spec, 0, {}, 0, 5, {}, {}).ok());
  EXPECT_TRUE(ComputeRowIds(*spec, 0, {}, 3, 0, {}, {}).ok());
}

// The unchecked kernel reproduces the reference's int64 wrap-around for ids
// the checked API rejects: results stay in [0, p) (floor modulo).
TEST(AddresserTest, UncheckedKernelUsesFloorModuloOnNegativeMix) {
  absl::StatusOr<HashSpec> spec = HashSpec::FromConfig(SmallConfig());
  ASSERT_TRUE(spec.ok());
  const std::vector<int64_t> tokens = {-1, INT64_MIN, INT64_MAX, -32000, 7};
  const int rows_per_token = spec->rows_per_token();
  std::vector<int64_t> rows(tokens.size() * rows_per_token);
  std::vector<int64_t> hashes(rows.size());
  internal::AddressCompressed(*spec, 0, tokens.data(), 1, tokens.size(),
                              nullptr, 0, rows.data(), hashes.data());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_GE(hashes[i], 0);
    EXPECT_LT(hashes[i], spec->head_sizes(0)[i % rows_per_token]);
  }
  // Position 0, bigram head 0: mix = (-1 * m0) ^ (pad * m1) with pad 0.
  const int64_t m0 = spec->multipliers(0)[0];
  const int64_t p0 = spec->head_sizes(0)[0];
  EXPECT_EQ(hashes[0], ((-m0 % p0) + p0) % p0);
}

}  // namespace
}  // namespace engram
