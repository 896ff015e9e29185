#include "server/service/table_importer.h"

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/addressing/compression_map.h"
#include "common/addressing/hash_spec.h"
#include "common/hash_spec_proto.h"
#include "common/packed_row_ids.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_processes.h"

namespace engram::server {
namespace {

using ::testing::HasSubstr;

// A real data directory, version store and table manager in a temp dir.
class ImportSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    storage_ = *TableStorage::Create({.data_dir = dir_.path() + "/data"});
    VersionManager::Options options;
    options.control_dir = dir_.path() + "/control";
    versions_ = *VersionManager::Open(options, &tables_);
    importer_ = std::make_unique<TableImporter>(
        storage_.get(), &tables_, versions_.get(),
        ImportLimits{.max_table_bytes = 1 << 20});
  }

  static v1::ImportTableRequest Header(const std::string& name, uint64_t rows) {
    v1::ImportTableRequest request;
    v1::ImportTableHeader* header = request.mutable_header();
    header->mutable_info()->set_name(name);
    header->mutable_info()->set_rows(rows);
    header->mutable_info()->set_row_bytes(4);
    header->mutable_info()->set_element_type(v1::ELEMENT_TYPE_OPAQUE);
    header->set_placement("ram");
    return request;
  }

  // One layer of 4-byte rows over a vocabulary of 100 token ids.
  static HashSpecConfig SmallConfig() {
    HashSpecConfig config;
    config.layer_ids = {4};
    config.vocab_sizes = {10, 12};
    config.heads_per_ngram = 1;
    config.n_embed_per_ngram = 1;
    config.tokenizer_vocab = 100;
    return config;
  }

  static v1::ImportTableRequest Rows(const std::string& rows) {
    v1::ImportTableRequest request;
    request.set_rows(rows);
    return request;
  }

  // Hands `messages` to `session` in order; the first failure's status.
  static absl::Status AcceptAll(ImportSession& session,
                                std::vector<v1::ImportTableRequest> messages) {
    for (v1::ImportTableRequest& message : messages) {
      if (absl::Status status = session.Accept(message); !status.ok()) {
        return status;
      }
    }
    return absl::OkStatus();
  }

  // Row `id` of table `name` as served.
  std::string Row(const std::string& name, uint64_t id) {
    absl::StatusOr<std::shared_ptr<const Table>> table = tables_.Get(name);
    EXPECT_TRUE(table.ok()) << table.status();
    if (!table.ok()) return "";
    std::string ids;
    AppendPackedRowIds(std::vector<uint64_t>{id}, &ids);
    std::string row(4, '?');
    EXPECT_TRUE((*table)->Lookup(PackedRowIds(ids), row.data(), nullptr).ok());
    return row;
  }

  testing::TempDir dir_;
  TableManager tables_;
  std::unique_ptr<TableStorage> storage_;
  std::unique_ptr<VersionManager> versions_;
  std::unique_ptr<TableImporter> importer_;
};

TEST_F(ImportSessionTest, StreamedRowsAreServedOnceComplete) {
  ImportSession session(importer_.get());
  ASSERT_TRUE(AcceptAll(session, {Header("t", 3), Rows("aaaabbbb")}).ok());
  EXPECT_FALSE(tables_.Get("t").ok());
  ASSERT_TRUE(AcceptAll(session, {Rows("cccc")}).ok());
  v1::ImportTableResponse response;
  const absl::Status completed = session.Complete(&response);
  ASSERT_TRUE(completed.ok()) << completed;
  EXPECT_EQ(response.table().rows_written(), 3);
  EXPECT_FALSE(response.table().content_digest().empty());
  EXPECT_EQ(Row("t", 2), "cccc");
  EXPECT_EQ(Row("t", 0), "aaaa");
}

TEST_F(ImportSessionTest, ADroppedSessionLeavesNothingBehind) {
  {
    ImportSession session(importer_.get());
    ASSERT_TRUE(AcceptAll(session, {Header("t", 3), Rows("aaaa")}).ok());
  }
  EXPECT_FALSE(tables_.Get("t").ok());
  // The name is free again.
  ImportSession session(importer_.get());
  ASSERT_TRUE(AcceptAll(session, {Header("t", 1), Rows("zzzz")}).ok());
  v1::ImportTableResponse response;
  ASSERT_TRUE(session.Complete(&response).ok());
  EXPECT_EQ(Row("t", 0), "zzzz");
}

