#include "server/service/patch_upload_session.h"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "common/packed_row_ids.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/storage/ram_row_store.h"
#include "tests/test_processes.h"

namespace engram::server {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kRows = 16;
constexpr uint32_t kRowBytes = 4;

// A version manager over a 16-row table "t" of zero rows, with a patch
// created for each test.
class PatchUploadSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    VersionManager::Options options;
    options.control_dir = dir_.path() + "/control";
    versions_ = *VersionManager::Open(options, &tables_);
    auto builder = *RamRowStore::Builder::Create(kRows, kRowBytes);
    std::fill_n(builder->mutable_data(), kRows * kRowBytes, '\0');
    v1::TableInfo info;
    info.set_name("t");
    info.set_rows(kRows);
    info.set_row_bytes(kRowBytes);
    info.set_version(1);
    ASSERT_TRUE(
        versions_->AddTable(*Table::Create(info, std::move(*builder).Build()))
            .ok());
    patch_id_ = versions_->CreatePatch("t", "test")->patch_id();
  }

  v1::UploadPatchRequest Message(const std::vector<uint64_t>& ids,
                                 const std::string& rows) const {
    v1::UploadPatchRequest request;
    request.set_patch_id(patch_id_);
    AppendPackedRowIds(ids, request.mutable_row_ids());
    request.set_rows(rows);
    return request;
  }

  testing::TempDir dir_;
  TableManager tables_;
  std::unique_ptr<VersionManager> versions_;
  uint64_t patch_id_ = 0;
};

TEST_F(PatchUploadSessionTest, MessagesBecomeOnePatch) {
  PatchUploadSession session(versions_.get());
  v1::UploadPatchRequest first = Message({1, 2}, "aaaabbbb");
  ASSERT_TRUE(session.Accept(first).ok());
  // Later messages may leave the patch id out.
  v1::UploadPatchRequest second = Message({3}, "cccc");
  second.clear_patch_id();
  ASSERT_TRUE(session.Accept(second).ok());
  v1::PatchInfo uploaded;
  ASSERT_TRUE(session.Complete(&uploaded).ok());
  EXPECT_EQ(uploaded.rows(), 3);
  EXPECT_FALSE(uploaded.content_digest().empty());
  absl::StatusOr<v1::VersionInfo> version =
      versions_->CommitPatch(patch_id_, uploaded.content_digest());
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(version->version(), 2);
}

TEST_F(PatchUploadSessionTest, ADroppedSessionTakesItsRowsBack) {
  {
    PatchUploadSession session(versions_.get());
    v1::UploadPatchRequest dropped = Message({1}, "xxxx");
    ASSERT_TRUE(session.Accept(dropped).ok());
  }
  PatchUploadSession session(versions_.get());
  v1::UploadPatchRequest kept = Message({2}, "bbbb");
  ASSERT_TRUE(session.Accept(kept).ok());
  v1::PatchInfo uploaded;
  ASSERT_TRUE(session.Complete(&uploaded).ok());
  EXPECT_EQ(uploaded.rows(), 1);
}

TEST_F(PatchUploadSessionTest, MessagesOutOfPlaceAreRefused) {
  {
    // Dropped at the end of the block: a patch takes one upload at a time.
    PatchUploadSession session(versions_.get());
    v1::PatchInfo uploaded;
    const absl::Status empty = session.Complete(&uploaded);
    EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(empty.message(), HasSubstr("names its patch"));

    v1::UploadPatchRequest first = Message({1}, "aaaa");
    ASSERT_TRUE(session.Accept(first).ok());
    v1::UploadPatchRequest other = Message({2}, "bbbb");
    other.set_patch_id(patch_id_ + 1);
    const absl::Status mixed = session.Accept(other);
    EXPECT_EQ(mixed.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(mixed.message(), HasSubstr("for one patch"));
  }

  PatchUploadSession digest_first(versions_.get());
  v1::UploadPatchRequest with_digest = Message({1}, "aaaa");
  with_digest.set_content_digest("sha256:00");
  ASSERT_TRUE(digest_first.Accept(with_digest).ok());
  v1::UploadPatchRequest after = Message({2}, "bbbb");
  after.clear_patch_id();
  const absl::Status late = digest_first.Accept(after);
  EXPECT_EQ(late.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(late.message(), HasSubstr("last message"));
}

TEST_F(PatchUploadSessionTest, UnknownPatchIsNotFound) {
  PatchUploadSession session(versions_.get());
  v1::UploadPatchRequest request = Message({1}, "aaaa");
  request.set_patch_id(patch_id_ + 100);
  EXPECT_EQ(session.Accept(request).code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace engram::server
