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

// engram-server flags creating SmallDemoConfig()'s tables.
std::vector<std::string> SmallDemoFlags();

// The bytes of `rows` of demo layer `layer_id` (SmallDemoConfig) back to back.
std::string ExpectedDemoRows(int64_t layer_id,
                             const std::vector<uint64_t>& rows);

class DemoServerTest : public ::testing::Test {
 protected:
  // Starts the server with SmallDemoFlags() plus ExtraServerFlags().
  void SetUp() override;
  virtual std::vector<std::string> ExtraServerFlags() const { return {}; }

  uint64_t LayerRows(int64_t layer_id) const;
  // A client of the fixture's server (10 s default timeout).
  absl::StatusOr<std::unique_ptr<client::EngramClient>> Connect() const;

  TempDir dir_;
  std::unique_ptr<ServerProcess> server_;
};

}  // namespace engram::testing

#endif  // ENGRAM_TESTS_DEMO_SERVER_FIXTURE_H_
