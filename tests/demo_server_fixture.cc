#include "tests/demo_server_fixture.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "server/tables/demo_tables.h"

namespace engram::testing {

HashSpecConfig SmallDemoConfig() {
  HashSpecConfig config;
  config.layer_ids = {3, 7};
  config.max_ngram = 3;
  config.vocab_sizes = {1000, 1200};
  config.heads_per_ngram = 2;
  config.n_embed_per_ngram = 2 * kSmallDemoValues;
  return config;
}

std::vector<std::string> SmallDemoFlags() {
  return {"--demo",
          "--demo-layer-ids",
          "3,7",
          "--demo-vocab-sizes",
          "1000,1200",
          "--demo-heads",
          "2",
          "--demo-values-per-row",
          absl::StrCat(kSmallDemoValues),
          "--demo-dtype",
          "f32"};
}

CommandResult ImportDemoLayerAs(const std::string& address,
                                const std::string& dir, int64_t layer,
                                const std::string& table,
                                const std::vector<std::string>& extra) {
  return ImportDemoLayerTo({"--server", address}, address, dir, layer, table,
                           extra);
}

CommandResult ImportDemoLayerTo(const std::vector<std::string>& destination,
                                const std::string& source,
                                const std::string& dir, int64_t layer,
                                const std::string& table,
                                const std::vector<std::string>& extra) {
  const std::string rows = absl::StrCat(dir, "/layer_", layer, ".npy");
  if (!std::filesystem::exists(rows)) {
    const CommandResult exported =
        RunEngramctl(source, {"export", absl::StrCat("layer_", layer), rows});
    if (exported.exit_code != 0) return exported;
  }
  const HashSpecConfig config = SmallDemoConfig();
  std::vector<std::string> args = {EngramctlPath()};
  args.insert(args.end(), destination.begin(), destination.end());
  const std::vector<std::string> import = {
      "import",
      table,
      rows,
      "--json",
      "--hash-layer",
      absl::StrCat(layer),
      "--seed",
      absl::StrCat(config.seed),
      "--layer-ids",
      absl::StrJoin(config.layer_ids, ","),
      "--vocab-sizes",
      absl::StrJoin(config.vocab_sizes, ","),
      "--max-ngram",
      absl::StrCat(config.max_ngram),
      "--heads",
      absl::StrCat(config.heads_per_ngram),
      "--pad-id",
      absl::StrCat(config.pad_id),
      "--tokenizer-vocab",
      absl::StrCat(config.tokenizer_vocab)};
  args.insert(args.end(), import.begin(), import.end());
  args.insert(args.end(), extra.begin(), extra.end());
  return RunCommand(args);
}

std::string ExpectedDemoRows(int64_t layer_id,
                             const std::vector<uint64_t>& rows) {
  const size_t row_bytes = kSmallDemoValues * ElementBytes(kSmallDemoType);
  std::string bytes(rows.size() * row_bytes, '\0');
  for (size_t i = 0; i < rows.size(); ++i) {
    FillDemoRow(layer_id, rows[i], kSmallDemoType, kSmallDemoValues,
                bytes.data() + i * row_bytes);
  }
  return bytes;
}

void DemoServerTest::StartServer() {
  server_.reset();
  std::vector<std::string> flags = SmallDemoFlags();
  const std::vector<std::string> extra = ExtraServerFlags();
  flags.insert(flags.end(), extra.begin(), extra.end());
  absl::StatusOr<std::unique_ptr<ServerProcess>> server =
      ServerProcess::Start(dir_.path() + "/data", flags);
  ASSERT_TRUE(server.ok()) << server.status();
  server_ = *std::move(server);
}

std::shared_ptr<const CompressionMap> DemoCompressionMap(int64_t factor) {
  const int64_t compressed = SmallDemoConfig().tokenizer_vocab;
  std::vector<int64_t> lookup(kDemoRawVocab);
  for (int64_t i = 0; i < kDemoRawVocab; ++i) {
    lookup[i] = i * factor % compressed;
  }
  absl::StatusOr<std::unique_ptr<CompressionMap>> map =
      CompressionMap::FromLookup(std::move(lookup),
                                 {.compressed_vocab = compressed});
  EXPECT_TRUE(map.ok()) << map.status();
  return map.ok() ? std::shared_ptr<const CompressionMap>(*std::move(map))
                  : nullptr;
}

void WriteCompressionMapNpy(const std::string& path,
                            const CompressionMap& map) {
  WriteNpyFile(path, "<i8", {static_cast<uint64_t>(map.raw_vocab())},
               map.LittleEndian());
}

uint64_t LayerRows(int64_t layer_id) {
  absl::StatusOr<HashSpec> spec = HashSpec::FromConfig(SmallDemoConfig());
  EXPECT_TRUE(spec.ok()) << spec.status();
  absl::StatusOr<int> index = spec->LayerIndex(layer_id);
  EXPECT_TRUE(index.ok()) << index.status();
  return spec->rows_in_layer(*index);
}

absl::StatusOr<std::unique_ptr<client::EngramClient>> ConnectClient(
    const std::string& address) {
  client::ClientOptions options;
  options.server_address = address;
  options.default_timeout = absl::Seconds(10);
  return client::EngramClient::Create(options);
}

absl::StatusOr<DemoPrefetcher> ConnectDemoPrefetcher(
    const std::string& address) {
  DemoPrefetcher connected;
  ENGRAM_ASSIGN_OR_RETURN(connected.client, ConnectClient(address));
  ENGRAM_ASSIGN_OR_RETURN(
      connected.prefetcher,
      client::Prefetcher::Create(connected.client.get(),
                                 {.tables = {"layer_3", "layer_7"}}));
  return connected;
}

absl::StatusOr<std::unique_ptr<client::EngramClient>> DemoServerTest::Connect()
    const {
  return ConnectClient(server_->address());
}

}  // namespace engram::testing
