// engram-worker as users run it: against a real engram-server serving demo
// tables, and with local rows; both modes must compute the same logits.
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "gtest/gtest.h"
#include "tests/test_processes.h"

namespace engram::testing {
namespace {

using ::testing::HasSubstr;

// A 4-layer model whose Engram layers 1 and 3 read 16-value f32 rows; the
// server flags below make exactly its tables.
constexpr char kModelConfig[] = R"({
  "vocab_size": 5000, "hidden": 64, "layers": 4, "heads": 2, "head_dim": 32,
  "ffn_hidden": 128,
  "engram": {"layer_ids": [1, 3], "vocab_sizes": [1009, 1009],
             "heads_per_ngram": 2, "n_embed_per_ngram": 32,
             "tokenizer_vocab": 5000}
})";

std::vector<std::string> DemoServerFlags() {
  return {"--demo",
          "--demo-layer-ids=1,3",
          "--demo-vocab-sizes=1009,1009",
          "--demo-heads=2",
          "--demo-values-per-row=16",
          "--demo-tokenizer-vocab=5000",
          "--demo-dtype=f32"};
}

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server =
        ServerProcess::Start(dir_.path() + "/data", DemoServerFlags());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    config_path_ = dir_.path() + "/model.json";
    std::ofstream(config_path_) << kModelConfig;
  }

  // Runs engram-worker on the test model with `args` added.
  CommandResult Worker(std::vector<std::string> args) const {
    std::vector<std::string> argv = {BinaryPath("gpu_model/engram-worker"),
                                     "--model-config=" + config_path_,
                                     "--local-rows-dtype=f32",
                                     "--device=cpu",
                                     "--prompt-tokens=24",
                                     "--decode-tokens=6",
                                     "--seed=5",
                                     "--json"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, absl::Seconds(120));
  }

  std::string ServerRows() const {
    return "--rows=server=" + server_->address();
  }

  // Demo table layer_<layer>'s rows exported to a .npy (once), and their
  // count.
  struct ExportedLayer {
    std::string npy;
    uint64_t rows = 0;
  };
  ExportedLayer ExportLayer(int layer) const {
    const std::string table = absl::StrCat("layer_", layer);
    ExportedLayer exported{absl::StrCat(dir_.path(), "/", table, ".npy")};
    if (!std::filesystem::exists(exported.npy)) {
      EXPECT_EQ(
          RunEngramctl(server_->address(), {"export", table, exported.npy})
              .exit_code,
          0);
    }
    const CommandResult described =
        RunEngramctl(server_->address(), {"describe", table, "--json"});
    exported.rows = static_cast<uint64_t>(
        ParseJson(described.out).fields().at("rows").number_value());
    return exported;
  }

  // engramctl `target` (--server ADDR or --shard-map FILE) import of the
  // exported layer_<layer>, addressed as the model config file
  // `model_config` says, the file engram-worker reads.
  CommandResult ImportLayer(std::vector<std::string> target, int layer,
                            const std::string& model_config) const {
    std::vector<std::string> argv = {EngramctlPath()};
    argv.insert(argv.end(), target.begin(), target.end());
    const std::vector<std::string> import = {
        "import",       absl::StrCat("layer_", layer), ExportLayer(layer).npy,
        "--hash-layer", absl::StrCat(layer),           "--model-config",
        model_config};
    argv.insert(argv.end(), import.begin(), import.end());
    return RunCommand(argv);
  }

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
  std::string config_path_;
};

std::vector<double> Numbers(const google::protobuf::Value& list) {
  std::vector<double> out;
  for (const auto& value : list.list_value().values()) {
    out.push_back(value.number_value());
  }
  return out;
}

TEST_F(WorkerTest, ServerAndLocalRowsGiveTheSameLogitsAndTokens) {
  const std::string local_logits = dir_.path() + "/local.f32";
  const std::string server_logits = dir_.path() + "/server.f32";
  const CommandResult local =
      Worker({"--rows=local", "--logits-out=" + local_logits});
  ASSERT_EQ(local.exit_code, 0) << local.err;
  const CommandResult remote =
      Worker({ServerRows(), "--logits-out=" + server_logits});
  ASSERT_EQ(remote.exit_code, 0) << remote.err << server_->Log();

  const google::protobuf::Struct local_report = ParseJson(local.out);
  const google::protobuf::Struct server_report = ParseJson(remote.out);
  const auto& local_fields = local_report.fields();
  const auto& server_fields = server_report.fields();
  EXPECT_EQ(server_fields.at("device").string_value(), "cpu");
  const std::vector<double> tokens = Numbers(server_fields.at("tokens"));
  EXPECT_EQ(tokens.size(), 6u);
  EXPECT_EQ(tokens, Numbers(local_fields.at("tokens")));
  EXPECT_EQ(Numbers(server_fields.at("wait_us_per_layer")).size(), 2u);
  EXPECT_GT(server_fields.at("prefill_tokens_per_s").number_value(), 0);
  EXPECT_GT(server_fields.at("decode_tokens_per_s").number_value(), 0);
  EXPECT_TRUE(server_fields.contains("cache"));

  // Every step's logits, bit for bit: the rows are the same bytes.
  const std::string local_bytes = ReadFile(local_logits);
  EXPECT_EQ(local_bytes.size(), 6u * 5000 * sizeof(float));
  EXPECT_TRUE(local_bytes == ReadFile(server_logits));
}

