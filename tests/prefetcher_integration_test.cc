// The Prefetcher against a real engram-server serving the small demo
// tables: the rows of a prefill, and of decode steps token by token, are
// the reference addressing's rows of the demo tables, byte for byte.
#include <memory>
#include <string>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "client/prefetcher.h"
#include "common/addressing/addresser.h"
#include "common/addressing/compression_map.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/demo_server_fixture.h"

namespace engram::testing {
namespace {

using ::testing::HasSubstr;

constexpr uint32_t kRowBytes = kSmallDemoValues * 4;
constexpr int kLayerIds[] = {3, 7};

class PrefetcherTest : public DemoServerTest {
 protected:
  void SetUp() override {
    DemoServerTest::SetUp();
    if (HasFatalFailure()) return;
    auto connected = ConnectDemoPrefetcher(server_->address());
    ASSERT_TRUE(connected.ok()) << connected.status();
    client_ = std::move(connected->client);
    prefetcher_ = std::move(connected->prefetcher);
    auto spec = HashSpec::FromConfig(SmallDemoConfig());
    ASSERT_TRUE(spec.ok());
    spec_ = std::make_unique<HashSpec>(*std::move(spec));
  }

  // The reference rows of every position of `tokens` in layer `layer`.
  std::string ExpectedRows(int layer, const std::vector<int64_t>& tokens,
                           int batch, int time,
                           const std::vector<int32_t>& lengths) {
    std::vector<int64_t> ids(size_t(batch) * time * spec_->rows_per_token());
    EXPECT_TRUE(ComputeRowIds(*spec_, layer, tokens, batch, time, lengths,
                              absl::MakeSpan(ids))
                    .ok());
    return ExpectedDemoRows(kLayerIds[layer],
                            std::vector<uint64_t>(ids.begin(), ids.end()));
  }

