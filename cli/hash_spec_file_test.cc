#include "cli/hash_spec_file.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/addressing/npy.h"
#include "common/hash_spec_proto.h"
#include "common/write_file.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "tests/demo_server_fixture.h"
#include "tests/test_processes.h"

namespace engram::cli {
namespace {

using ::engram::testing::TempDir;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;

const std::vector<int64_t> kLookup = {0, 1, 1, 2, 999};

// Layer 7 of the small demo config, optionally hashing ids compressed by
// kLookup.
v1::HashSpec ServedSpec(bool compressed) {
  HashSpecConfig config = ::engram::testing::SmallDemoConfig();
  config.tokenizer_vocab = 1000;
  if (compressed) {
    config.compression = *CompressionMap::FromLookup(
        kLookup, {.compressed_vocab = config.tokenizer_vocab});
  }
  return HashSpecLayerToProto(*HashSpec::FromConfig(config), 1);
}

// A table declaring `spec`, as a client describes it.
client::TableDescription Described(const v1::HashSpec& spec) {
  client::TableDescription table;
  table.hash_spec =
      std::make_shared<const HashSpec>(*HashSpecLayerFromProto(spec));
  table.hash_spec_digest = spec.digest();
  table.compression_digest = spec.compression_digest();
  return table;
}

class HashSpecFileTest : public ::testing::Test {
 protected:
  // Writes `spec` as export does; returns the path.
  std::string WriteSpec(const v1::HashSpec& spec) {
    const std::string path = dir_.path() + "/spec.json";
    EXPECT_TRUE(WriteStringToFile(path, HashSpecJson(spec)).ok());
    return path;
  }
  std::string WriteMap(const std::vector<int64_t>& lookup) {
    const std::string path = dir_.path() + "/map.npy";
    EXPECT_TRUE(WriteStringToFile(path, internal::EncodeNpyInt64(lookup)).ok());
    return path;
  }

  TempDir dir_;
};

TEST_F(HashSpecFileTest, ATablesSpecComesBackAsItsServerHeldIt) {
  for (const bool compressed : {false, true}) {
    const v1::HashSpec served = ServedSpec(compressed);
    const v1::HashSpec exported = TableHashSpecProto(Described(served));
    EXPECT_TRUE(MessageDifferencer::Equals(exported, served))
        << exported.DebugString() << " vs " << served.DebugString();

    const absl::StatusOr<TableAddressing> loaded = LoadTableAddressing(
        WriteSpec(exported), compressed ? WriteMap(kLookup) : "");
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_TRUE(MessageDifferencer::Equals(loaded->spec, served));
    if (compressed) {
      ASSERT_NE(loaded->compression, nullptr);
      EXPECT_THAT(loaded->compression->lookup(),
                  ::testing::ElementsAreArray(kLookup));
    } else {
      EXPECT_EQ(loaded->compression, nullptr);
    }
  }
}

TEST_F(HashSpecFileTest, AMapMustComeWithTheSpecThatNamesIt) {
  const std::string compressed = WriteSpec(ServedSpec(true));
  absl::Status status = LoadTableAddressing(compressed, "").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("give its map with --compression"));

  status =
      LoadTableAddressing(compressed, WriteMap({0, 1, 2, 2, 999})).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("not to the map"));

  const std::string raw = WriteSpec(ServedSpec(false));
  status = LoadTableAddressing(raw, WriteMap(kLookup)).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("hashes raw token ids"));
}

TEST_F(HashSpecFileTest, BadFilesAreRefusedNamingThem) {
  EXPECT_EQ(LoadTableAddressing(dir_.path() + "/none.json", "").status().code(),
            absl::StatusCode::kNotFound);

  const std::string path = dir_.path() + "/spec.json";
  ASSERT_TRUE(WriteStringToFile(path, "{\"seed\": [1]}").ok());
  absl::Status status = LoadTableAddressing(path, "").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr(path));

  v1::HashSpec inconsistent = ServedSpec(false);
  inconsistent.clear_head_sizes();
  status = LoadTableAddressing(WriteSpec(inconsistent), "").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("spec.json"));

  v1::HashSpec undigested = ServedSpec(false);
  undigested.clear_digest();
  status = LoadTableAddressing(WriteSpec(undigested), "").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("no digest"));
}

}  // namespace
}  // namespace engram::cli