TEST_F(WorkerTest, CompareLocalReportsOverheadOnTheSameTokens) {
  const CommandResult run = Worker({ServerRows(), "--compare-local"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const google::protobuf::Struct report = ParseJson(run.out);
  const auto& local = report.fields().at("local").struct_value().fields();
  EXPECT_TRUE(local.at("same_tokens").bool_value());
  EXPECT_GT(local.at("decode_tokens_per_s").number_value(), 0);
  const auto& overhead =
      report.fields().at("overhead_percent").struct_value().fields();
  EXPECT_TRUE(overhead.contains("prefill"));
  EXPECT_TRUE(overhead.contains("decode"));
}

TEST_F(WorkerTest, RefusesTablesOfAnotherModel) {
  const std::string other = dir_.path() + "/other.json";
  std::string config = kModelConfig;
  config.replace(config.find("[1009, 1009]"), 12, "[1013, 1013]");
  std::ofstream(other) << config;
  const CommandResult run = Worker({ServerRows(), "--model-config=" + other});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr("another hash spec"));
  EXPECT_TRUE(server_->Running());
}

TEST_F(WorkerTest, BadFlagsEndWithAClearMessage) {
  const CommandResult rows = Worker({"--rows=elsewhere"});
  EXPECT_EQ(rows.exit_code, 1);
  EXPECT_THAT(rows.err,
              HasSubstr("--rows must be local, server=HOST:PORT, shards=FILE "
                        "or discover=HOST:PORT,..., not \"elsewhere\""));
  const CommandResult device = Worker({"--device=tpu"});
  EXPECT_EQ(device.exit_code, 1);
  EXPECT_THAT(device.err, HasSubstr("device must be auto, cpu or cuda"));
  const CommandResult weights = Worker({"--weights=/nonexistent.safetensors"});
  EXPECT_EQ(weights.exit_code, 1);
  EXPECT_THAT(weights.err, HasSubstr("cannot read /nonexistent.safetensors"));
  const CommandResult keepalive =
      Worker({ServerRows(), "--keepalive-time=500ms"});
  EXPECT_EQ(keepalive.exit_code, 1);
  EXPECT_THAT(keepalive.err,
              HasSubstr("keepalive_time must be 0 (no pings) or at least 1s"));
}

// The demo tables exported, then imported with their layers' hash specs as
// two shards over three servers (shard 0 twice): the worker reading through
// the shard map computes what it computes with local rows.
TEST_F(WorkerTest, ImportedShardsGiveTheSameLogitsAsLocalRows) {
  // Replicas 0 and 1 hold shard 0 (the first half of each table), 2 shard 1.
  std::vector<std::unique_ptr<ServerProcess>> servers;
  for (int s = 0; s < 3; ++s) {
    auto server = ServerProcess::Start(
        absl::StrCat(dir_.path(), "/shard_server_", s), {});
    ASSERT_TRUE(server.ok()) << server.status();
    servers.push_back(*std::move(server));
  }
  std::string map;
  for (const int layer : {1, 3}) {
    const uint64_t rows = ExportLayer(layer).rows;
    const uint64_t half = rows / 2;
    absl::StrAppend(&map, "table layer_", layer, " rows ", rows, "\n",
                    "shard layer_", layer, " 0 ", half, " ",
                    servers[0]->address(), " ", servers[1]->address(), "\n",
                    "shard layer_", layer, " ", half, " ", rows, " ",
                    servers[2]->address(), "\n");
  }
  const std::string map_file = dir_.path() + "/shards.txt";
  std::ofstream(map_file) << map;
  for (const int layer : {1, 3}) {
    const CommandResult imported =
        ImportLayer({"--shard-map", map_file}, layer, config_path_);
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
  }

  const std::string local_logits = dir_.path() + "/local.f32";
  const std::string sharded_logits = dir_.path() + "/sharded.f32";
  const CommandResult local =
      Worker({"--rows=local", "--logits-out=" + local_logits});
  ASSERT_EQ(local.exit_code, 0) << local.err;
  const CommandResult sharded =
      Worker({"--rows=shards=" + map_file, "--logits-out=" + sharded_logits});
  ASSERT_EQ(sharded.exit_code, 0) << sharded.err;
  const google::protobuf::Struct parsed = ParseJson(sharded.out);
  const auto& report = parsed.fields();
  EXPECT_EQ(Numbers(report.at("tokens")),
            Numbers(ParseJson(local.out).fields().at("tokens")));
  const auto& cache = report.at("cache").struct_value().fields();
  EXPECT_GT(cache.at("hits").number_value() + cache.at("misses").number_value(),
            0);
  const std::string local_bytes = ReadFile(local_logits);
  EXPECT_FALSE(local_bytes.empty());
  EXPECT_TRUE(local_bytes == ReadFile(sharded_logits));

  // The same shard map, as the servers describe it.
  const std::string discovered_logits = dir_.path() + "/discovered.f32";
  const CommandResult discovered =
      Worker({absl::StrCat("--rows=discover=", servers[0]->address(), ",",
                           servers[1]->address(), ",", servers[2]->address()),
              "--logits-out=" + discovered_logits});
  ASSERT_EQ(discovered.exit_code, 0) << discovered.err;
  EXPECT_TRUE(local_bytes == ReadFile(discovered_logits));
}

// A model whose tokens are compressed before hashing (the reference's
// CompressedTokenizer) reads tables imported with its map, and computes
// what it computes with local rows; tables of raw ids are refused.
TEST_F(WorkerTest, ACompressedModelReadsTablesImportedWithItsMap) {
  // 6000 raw ids onto the 5000 the hash specs know.
  std::vector<int64_t> lookup(6000);
  for (int64_t i = 0; i < 6000; ++i) lookup[i] = i * 7 % 5000;
  const std::string map_file = dir_.path() + "/map.npy";
  WriteNpyFile(map_file, "<i8", {lookup.size()}, Int64s(lookup));
  std::string config = kModelConfig;
  config.replace(
      config.find("\"tokenizer_vocab\": 5000"), 23,
      "\"tokenizer_vocab\": 5000, \"compression_map\": \"" + map_file + "\"");
  const std::string compressed_config = dir_.path() + "/compressed.json";
  std::ofstream(compressed_config) << config;

  auto server = ServerProcess::Start(dir_.path() + "/compressed_data", {});
  ASSERT_TRUE(server.ok()) << server.status();
  for (const int layer : {1, 3}) {
    const CommandResult imported = ImportLayer(
        {"--server", (*server)->address()}, layer, compressed_config);
    ASSERT_EQ(imported.exit_code, 0) << imported.err;
  }
  const std::string plain_logits = dir_.path() + "/plain.f32";
  const std::string local_logits = dir_.path() + "/local.f32";
  const std::string server_logits = dir_.path() + "/server.f32";
  ASSERT_EQ(Worker({"--rows=local", "--logits-out=" + plain_logits}).exit_code,
            0);
  const CommandResult local =
      Worker({"--rows=local", "--model-config=" + compressed_config,
              "--logits-out=" + local_logits});
  ASSERT_EQ(local.exit_code, 0) << local.err;
  const CommandResult remote = Worker({"--rows=server=" + (*server)->address(),
                                       "--model-config=" + compressed_config,
                                       "--logits-out=" + server_logits});
  ASSERT_EQ(remote.exit_code, 0) << remote.err;
  EXPECT_TRUE(ReadFile(local_logits) == ReadFile(server_logits));
  // The map changes the rows, so the logits.
  EXPECT_FALSE(ReadFile(local_logits) == ReadFile(plain_logits));

  const CommandResult raw_tables =
      Worker({ServerRows(), "--model-config=" + compressed_config});
  EXPECT_EQ(raw_tables.exit_code, 1);
  EXPECT_THAT(raw_tables.err,
              HasSubstr("hashes raw token ids but the prefetcher was given "
                        "compression map"));
  // A model without the map, on the compressed tables: the prefetcher
  // fetches the tables' map, which is not the model's.
  const CommandResult no_map =
      Worker({"--rows=server=" + (*server)->address()});
  EXPECT_EQ(no_map.exit_code, 1);
  EXPECT_THAT(no_map.err,
              HasSubstr("the prefetcher compresses token ids otherwise than "
                        "the model config's compression_map"));
}

TEST_F(WorkerTest, SavedWeightsRunTheSameModel) {
  const std::string weights = dir_.path() + "/weights.safetensors";
  const CommandResult seeded = Worker({"--save-weights=" + weights});
  ASSERT_EQ(seeded.exit_code, 0) << seeded.err;
  const CommandResult loaded = Worker({"--weights=" + weights});
  ASSERT_EQ(loaded.exit_code, 0) << loaded.err;
  EXPECT_EQ(Numbers(ParseJson(loaded.out).fields().at("tokens")),
            Numbers(ParseJson(seeded.out).fields().at("tokens")));
}

}  // namespace
}  // namespace engram::testing