  std::unique_ptr<client::EngramClient> client_;
  std::unique_ptr<client::Prefetcher> prefetcher_;
  std::unique_ptr<HashSpec> spec_;
};

TEST_F(PrefetcherTest, PrefillRowsAreTheReferenceRowsAndRepeatsAreFetchedOnce) {
  // Sequence 1 repeats sequence 0, so half the rows are repeats.
  const std::vector<int64_t> tokens = {5, 17, 17, 900, 5, 17, 17, 900};
  const std::vector<int32_t> lengths = {4, 4};
  const int rows = 2 * 4 * spec_->rows_per_token();
  std::vector<std::string> out(2, std::string(rows * kRowBytes, '?'));
  auto step =
      prefetcher_->Prefill(tokens, 2, 4, lengths,
                           {absl::MakeSpan(out[0].data(), out[0].size()),
                            absl::MakeSpan(out[1].data(), out[1].size())});
  ASSERT_TRUE(step.ok()) << step.status();
  for (int layer = 0; layer < 2; ++layer) {
    ASSERT_TRUE((*step)->Wait(layer, absl::Now() + absl::Seconds(10)).ok());
    EXPECT_EQ(out[layer], ExpectedRows(layer, tokens, 2, 4, lengths))
        << "layer " << layer;
  }
  EXPECT_EQ((*step)->rows_wanted(), 2u * rows);
  EXPECT_LE((*step)->rows_fetched(), (*step)->rows_wanted() / 2);
}

TEST_F(PrefetcherTest, DecodeStepsEqualThePrefillOfTheWholeSequence) {
  // Two sequences, the second left-padded: prefill 2 tokens, decode 3.
  const std::vector<int64_t> prompt = {0, 11, 42, 43};
  const std::vector<int32_t> prompt_lengths = {1, 2};
  const int rows_per_token = spec_->rows_per_token();
  std::vector<std::string> prefill_out(
      2, std::string(2 * 2 * rows_per_token * kRowBytes, '?'));
  auto prefill = prefetcher_->Prefill(
      prompt, 2, 2, prompt_lengths,
      {absl::MakeSpan(prefill_out[0].data(), prefill_out[0].size()),
       absl::MakeSpan(prefill_out[1].data(), prefill_out[1].size())});
  ASSERT_TRUE(prefill.ok()) << prefill.status();

  const std::vector<std::vector<int64_t>> steps = {{12, 44}, {13, 45}, {7, 7}};
  // The whole sequences, left-padded to 5 positions: step s is position
  // 2 + s of both.
  const std::vector<int64_t> whole = {0, 11, 12, 13, 7, 42, 43, 44, 45, 7};
  const std::vector<int32_t> whole_lengths = {4, 5};
  std::vector<std::unique_ptr<client::PrefetchStep>> in_flight;
  std::vector<std::vector<std::string>> decoded;
  for (const std::vector<int64_t>& tokens : steps) {
    decoded.emplace_back(2, std::string(2 * rows_per_token * kRowBytes, '?'));
    auto& out = decoded.back();
    auto step = prefetcher_->Decode(
        tokens, {absl::MakeSpan(out[0].data(), out[0].size()),
                 absl::MakeSpan(out[1].data(), out[1].size())});
    ASSERT_TRUE(step.ok()) << step.status();
    in_flight.push_back(*std::move(step));  // Several steps in flight.
  }
  for (int layer = 0; layer < 2; ++layer) {
    const std::string reference =
        ExpectedRows(layer, whole, 2, 5, whole_lengths);
    const size_t token_bytes = size_t(rows_per_token) * kRowBytes;
    for (size_t s = 0; s < steps.size(); ++s) {
      ASSERT_TRUE(
          in_flight[s]->Wait(layer, absl::Now() + absl::Seconds(10)).ok());
      for (int b = 0; b < 2; ++b) {
        EXPECT_EQ(decoded[s][layer].substr(b * token_bytes, token_bytes),
                  reference.substr((b * 5 + 2 + s) * token_bytes, token_bytes))
            << "layer " << layer << " step " << s << " sequence " << b;
      }
    }
  }
}

// A decode loop pinned to a version keeps reading it while a patch that
// rewrites every row of the layer is activated; an unpinned one switches.
TEST_F(PrefetcherTest, APinnedDecodeLoopNeverMixesVersions) {
  const uint64_t rows = LayerRows(3);
  std::vector<int64_t> ids(rows);
  for (uint64_t id = 0; id < rows; ++id) ids[id] = static_cast<int64_t>(id);
  WriteNpyFile(dir_.path() + "/ids.npy", "<i8", {rows}, Int64s(ids));
  const std::string patched_row(kRowBytes, '\x7f');
  std::string patch_rows;
  for (uint64_t id = 0; id < rows; ++id) patch_rows += patched_row;
  WriteNpyFile(dir_.path() + "/rows.npy", "|u1", {rows, kRowBytes}, patch_rows);

  absl::StatusOr<client::VersionPin> pin = client_->PinVersion("layer_3");
  ASSERT_TRUE(pin.ok()) << pin.status();
  auto pinned = client::Prefetcher::Create(
      client_.get(),
      {.tables = {"layer_3"}, .lookup = {.pin_id = pin->pin_id}});
  auto active =
      client::Prefetcher::Create(client_.get(), {.tables = {"layer_3"}});
  ASSERT_TRUE(pinned.ok() && active.ok());
  const int rows_per_token = spec_->rows_per_token();
  std::vector<int64_t> history;
  for (int step = 0; step < 6; ++step) {
    if (step == 3) {
      const CommandResult applied = RunEngramctl(
          server_->address(),
          {"patch", "apply", "layer_3", "--ids", dir_.path() + "/ids.npy",
           "--rows", dir_.path() + "/rows.npy"});
      ASSERT_EQ(applied.exit_code, 0) << applied.err;
    }
    const std::vector<int64_t> token = {100 + step};
    history.push_back(token[0]);
    std::string pinned_out(rows_per_token * kRowBytes, '?');
    std::string active_out(rows_per_token * kRowBytes, '?');
    auto pinned_step = (*pinned)->Decode(
        token, {absl::MakeSpan(pinned_out.data(), pinned_out.size())});
    auto active_step = (*active)->Decode(
        token, {absl::MakeSpan(active_out.data(), active_out.size())});
    ASSERT_TRUE(pinned_step.ok() && active_step.ok());
    ASSERT_TRUE((*pinned_step)->Wait(0, absl::Now() + absl::Seconds(10)).ok());
    ASSERT_TRUE((*active_step)->Wait(0, absl::Now() + absl::Seconds(10)).ok());
    // The base rows of this position of the sequence.
    const std::string base =
        ExpectedRows(0, history, 1, static_cast<int>(history.size()), {})
            .substr((history.size() - 1) * rows_per_token * kRowBytes);
    EXPECT_EQ(pinned_out, base) << "step " << step;
    std::string all_patched;
    for (int r = 0; r < rows_per_token; ++r) all_patched += patched_row;
    EXPECT_EQ(active_out, step < 3 ? base : all_patched) << "step " << step;
  }
}

TEST_F(PrefetcherTest, RefusesBadShapesBeforeFetching) {
  std::string small(8, '?');
  auto step = prefetcher_->Decode(std::vector<int64_t>{1, 2},
                                  {absl::MakeSpan(small.data(), small.size()),
                                   absl::MakeSpan(small.data(), small.size())});
  EXPECT_EQ(step.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(step.status().message(), HasSubstr("buffer of layer 0"));
  EXPECT_EQ(client::Prefetcher::Create(client_.get(), {.tables = {"nope"}})
                .status()
                .code(),
            absl::StatusCode::kNotFound);
}

// Tables imported with --compression (as a model with the reference's
// CompressedTokenizer has them): a prefetcher given the model's map
// compresses raw ids before addressing them, as the reference does.
class CompressedPrefetcherTest : public PrefetcherTest {
 protected:
  void SetUp() override {
    PrefetcherTest::SetUp();
    if (HasFatalFailure()) return;
    HashSpecConfig config = SmallDemoConfig();
    map_ = DemoCompressionMap(7919);
    config.compression = map_;
    auto spec = HashSpec::FromConfig(config);
    ASSERT_TRUE(spec.ok()) << spec.status();
    spec_ = std::make_unique<HashSpec>(*std::move(spec));
    const std::string map_file = dir_.path() + "/map.npy";
    WriteCompressionMapNpy(map_file, *map_);
    for (const int layer : kLayerIds) {
      const CommandResult imported = ImportDemoLayerAs(
          server_->address(), dir_.path(), layer,
          absl::StrCat("compressed_", layer), {"--compression", map_file});
      ASSERT_EQ(imported.exit_code, 0) << imported.err;
    }
  }

  absl::StatusOr<std::unique_ptr<client::Prefetcher>> Compressed(
      std::shared_ptr<const CompressionMap> map) {
    return client::Prefetcher::Create(
        client_.get(), {.tables = {"compressed_3", "compressed_7"},
                        .compression = std::move(map)});
  }

  std::shared_ptr<const CompressionMap> map_;
};

TEST_F(CompressedPrefetcherTest, PrefillAndDecodeRowsAreTheReferenceRows) {
  auto prefetcher = Compressed(map_);
  ASSERT_TRUE(prefetcher.ok()) << prefetcher.status();
  // 129290 and 10 compress alike; 129999 is beyond the compressed ids.
  const std::vector<int64_t> prompt = {129999, 10, 129290};
  const std::vector<int64_t> next = {129300};
  const std::vector<int64_t> whole = {129999, 10, 129290, 129300};
  const int rows_per_token = spec_->rows_per_token();
  std::vector<std::string> prefill_out(
      2, std::string(3 * rows_per_token * kRowBytes, '?'));
  auto prefill =
      (*prefetcher)
          ->Prefill(
              prompt, 1, 3, {},
              {absl::MakeSpan(prefill_out[0].data(), prefill_out[0].size()),
               absl::MakeSpan(prefill_out[1].data(), prefill_out[1].size())});
  ASSERT_TRUE(prefill.ok()) << prefill.status();
  std::vector<std::string> decode_out(
      2, std::string(rows_per_token * kRowBytes, '?'));
  auto decode =
      (*prefetcher)
          ->Decode(
              next,
              {absl::MakeSpan(decode_out[0].data(), decode_out[0].size()),
               absl::MakeSpan(decode_out[1].data(), decode_out[1].size())});
  ASSERT_TRUE(decode.ok()) << decode.status();
  for (int layer = 0; layer < 2; ++layer) {
    ASSERT_TRUE((*prefill)->Wait(layer, absl::Now() + absl::Seconds(10)).ok());
    ASSERT_TRUE((*decode)->Wait(layer, absl::Now() + absl::Seconds(10)).ok());
    const std::string reference = ExpectedRows(layer, whole, 1, 4, {});
    const size_t token_bytes = size_t(rows_per_token) * kRowBytes;
    EXPECT_EQ(prefill_out[layer], reference.substr(0, 3 * token_bytes))
        << "layer " << layer;
    EXPECT_EQ(decode_out[layer], reference.substr(3 * token_bytes))
        << "layer " << layer;
  }
  // The server, holding the map the tables were imported with, addresses
  // the raw ids alike.
  std::string served(4 * rows_per_token * kRowBytes, '?');
  ASSERT_TRUE(client_
                  ->LookupTokens("compressed_3", whole, 1, 4, {},
                                 absl::MakeSpan(served.data(), served.size()))
                  .ok());
  EXPECT_EQ(served, ExpectedRows(0, whole, 1, 4, {}));
  // A raw id beyond the map.
  EXPECT_THAT(
      (*prefetcher)
          ->Decode(std::vector<int64_t>{kDemoRawVocab},
                   {absl::MakeSpan(decode_out[0].data(), decode_out[0].size()),
                    absl::MakeSpan(decode_out[1].data(), decode_out[1].size())})
          .status()
          .message(),
      HasSubstr("outside the compression map's raw vocabulary"));
}

TEST_F(CompressedPrefetcherTest, WithoutAMapItUsesTheOneTheServerKeeps) {
  auto prefetcher = Compressed(nullptr);
  ASSERT_TRUE(prefetcher.ok()) << prefetcher.status();
  ASSERT_NE((*prefetcher)->compression(), nullptr);
  EXPECT_TRUE(
      absl::c_equal((*prefetcher)->compression()->lookup(), map_->lookup()));
  // 129290 and 10 compress alike.
  const std::vector<int64_t> tokens = {129290, 10, 7, 129290};
  const int time = static_cast<int>(tokens.size());
  std::vector<std::string> out(
      2, std::string(time * spec_->rows_per_token() * kRowBytes, '?'));
  auto step = (*prefetcher)
                  ->Prefill(tokens, 1, time, {},
                            {absl::MakeSpan(out[0].data(), out[0].size()),
                             absl::MakeSpan(out[1].data(), out[1].size())});
  ASSERT_TRUE(step.ok()) << step.status();
  for (int layer = 0; layer < 2; ++layer) {
    ASSERT_TRUE((*step)->Wait(layer, absl::Now() + absl::Seconds(10)).ok());
    EXPECT_EQ(out[layer], ExpectedRows(layer, tokens, 1, time, {}))
        << "layer " << layer;
  }
}

TEST_F(CompressedPrefetcherTest, TheMapMustBeTheTablesOwn) {
  EXPECT_THAT(Compressed(DemoCompressionMap(3)).status().message(),
              HasSubstr("but the prefetcher was given compression map"));
  // The demo tables hash raw ids.
  EXPECT_THAT(client::Prefetcher::Create(
                  client_.get(),
                  {.tables = {"layer_3", "layer_7"}, .compression = map_})
                  .status()
                  .message(),
              HasSubstr("table 'layer_3' hashes raw token ids"));
}

}  // namespace
}  // namespace engram::testing
