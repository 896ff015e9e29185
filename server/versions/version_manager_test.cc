#include "server/versions/version_manager.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "common/addressing/sha256.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/storage/ram_row_store.h"
#include "tests/test_processes.h"

namespace engram::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint64_t kRows = 100;
constexpr uint32_t kRowBytes = 4;

// Base rows are {0, 0, 0, id}.
std::shared_ptr<const Table> BaseTable() {
  auto builder = *RamRowStore::Builder::Create(kRows, kRowBytes);
  for (uint64_t i = 0; i < kRows; ++i) {
    char* row = builder->mutable_data() + i * kRowBytes;
    row[0] = row[1] = row[2] = 0;
    row[3] = static_cast<char>(i);
  }
  v1::TableInfo info;
  info.set_name("t");
  info.set_rows(kRows);
  info.set_row_bytes(kRowBytes);
  info.set_version(1);
  return *Table::Create(info, std::move(*builder).Build());
}

std::string Packed(const std::vector<uint64_t>& ids) {
  std::string packed;
  AppendPackedRowIds(ids, &packed);
  return packed;
}

// Rows {tag, tag, tag, id}.
std::string Rows(char tag, const std::vector<uint64_t>& ids) {
  std::string rows;
  for (uint64_t id : ids) {
    rows.append(3, tag);
    rows.push_back(static_cast<char>(id));
  }
  return rows;
}

class VersionManagerTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open(int retain = 8) {
    versions_.reset();
    tables_ = std::make_unique<TableManager>();
    VersionManager::Options options;
    options.control_dir = dir_.path() + "/control";
    options.retain_versions = retain;
    options.pins.max_ttl = absl::Minutes(5);
    absl::StatusOr<std::unique_ptr<VersionManager>> versions =
        VersionManager::Open(options, tables_.get());
    ASSERT_TRUE(versions.ok()) << versions.status();
    versions_ = *std::move(versions);
    ASSERT_TRUE(versions_->AddTable(BaseTable()).ok());
  }

  // Creates, uploads and commits a patch of rows tagged `tag`.
  absl::StatusOr<v1::VersionInfo> Commit(char tag,
                                         const std::vector<uint64_t>& ids) {
    absl::StatusOr<v1::PatchInfo> patch = versions_->CreatePatch("t", "test");
    if (!patch.ok()) return patch.status();
    {
      absl::StatusOr<std::unique_ptr<VersionManager::Upload>> upload =
          versions_->BeginUpload(patch->patch_id());
      if (!upload.ok()) return upload.status();
      if (absl::Status added = (*upload)->Add(Packed(ids), Rows(tag, ids));
          !added.ok()) {
        return added;
      }
      if (absl::StatusOr<v1::PatchInfo> done = (*upload)->Finish("");
          !done.ok()) {
        return done.status();
      }
    }
    return versions_->CommitPatch(patch->patch_id(), "");
  }

  // Row `id` as served by the active version (or `at`).
  std::string Row(uint64_t id, v1::VersionSelector at = {}) {
    absl::StatusOr<std::shared_ptr<const Table>> table =
        versions_->Resolve("t", at);
    EXPECT_TRUE(table.ok()) << table.status();
    if (!table.ok()) return "";
    std::string out(kRowBytes, '?');
    const std::string ids = Packed({id});
    EXPECT_TRUE((*table)->Lookup(PackedRowIds(ids), out.data(), nullptr).ok());
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<TableManager> tables_;
  std::unique_ptr<VersionManager> versions_;
};

TEST_F(VersionManagerTest, CommitIsInactiveUntilActivated) {
  absl::StatusOr<v1::VersionInfo> v2 = Commit('a', {5, 7});
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ(v2->version(), 2);
  EXPECT_EQ(v2->parent_version(), 1);
  EXPECT_FALSE(v2->active());
  EXPECT_EQ(Row(5), std::string("\0\0\0\x05", 4));
  v1::VersionSelector at;
  at.set_version(2);
  EXPECT_EQ(Row(5, at), std::string("aaa\x05", 4));

  absl::StatusOr<v1::VersionInfo> active = versions_->Activate("t", 2);
  ASSERT_TRUE(active.ok()) << active.status();
  EXPECT_TRUE(active->active());
  EXPECT_EQ(Row(5), std::string("aaa\x05", 4));
  EXPECT_EQ(Row(6), std::string("\0\0\0\x06", 4));
  EXPECT_EQ((*tables_->Get("t"))->version(), 2);
}