TEST_F(ImportSessionTest, MessagesOutOfPlaceAreRefused) {
  ImportSession session(importer_.get());
  v1::ImportTableRequest rows = Rows("aaaa");
  const absl::Status early = session.Accept(rows);
  EXPECT_EQ(early.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(early.message(), HasSubstr("starts with a header"));

  v1::ImportTableRequest header = Header("t", 1);
  ASSERT_TRUE(session.Accept(header).ok());
  v1::ImportTableRequest again = Header("t", 1);
  EXPECT_EQ(session.Accept(again).code(), absl::StatusCode::kInvalidArgument);

  v1::ImportTableRequest digest;
  digest.set_content_digest("sha256:00");
  ASSERT_TRUE(session.Accept(digest).ok());
  v1::ImportTableRequest late = Rows("aaaa");
  const absl::Status after_digest = session.Accept(late);
  EXPECT_EQ(after_digest.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(after_digest.message(), HasSubstr("last message"));
}

TEST_F(ImportSessionTest, HeadersAreChecked) {
  ImportSession session(importer_.get());
  v1::ImportTableRequest too_big = Header("big", (1 << 20) / 4 + 1);
  EXPECT_EQ(session.Accept(too_big).code(),
            absl::StatusCode::kResourceExhausted);

  ImportSession from_disk(importer_.get());
  v1::ImportTableRequest source = Header("file", 1);
  source.mutable_header()->mutable_source_file()->set_path("rows.npy");
  const absl::Status no_dir = from_disk.Accept(source);
  EXPECT_EQ(no_dir.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(no_dir.message(), HasSubstr("--import-dir"));

  ImportSession empty(importer_.get());
  v1::ImportTableResponse response;
  EXPECT_EQ(empty.Complete(&response).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ImportSessionTest, AHashSpecMustAddressTheTableBeforeAnyRowIsSent) {
  const HashSpec spec = *HashSpec::FromConfig(SmallConfig());
  const uint64_t rows = spec.rows_in_layer(0);

  ImportSession wrong(importer_.get());
  v1::ImportTableRequest too_many = Header("t", rows + 1);
  *too_many.mutable_header()->mutable_info()->mutable_hash_spec() =
      HashSpecLayerToProto(spec, 0);
  const absl::Status refused = wrong.Accept(too_many);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(), HasSubstr("hash spec addresses"));

  ImportSession session(importer_.get());
  v1::ImportTableRequest header = Header("t", rows);
  *header.mutable_header()->mutable_info()->mutable_hash_spec() =
      HashSpecLayerToProto(spec, 0);
  ASSERT_TRUE(
      AcceptAll(session, {header, Rows(std::string(rows * 4, 'r'))}).ok());
  v1::ImportTableResponse response;
  ASSERT_TRUE(session.Complete(&response).ok());
  EXPECT_EQ(response.table().hash_spec().digest(), spec.Digest());
  absl::StatusOr<std::shared_ptr<const Table>> table = tables_.Get("t");
  ASSERT_TRUE(table.ok()) << table.status();
  ASSERT_NE((*table)->hash_spec(), nullptr);
  EXPECT_EQ((*table)->hash_spec()->rows_in_layer(0), spec.rows_in_layer(0));
}

TEST_F(ImportSessionTest, ACompressionLookupIsKeptWithTheTableOnEitherTier) {
  HashSpecConfig config = SmallConfig();
  config.compression = *CompressionMap::FromLookup(
      {7, 0, 99, 7}, {.compressed_vocab = config.tokenizer_vocab});
  const HashSpec spec = *HashSpec::FromConfig(config);
  const uint64_t rows = spec.rows_in_layer(0);
  const std::string digest = CompressionDigest(config.compression.get());
  for (const std::string placement : {"ram", "ssd"}) {
    const std::string name = "t_" + placement;
    ImportSession session(importer_.get());
    v1::ImportTableRequest header = Header(name, rows);
    header.mutable_header()->set_placement(placement);
    *header.mutable_header()->mutable_info()->mutable_hash_spec() =
        HashSpecLayerToProto(spec, 0);
    header.mutable_header()->set_compression_lookup(
        config.compression->LittleEndian());
    ASSERT_TRUE(
        AcceptAll(session, {header, Rows(std::string(rows * 4, 'r'))}).ok());
    v1::ImportTableResponse response;
    ASSERT_TRUE(session.Complete(&response).ok());
    absl::StatusOr<std::shared_ptr<const Table>> table = tables_.Get(name);
    ASSERT_TRUE(table.ok()) << table.status();
    EXPECT_EQ(CompressionDigest((*table)->compression()), digest);
  }
  // Read back from disk, each table has its map again.
  ASSERT_TRUE(tables_.Remove("t_ram").ok());
  ASSERT_TRUE(tables_.Remove("t_ssd").ok());
  importer_.reset();
  versions_.reset();
  storage_.reset();
  storage_ = *TableStorage::Create({.data_dir = dir_.path() + "/data"});
  absl::StatusOr<std::vector<StoredTable>> stored = storage_->LoadTables();
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_EQ(stored->size(), 2);
  for (const StoredTable& table : *stored) {
    EXPECT_EQ(CompressionDigest(table.compression.get()), digest)
        << table.info.name();
    EXPECT_THAT(table.compression->lookup(),
                ::testing::ElementsAre(7, 0, 99, 7));
  }
  // A map that is not the one the manifest's spec names is damage: the
  // table is not served.
  stored->clear();
  storage_.reset();
  const std::string map_file =
      dir_.path() + "/data/tables/t_ram/" + kCompressionFileName;
  {
    std::ofstream out(map_file, std::ios::binary | std::ios::trunc);
    out << CompressionMap::FromLookup({7, 0, 99, 8}, {.compressed_vocab = 100})
               .value()
               ->LittleEndian();
  }
  storage_ = *TableStorage::Create({.data_dir = dir_.path() + "/data"});
  stored = storage_->LoadTables();
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_EQ(stored->size(), 1);
  EXPECT_EQ((*stored)[0].info.name(), "t_ssd");
}

}  // namespace
}  // namespace engram::server
