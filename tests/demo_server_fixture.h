// A test fixture serving small demo tables from a real engram-server
// process, with the config they were made from so tests can predict every
// row (FillDemoRow) and the table sizes (HashSpec).
#ifndef ENGRAM_TESTS_DEMO_SERVER_FIXTURE_H_
#define ENGRAM_TESTS_DEMO_SERVER_FIXTURE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "client/engram_client.h"
#include "client/prefetcher.h"
#include "common/addressing/compression_map.h"
#include "common/addressing/hash_spec.h"
#include "common/element_type.h"
#include "gtest/gtest.h"
#include "tests/test_processes.h"

namespace engram::testing {

// The demo config the fixture's server runs: two layers, two n-gram orders
// of two heads, 8 f32 values (32 B) per row.
HashSpecConfig SmallDemoConfig();
inline constexpr ElementType kSmallDemoType = ElementType::kF32;
inline constexpr int kSmallDemoValues = 8;

// The rows of demo layer `layer_id` of SmallDemoConfig().
uint64_t LayerRows(int64_t layer_id);

// engram-server flags creating SmallDemoConfig()'s tables.
std::vector<std::string> SmallDemoFlags();

// A token compression map onto SmallDemoConfig()'s vocabulary (129280)
// from kDemoRawVocab raw ids: raw id i -> i * factor modulo 129280, so
// some raw ids lie beyond the compressed ones and some fold together.
inline constexpr int64_t kDemoRawVocab = 130000;
std::shared_ptr<const CompressionMap> DemoCompressionMap(int64_t factor);

// Saves `map` as the .npy `path` that engramctl --compression reads.
void WriteCompressionMapNpy(const std::string& path, const CompressionMap& map);

// Demo table layer_<layer> of the server at `address` imported there again
// as `table`, with SmallDemoConfig()'s hash flags (engramctl import
// --hash-layer) and `extra` flags: the rows are exported to
// `dir`/layer_<layer>.npy first, unless that file exists.
CommandResult ImportDemoLayerAs(const std::string& address,
                                const std::string& dir, int64_t layer,
                                const std::string& table,
                                const std::vector<std::string>& extra = {});

// The same, exported from the server at `source` and imported through
// engramctl's `destination` flags (e.g. {"--shard-map", FILE}).
CommandResult ImportDemoLayerTo(const std::vector<std::string>& destination,
                                const std::string& source,
                                const std::string& dir, int64_t layer,
                                const std::string& table,
                                const std::vector<std::string>& extra = {});

// The bytes of `rows` of demo layer `layer_id` (SmallDemoConfig) back to back.
std::string ExpectedDemoRows(int64_t layer_id,
                             const std::vector<uint64_t>& rows);

// A client of `address` (10 s default timeout).
absl::StatusOr<std::unique_ptr<client::EngramClient>> ConnectClient(
    const std::string& address);

// A client of `address` and a Prefetcher of both SmallDemoConfig() layers
// (layer_3, layer_7) over it.
struct DemoPrefetcher {
  std::unique_ptr<client::EngramClient> client;
  std::unique_ptr<client::Prefetcher> prefetcher;
};
absl::StatusOr<DemoPrefetcher> ConnectDemoPrefetcher(
    const std::string& address);

class DemoServerTest : public ::testing::Test {
 protected:
  // Starts the server with SmallDemoFlags() plus ExtraServerFlags().
  void SetUp() override { StartServer(); }
  virtual std::vector<std::string> ExtraServerFlags() const { return {}; }

  // Stops the server, if running, and starts it again on the same data
  // directory (tables imported meanwhile are read back from disk).
  void StartServer();

  // A client of the fixture's server (10 s default timeout).
  absl::StatusOr<std::unique_ptr<client::EngramClient>> Connect() const;

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
};

}  // namespace engram::testing

#endif  // ENGRAM_TESTS_DEMO_SERVER_FIXTURE_H_