TEST_F(VersionManagerTest, PatchesStackAndRollbackRestores) {
  ASSERT_TRUE(Commit('a', {5, 7}).ok());
  ASSERT_TRUE(versions_->Activate("t", 2).ok());
  absl::StatusOr<v1::VersionInfo> v3 = Commit('b', {7, 9});
  ASSERT_TRUE(v3.ok()) << v3.status();
  EXPECT_THAT(v3->patch_ids(), ElementsAre(1, 2));
  ASSERT_TRUE(versions_->Activate("t", 3).ok());
  EXPECT_EQ(Row(5), std::string("aaa\x05", 4));
  EXPECT_EQ(Row(7), std::string("bbb\x07", 4));

  absl::StatusOr<v1::VersionInfo> back = versions_->Rollback("t", 0);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->version(), 2);
  EXPECT_EQ(Row(7), std::string("aaa\x07", 4));
  ASSERT_TRUE(versions_->Rollback("t", 1).ok());
  EXPECT_EQ(Row(7), std::string("\0\0\0\x07", 4));
  EXPECT_EQ(versions_->Rollback("t", 0).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(versions_->Rollback("t", 3).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// Patching the same rows again and again (a soak does) must not grow the
// newest version's stack: replaced patches leave it and are collected with
// the last version that used them.
TEST_F(VersionManagerTest, PatchesWhollyReplacedLeaveTheStackAndAreCollected) {
  uint64_t version = 1;
  for (int round = 0; round < 20; ++round) {
    absl::StatusOr<v1::VersionInfo> committed =
        Commit(static_cast<char>('a' + round % 2), {5, 7});
    ASSERT_TRUE(committed.ok()) << committed.status();
    EXPECT_EQ(committed->patch_ids_size(), 1) << "round " << round;
    version = committed->version();
    ASSERT_TRUE(versions_->Activate("t", version).ok());
  }
  EXPECT_EQ(Row(7), std::string("bbb\x07", 4));
  absl::StatusOr<v1::ListVersionsResponse> listed =
      versions_->ListVersions("t");
  ASSERT_TRUE(listed.ok()) << listed.status();
  absl::flat_hash_set<uint64_t> patches;
  for (const v1::VersionInfo& info : listed->versions()) {
    patches.insert(info.patch_ids().begin(), info.patch_ids().end());
  }
  // One patch per retained version (and the base has none), not all 20.
  EXPECT_LE(patches.size(), static_cast<size_t>(listed->versions_size()));
}

// Readers resolve and read while patches are committed, activated and
// collected (run under ThreadSanitizer in CI): every read sees one
// version's rows, and a pinned version reads the same every time.
TEST_F(VersionManagerTest, ReadersSeeWholeVersionsWhileVersionsSwap) {
  Open(/*retain=*/2);
  const std::vector<uint64_t> ids = {5, 7, 9};
  const std::string packed = Packed(ids);
  std::atomic<bool> done = false;
  std::atomic<int> mixed = 0;
  std::atomic<int> reads = 0;
  // The tags of rows `ids` at `at`, or "" when that version is gone.
  auto read_tags = [&](const v1::VersionSelector& at) -> std::string {
    absl::StatusOr<std::shared_ptr<const Table>> table =
        versions_->Resolve("t", at);
    if (!table.ok()) return "";
    std::string rows(ids.size() * kRowBytes, '?');
    if (!(*table)->Lookup(PackedRowIds(packed), rows.data(), nullptr).ok()) {
      return "";
    }
    std::string tags;
    for (size_t i = 0; i < ids.size(); ++i) tags += rows[i * kRowBytes];
    return tags;
  };
  auto reader = [&] {
    while (!done) {
      const std::string tags = read_tags({});
      if (tags.find_first_not_of(tags[0]) != std::string::npos) ++mixed;
      absl::StatusOr<PinRegistry::Pin> pin =
          versions_->Pin("t", 0, absl::Seconds(10));
      if (!pin.ok()) continue;
      v1::VersionSelector at;
      at.set_pin_id(pin->id);
      const std::string pinned = read_tags(at);
      for (int i = 0; i < 3; ++i) {
        if (read_tags(at) != pinned) ++mixed;
      }
      EXPECT_TRUE(versions_->ReleasePin(pin->id).ok());
      ++reads;
    }
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) readers.emplace_back(reader);
  for (int round = 0; round < 30; ++round) {
    absl::StatusOr<v1::VersionInfo> committed =
        Commit(static_cast<char>('a' + round % 26), ids);
    ASSERT_TRUE(committed.ok()) << committed.status();
    ASSERT_TRUE(versions_->Activate("t", committed->version()).ok());
  }
  done = true;
  for (std::thread& thread : readers) thread.join();
  EXPECT_EQ(mixed, 0);
  EXPECT_GT(reads, 0);
  EXPECT_EQ(Row(9), std::string("ddd\x09", 4));
}

TEST_F(VersionManagerTest, SurvivesRestartWithActiveVersionAndPatches) {
  ASSERT_TRUE(Commit('a', {5}).ok());
  ASSERT_TRUE(Commit('b', {6}).ok());
  ASSERT_TRUE(versions_->Activate("t", 3).ok());
  // An upload left unfinished.
  absl::StatusOr<v1::PatchInfo> unfinished = versions_->CreatePatch("t", "");
  ASSERT_TRUE(unfinished.ok());
  {
    auto upload = versions_->BeginUpload(unfinished->patch_id());
    ASSERT_TRUE(upload.ok());
    ASSERT_TRUE((*upload)->Add(Packed({1}), Rows('x', {1})).ok());
    ASSERT_TRUE((*upload)->Finish("").ok());
  }
  Open();
  EXPECT_EQ((*tables_->Get("t"))->version(), 3);
  EXPECT_EQ(Row(6), std::string("bbb\x06", 4));
  EXPECT_EQ(Row(5), std::string("\0\0\0\x05", 4));
  absl::StatusOr<v1::ListVersionsResponse> list = versions_->ListVersions("t");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->versions_size(), 3);
  EXPECT_EQ(list->active_version(), 3);
  EXPECT_EQ(list->uploading_size(), 0);
  EXPECT_EQ(versions_->BeginUpload(unfinished->patch_id()).status().code(),
            absl::StatusCode::kNotFound);
  // Patch ids are not reused after a restart.
  absl::StatusOr<v1::PatchInfo> next = versions_->CreatePatch("t", "");
  ASSERT_TRUE(next.ok());
  EXPECT_GT(next->patch_id(), unfinished->patch_id());
}

TEST_F(VersionManagerTest, BadPatchesAreRejectedPrecisely) {
  absl::StatusOr<v1::PatchInfo> patch = versions_->CreatePatch("t", "");
  ASSERT_TRUE(patch.ok());
  {
    auto upload = *versions_->BeginUpload(patch->patch_id());
    const absl::Status out_of_range =
        upload->Add(Packed({100}), Rows('a', {100}));
    EXPECT_EQ(out_of_range.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(out_of_range.message(),
                HasSubstr("row id 100 is out of range"));
    const absl::Status wrong_bytes = upload->Add(Packed({1}), "abc");
    EXPECT_EQ(wrong_bytes.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(wrong_bytes.message(), HasSubstr("4 B rows"));
    EXPECT_EQ(upload->Add("1234567", "").code(),
              absl::StatusCode::kInvalidArgument);
  }
  {
    auto upload = *versions_->BeginUpload(patch->patch_id());
    ASSERT_TRUE(upload->Add(Packed({3, 4}), Rows('a', {3, 4})).ok());
    absl::StatusOr<v1::PatchInfo> mismatch =
        upload->Finish(std::string(64, '0'));
    EXPECT_EQ(mismatch.status().code(), absl::StatusCode::kInvalidArgument);
  }
  // The failed stream added nothing.
  absl::StatusOr<v1::ListVersionsResponse> list = versions_->ListVersions("t");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->uploading_size(), 1);
  EXPECT_EQ(list->uploading(0).rows(), 0);

  {
    auto upload = *versions_->BeginUpload(patch->patch_id());
    ASSERT_TRUE(upload->Add(Packed({3, 3}), Rows('a', {3, 3})).ok());
    ASSERT_TRUE(upload->Finish("").ok());
  }
  absl::StatusOr<v1::VersionInfo> duplicate =
      versions_->CommitPatch(patch->patch_id(), "");
  EXPECT_EQ(duplicate.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(duplicate.status().message(), HasSubstr("appears twice"));
  EXPECT_THAT(duplicate.status().message(), HasSubstr("discarded"));
  EXPECT_EQ(versions_->CommitPatch(patch->patch_id(), "").status().code(),
            absl::StatusCode::kNotFound);

  absl::StatusOr<v1::PatchInfo> empty = versions_->CreatePatch("t", "");
  EXPECT_EQ(versions_->CommitPatch(empty->patch_id(), "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(versions_->CreatePatch("nope", "").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(versions_->Activate("t", 42).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(VersionManagerTest, AbortDiscardsAnUncommittedPatch) {
  absl::StatusOr<v1::PatchInfo> patch = versions_->CreatePatch("t", "");
  ASSERT_TRUE(patch.ok());
  {
    auto upload = *versions_->BeginUpload(patch->patch_id());
    ASSERT_TRUE(upload->Add(Packed({3}), Rows('a', {3})).ok());
    EXPECT_EQ(versions_->AbortPatch(patch->patch_id()).status().code(),
              absl::StatusCode::kFailedPrecondition);
    ASSERT_TRUE(upload->Finish("").ok());
  }
  absl::StatusOr<v1::PatchInfo> aborted =
      versions_->AbortPatch(patch->patch_id());
  ASSERT_TRUE(aborted.ok()) << aborted.status();
  EXPECT_EQ(aborted->rows(), 1);
  EXPECT_EQ(versions_->CommitPatch(patch->patch_id(), "").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(versions_->ListVersions("t")->uploading_size(), 0);
  absl::StatusOr<v1::VersionInfo> committed = Commit('b', {4});
  ASSERT_TRUE(committed.ok());
  EXPECT_EQ(versions_->AbortPatch(committed->patch_ids(0)).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(VersionManagerTest, DigestIsCheckedAtCommit) {
  absl::StatusOr<v1::PatchInfo> patch = versions_->CreatePatch("t", "");
  {
    auto upload = *versions_->BeginUpload(patch->patch_id());
    ASSERT_TRUE(upload->Add(Packed({3}), Rows('a', {3})).ok());
    ASSERT_TRUE(upload->Finish("").ok());
  }
  {
    auto upload = *versions_->BeginUpload(patch->patch_id());
    ASSERT_TRUE(upload->Add(Packed({4}), Rows('a', {4})).ok());
    absl::StatusOr<v1::PatchInfo> info = upload->Finish("");
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->rows(), 2);
    ContentDigest expected;
    const std::string ids = Packed({3, 4});
    expected.AddSparseRows(PackedRowIds(ids), Rows('a', {3, 4}), kRowBytes);
    EXPECT_EQ(info->content_digest(), std::move(expected).Finish());
  }
  absl::StatusOr<v1::VersionInfo> wrong =
      versions_->CommitPatch(patch->patch_id(), std::string(64, 'f'));
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong.status().message(), HasSubstr("hash to"));
}

TEST_F(VersionManagerTest, RetentionKeepsNewestActiveBaseAndPinned) {
  Open(/*retain=*/2);
  ASSERT_TRUE(Commit('a', {1}).ok());  // v2
  absl::StatusOr<PinRegistry::Pin> pin =
      versions_->Pin("t", 2, absl::Minutes(1));
  ASSERT_TRUE(pin.ok()) << pin.status();
  ASSERT_TRUE(Commit('b', {2}).ok());  // v3
  ASSERT_TRUE(Commit('c', {3}).ok());  // v4
  ASSERT_TRUE(Commit('d', {4}).ok());  // v5
  absl::StatusOr<v1::ListVersionsResponse> list = versions_->ListVersions("t");
  ASSERT_TRUE(list.ok());
  std::vector<uint64_t> kept;
  for (const v1::VersionInfo& version : list->versions()) {
    kept.push_back(version.version());
  }
  EXPECT_THAT(kept, ElementsAre(5, 4, 2, 1));
  EXPECT_EQ(list->versions(2).pins(), 1);
  v1::VersionSelector through_pin;
  through_pin.set_pin_id(pin->id);
  EXPECT_EQ(Row(1, through_pin), std::string("aaa\x01", 4));
  ASSERT_TRUE(versions_->ReleasePin(pin->id).ok());
  ASSERT_TRUE(Commit('e', {5}).ok());  // v6: v2 goes now
  v1::VersionSelector v2;
  v2.set_version(2);
  EXPECT_EQ(versions_->Resolve("t", v2).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(versions_->Resolve("t", through_pin).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(VersionManagerTest, WatchersHearActivationsWithChangedRows) {
  std::vector<VersionChange> changes;
  absl::StatusOr<uint64_t> watch = versions_->Watch(
      "t", [&](const VersionChange& change) { changes.push_back(change); });
  ASSERT_TRUE(watch.ok());
  ASSERT_TRUE(Commit('a', {9, 4}).ok());
  ASSERT_TRUE(versions_->Activate("t", 2).ok());
  ASSERT_TRUE(versions_->Rollback("t", 0).ok());
  versions_->Unwatch(*watch);
  ASSERT_TRUE(versions_->Activate("t", 2).ok());
  ASSERT_EQ(changes.size(), 3);
  EXPECT_EQ(changes[0].kind, v1::VersionEvent::CURRENT);
  EXPECT_EQ(changes[0].version, 1);
  EXPECT_EQ(changes[1].kind, v1::VersionEvent::ACTIVATED);
  EXPECT_EQ(changes[1].version, 2);
  EXPECT_EQ(changes[1].previous_version, 1);
  EXPECT_THAT(*changes[1].changed_ids, ElementsAre(4, 9));
  EXPECT_EQ(changes[2].kind, v1::VersionEvent::ROLLED_BACK);
  EXPECT_THAT(*changes[2].changed_ids, ElementsAre(4, 9));
}

TEST_F(VersionManagerTest, PinsHoldOneVersionAcrossActivations) {
  ASSERT_TRUE(Commit('a', {1}).ok());
  absl::StatusOr<PinRegistry::Pin> pin = versions_->Pin("t", 0, {});
  ASSERT_TRUE(pin.ok());
  EXPECT_EQ(pin->version, 1);
  ASSERT_TRUE(versions_->Activate("t", 2).ok());
  v1::VersionSelector at;
  at.set_pin_id(pin->id);
  EXPECT_EQ(Row(1, at), std::string("\0\0\0\x01", 4));
  EXPECT_EQ(Row(1), std::string("aaa\x01", 4));
  at.set_version(2);
  EXPECT_EQ(versions_->Resolve("t", at).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(versions_->Pin("t", 0, absl::Hours(2)).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<PinRegistry::Pin> short_pin =
      versions_->Pin("t", 0, absl::Milliseconds(20));
  ASSERT_TRUE(short_pin.ok());
  absl::SleepFor(absl::Milliseconds(60));
  v1::VersionSelector expired;
  expired.set_pin_id(short_pin->id);
  EXPECT_EQ(versions_->Resolve("t", expired).status().code(),
            absl::StatusCode::kNotFound);
}

// The first 16 hex characters of the SHA-256 of `row`, as ExplainRows
// fingerprints rows.
std::string Fingerprint(const std::string& row) {
  return internal::Sha256::ToHex(internal::Sha256::Of(row)).substr(0, 16);
}

TEST_F(VersionManagerTest, ExplainRowsNamesTheTopmostPatchOfTheVersion) {
  ASSERT_TRUE(Commit('a', {5, 7}).ok());  // v2: patch 1
  ASSERT_TRUE(versions_->Activate("t", 2).ok());
  ASSERT_TRUE(Commit('b', {7, 9}).ok());  // v3: patch 2, inactive
  v1::VersionSelector v3;
  v3.set_version(3);
  absl::StatusOr<v1::ExplainRowsResponse> explained =
      versions_->ExplainRows("t", v3, Packed({5, 6, 7, 9}));
  ASSERT_TRUE(explained.ok()) << explained.status();
  EXPECT_EQ(explained->table(), "t");
  EXPECT_EQ(explained->version(), 3);
  ASSERT_EQ(explained->patches_size(), 2);
  EXPECT_EQ(explained->patches(0).patch_id(), 1);
  EXPECT_EQ(explained->patches(0).version(), 2);
  EXPECT_EQ(explained->patches(1).patch_id(), 2);
  EXPECT_EQ(explained->patches(1).version(), 3);
  ASSERT_EQ(explained->rows_size(), 4);
  const std::vector<uint64_t> ids = {5, 6, 7, 9};
  const std::vector<uint64_t> patches = {1, 0, 2, 2};
  const std::vector<std::string> rows = {
      std::string("aaa\x05", 4), std::string("\0\0\0\x06", 4),
      std::string("bbb\x07", 4), std::string("bbb\x09", 4)};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(explained->rows(i).row_id(), ids[i]);
    EXPECT_EQ(explained->rows(i).patch_id(), patches[i]) << ids[i];
    EXPECT_FALSE(explained->rows(i).missing());
    EXPECT_EQ(explained->rows(i).fingerprint(), Fingerprint(rows[i])) << ids[i];
  }

  // The active version (2) has only patch 1; the base has none.
  explained = versions_->ExplainRows("t", {}, Packed({7}));
  ASSERT_TRUE(explained.ok()) << explained.status();
  EXPECT_EQ(explained->version(), 2);
  EXPECT_EQ(explained->rows(0).patch_id(), 1);
  v1::VersionSelector base;
  base.set_version(1);
  explained = versions_->ExplainRows("t", base, Packed({7}));
  ASSERT_TRUE(explained.ok()) << explained.status();
  EXPECT_EQ(explained->patches_size(), 0);
  EXPECT_EQ(explained->rows(0).patch_id(), 0);
  EXPECT_EQ(explained->rows(0).fingerprint(),
            Fingerprint(std::string("\0\0\0\x07", 4)));
}

TEST_F(VersionManagerTest, ExplainRowsRejectsBadRequestsPrecisely) {
  EXPECT_EQ(versions_->ExplainRows("nope", {}, Packed({1})).status().code(),
            absl::StatusCode::kNotFound);
  v1::VersionSelector v9;
  v9.set_version(9);
  EXPECT_EQ(versions_->ExplainRows("t", v9, Packed({1})).status().code(),
            absl::StatusCode::kNotFound);
  const absl::Status beyond =
      versions_->ExplainRows("t", {}, Packed({3, kRows})).status();
  EXPECT_EQ(beyond.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(beyond.message(), HasSubstr("row id 100 at position 1"));
  EXPECT_EQ(versions_->ExplainRows("t", {}, "1234567").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(versions_->ExplainRows("t", {}, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::vector<uint64_t> many(VersionManager::kMaxExplainRows + 1, 0);
  EXPECT_EQ(versions_->ExplainRows("t", {}, Packed(many)).status().code(),
            absl::StatusCode::kResourceExhausted);
}

absl::Status RemoveNothing() { return absl::OkStatus(); }

TEST_F(VersionManagerTest, DropTableDeletesItsVersionsPatchesAndWatches) {
  ASSERT_TRUE(Commit('a', {5}).ok());
  ASSERT_TRUE(versions_->Activate("t", 2).ok());
  ASSERT_TRUE(Commit('b', {6}).ok());
  ASSERT_TRUE(versions_->CreatePatch("t", "never committed").ok());
  std::vector<VersionChange> changes;
  ASSERT_TRUE(versions_
                  ->Watch("t",
                          [&](const VersionChange& change) {
                            changes.push_back(change);
                          })
                  .ok());
  const std::shared_ptr<const Table> held = *tables_->Get("t");
  int removals = 0;
  absl::StatusOr<VersionManager::Dropped> dropped =
      versions_->DropTable("t", /*force=*/false, [&] {
        ++removals;
        return absl::OkStatus();
      });
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(removals, 1);
  EXPECT_EQ(dropped->active->version(), 2);
  EXPECT_EQ(dropped->deleted_patches, 3);
  EXPECT_EQ(dropped->released_pins, 0);
  EXPECT_EQ(tables_->Get("t").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(versions_->ListVersions("t").status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_EQ(changes.size(), 2);
  EXPECT_EQ(changes[1].end.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(changes[1].end.message(), HasSubstr("dropped"));
  // A lookup that resolved the table before the drop still reads it.
  std::string row(kRowBytes, '?');
  const std::string ids = Packed({5});
  ASSERT_TRUE(held->Lookup(PackedRowIds(ids), row.data(), nullptr).ok());
  EXPECT_EQ(row, std::string("aaa\x05", 4));
  EXPECT_EQ(versions_->DropTable("t", false, RemoveNothing).status().code(),
            absl::StatusCode::kNotFound);

  // The control store keeps nothing of it: a table of the same name added
  // at the next start (as a restore from disk would) has only its base.
  Open();
  absl::StatusOr<v1::ListVersionsResponse> list = versions_->ListVersions("t");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->versions_size(), 1);
  EXPECT_EQ(list->uploading_size(), 0);
  EXPECT_EQ(list->active_version(), 1);
  EXPECT_EQ(Row(5), std::string("\0\0\0\x05", 4));
}

TEST_F(VersionManagerTest, DropTableKeepsServingWhenItsRowsCannotBeRemoved) {
  ASSERT_TRUE(Commit('a', {5}).ok());
  ASSERT_TRUE(versions_->Activate("t", 2).ok());
  absl::StatusOr<VersionManager::Dropped> dropped =
      versions_->DropTable("t", false, [] {
        return absl::InternalError("cannot rename the table's directory");
      });
  EXPECT_EQ(dropped.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(Row(5), std::string("aaa\x05", 4));
  Open();
  EXPECT_EQ(Row(5), std::string("aaa\x05", 4));
}

TEST_F(VersionManagerTest, DropTableRefusesPinnedTablesUnlessForced) {
  absl::StatusOr<PinRegistry::Pin> pin = versions_->Pin("t", 0, {});
  ASSERT_TRUE(pin.ok());
  absl::StatusOr<VersionManager::Dropped> refused =
      versions_->DropTable("t", /*force=*/false, RemoveNothing);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("1 live pin(s)"));
  EXPECT_TRUE(tables_->Get("t").ok());

  absl::StatusOr<VersionManager::Dropped> forced =
      versions_->DropTable("t", /*force=*/true, RemoveNothing);
  ASSERT_TRUE(forced.ok()) << forced.status();
  EXPECT_EQ(forced->released_pins, 1);
  v1::VersionSelector at;
  at.set_pin_id(pin->id);
  EXPECT_EQ(versions_->Resolve("t", at).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(VersionManagerTest, DropTableRefusesWhileAPatchIsUploading) {
  absl::StatusOr<v1::PatchInfo> patch = versions_->CreatePatch("t", "");
  ASSERT_TRUE(patch.ok());
  absl::StatusOr<std::unique_ptr<VersionManager::Upload>> upload =
      versions_->BeginUpload(patch->patch_id());
  ASSERT_TRUE(upload.ok());
  EXPECT_EQ(
      versions_->DropTable("t", /*force=*/true, RemoveNothing).status().code(),
      absl::StatusCode::kFailedPrecondition);
  upload->reset();
  EXPECT_TRUE(versions_->DropTable("t", false, RemoveNothing).ok());
}

TEST_F(VersionManagerTest, NewTableDropsRecordsAnInterruptedDropLeft) {
  ASSERT_TRUE(Commit('a', {5}).ok());
  ASSERT_TRUE(versions_->Activate("t", 2).ok());
  // As after a crash between removing the rows and the records: the table
  // is not on disk, so nothing adds it at start.
  versions_.reset();
  tables_ = std::make_unique<TableManager>();
  VersionManager::Options options;
  options.control_dir = dir_.path() + "/control";
  versions_ = *VersionManager::Open(options, tables_.get());

  ASSERT_TRUE(versions_->AddNewTable(BaseTable()).ok());
  EXPECT_EQ(Row(5), std::string("\0\0\0\x05", 4));
  EXPECT_EQ(versions_->ListVersions("t")->versions_size(), 1);
  EXPECT_EQ(versions_->AddNewTable(BaseTable()).code(),
            absl::StatusCode::kAlreadyExists);
  Open();
  EXPECT_EQ(Row(5), std::string("\0\0\0\x05", 4));
  EXPECT_EQ(versions_->ListVersions("t")->versions_size(), 1);
}

}  // namespace
}  // namespace engram::server
