#include "server/versions/version_store.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/packed_row_ids.h"
#include "gtest/gtest.h"
#include "tests/test_processes.h"

namespace engram::server {
namespace {

constexpr uint32_t kRowBytes = 1024;
constexpr uint64_t kRowsPerPatch = 1024;

// Bytes of the table files in `dir`, where a patch's rows live.
uint64_t TableFileBytes(const std::string& dir) {
  uint64_t bytes = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() == ".sst") bytes += entry.file_size();
  }
  return bytes;
}

// Commits patch `patch` (kRowsPerPatch rows) as version `version` of "t".
void CommitPatchOfRows(VersionStore& store, uint64_t version) {
  absl::StatusOr<v1::PatchInfo> patch = store.CreatePatch(v1::PatchInfo());
  ASSERT_TRUE(patch.ok()) << patch.status();
  std::vector<uint64_t> ids(kRowsPerPatch);
  for (uint64_t i = 0; i < kRowsPerPatch; ++i) ids[i] = i;
  PatchChunk chunk;
  AppendPackedRowIds(ids, &chunk.ids);
  chunk.rows.assign(kRowsPerPatch * kRowBytes, static_cast<char>(version));
  absl::StatusOr<std::shared_ptr<const PatchRows>> rows =
      PatchRows::Create(patch->patch_id(), {std::move(chunk)}, kRowBytes);
  ASSERT_TRUE(rows.ok()) << rows.status();
  patch->set_committed(true);
  patch->set_rows(kRowsPerPatch);
  patch->set_row_bytes(kRowBytes);
  v1::VersionInfo info;
  info.set_table("t");
  info.set_version(version);
  info.add_patch_ids(patch->patch_id());
  ASSERT_TRUE(store.CommitPatch(*patch, **rows, info).ok());
}

// A server patched every 30 s for days collects thousands of patches: their
// rows must leave the disk when they are collected, not at a compaction
// that may never come.
TEST(VersionStoreTest, DeletedPatchesLeaveTheDisk) {
  testing::TempDir dir;
  absl::StatusOr<std::unique_ptr<VersionStore>> store =
      VersionStore::Open(dir.path());
  ASSERT_TRUE(store.ok()) << store.status();
  constexpr uint64_t kPatchBytes = kRowsPerPatch * kRowBytes;
  for (uint64_t version = 2; version < 42; ++version) {
    CommitPatchOfRows(**store, version);
    if (version > 2) {
      // The previous patch (id version - 2) is collected.
      ASSERT_TRUE((*store)->DeletePatch(version - 2).ok());
      ASSERT_TRUE((*store)->DeleteVersion("t", version - 1).ok());
    }
  }
  // One live patch, and some slack for a file not yet dropped.
  EXPECT_LT(TableFileBytes(dir.path()), 3 * kPatchBytes);
  absl::StatusOr<std::vector<v1::PatchInfo>> patches = (*store)->Patches();
  ASSERT_TRUE(patches.ok());
  ASSERT_EQ(patches->size(), 1u);
  EXPECT_EQ((*patches)[0].patch_id(), 40u);
  // The live patch's rows are still whole, also after a restart.
  store->reset();
  store = VersionStore::Open(dir.path());
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<std::shared_ptr<const PatchRows>> rows =
      (*store)->LoadRows((*patches)[0]);
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ((*rows)->size(), kRowsPerPatch);
  EXPECT_EQ((*rows)->chunks()[0].rows,
            std::string(kRowsPerPatch * kRowBytes, static_cast<char>(41)));
}

}  // namespace
}  // namespace engram::server
