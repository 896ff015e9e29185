#include "server/tables/patch_overlay.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Packed(const std::vector<uint64_t>& ids) {
  std::string packed;
  AppendPackedRowIds(ids, &packed);
  return packed;
}

// Rows of 2 bytes: {fill, id}.
std::shared_ptr<const PatchRows> Patch(uint64_t patch_id, char fill,
                                       const std::vector<uint64_t>& ids) {
  std::string rows;
  for (uint64_t id : ids) {
    rows.push_back(fill);
    rows.push_back(static_cast<char>(id));
  }
  std::vector<PatchChunk> chunks;
  chunks.push_back({Packed(ids), rows});
  absl::StatusOr<std::shared_ptr<const PatchRows>> patch =
      PatchRows::Create(patch_id, std::move(chunks), 2);
  EXPECT_TRUE(patch.ok()) << patch.status();
  return *patch;
}

TEST(PatchRowsTest, KeepsUploadOrderAndSortsIds) {
  auto patch = Patch(1, 'a', {9, 2, 5});
  ASSERT_EQ(patch->size(), 3);
  std::vector<std::string> rows;
  patch->ForEachRow([&](uint64_t id, const char* row) {
    rows.push_back(absl::StrCat(id, ":", std::string(row, 2)));
  });
  EXPECT_THAT(rows,
              ElementsAre(std::string("9:a\x09", 4), std::string("2:a\x02", 4),
                          std::string("5:a\x05", 4)));
  EXPECT_THAT(patch->sorted_ids(), ElementsAre(2, 5, 9));
}

TEST(PatchRowsTest, RejectsDuplicateIdsAcrossChunksAndBadShapes) {
  std::vector<PatchChunk> chunks;
  chunks.push_back({Packed({4, 7}), std::string(4, 'x')});
  chunks.push_back({Packed({4}), std::string(2, 'x')});
  absl::StatusOr<std::shared_ptr<const PatchRows>> duplicate =
      PatchRows::Create(3, std::move(chunks), 2);
  EXPECT_EQ(duplicate.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      duplicate.status().message(),
      HasSubstr("row id 4 appears twice in patch 3 (positions 0 and 2)"));
  std::vector<PatchChunk> short_rows;
  short_rows.push_back({Packed({4, 7}), std::string(3, 'x')});
  EXPECT_EQ(PatchRows::Create(3, std::move(short_rows), 2).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(PatchOverlayTest, TopmostPatchWinsAndOthersKeepTheBase) {
  auto overlay =
      PatchOverlay::Create({Patch(1, 'a', {1, 2}), Patch(2, 'b', {2, 3})});
  const std::string ids = Packed({0, 1, 2, 3, 4});
  std::string out(10, '.');
  MissingRows missing(5);
  for (size_t i = 0; i < 5; ++i) missing.Set(i);
  overlay->Apply(PackedRowIds(ids), out.data(), &missing);
  EXPECT_EQ(out, std::string("..a\x01"
                             "b\x02"
                             "b\x03..",
                             10));
  EXPECT_TRUE(missing.Get(0));
  EXPECT_FALSE(missing.Get(1));
  EXPECT_FALSE(missing.Get(2));
  EXPECT_FALSE(missing.Get(3));
  EXPECT_TRUE(missing.Get(4));
}

TEST(PatchOverlayTest, ProviderIsTheTopmostPatchThatHasTheRow) {
  auto overlay =
      PatchOverlay::Create({Patch(1, 'a', {1, 2}), Patch(2, 'b', {2, 3})});
  EXPECT_EQ(overlay->Provider(0), nullptr);
  ASSERT_NE(overlay->Provider(1), nullptr);
  EXPECT_EQ(overlay->Provider(1)->patch_id(), 1);
  ASSERT_NE(overlay->Provider(2), nullptr);
  EXPECT_EQ(overlay->Provider(2)->patch_id(), 2);
  ASSERT_NE(overlay->Provider(3), nullptr);
  EXPECT_EQ(overlay->Provider(3)->patch_id(), 2);
  EXPECT_EQ(overlay->Provider(4), nullptr);
  // The row the provider names is the one lookups get.
  EXPECT_EQ(std::string(overlay->Find(2), 2), "b\x02");
}

TEST(PatchOverlayTest, WithoutShadowedDropsOnlyPatchesThatProvideNoRow) {
  // 1 is wholly replaced by 3 and 4; 2 still provides row 5.
  const auto kept = PatchOverlay::WithoutShadowed(
      {Patch(1, 'a', {1, 2}), Patch(2, 'b', {2, 5}), Patch(3, 'c', {1}),
       Patch(4, 'd', {2})});
  std::vector<uint64_t> ids;
  for (const auto& patch : kept) ids.push_back(patch->patch_id());
  EXPECT_THAT(ids, ElementsAre(2, 3, 4));
  // Lookups through the pruned stack are those through the whole one.
  auto whole =
      PatchOverlay::Create({Patch(1, 'a', {1, 2}), Patch(2, 'b', {2, 5}),
                            Patch(3, 'c', {1}), Patch(4, 'd', {2})});
  auto pruned = PatchOverlay::Create(kept);
  for (uint64_t id = 0; id < 8; ++id) {
    const char* a = whole->Find(id);
    const char* b = pruned->Find(id);
    ASSERT_EQ(a == nullptr, b == nullptr) << id;
    if (a != nullptr) EXPECT_EQ(std::string(a, 2), std::string(b, 2)) << id;
  }
}

TEST(PatchOverlayTest, FilterNeverHidesAPatchedRow) {
  std::vector<uint64_t> ids;
  for (uint64_t i = 0; i < 5000; ++i) ids.push_back(i * 7919);
  auto overlay = PatchOverlay::Create({Patch(1, 'z', ids)});
  for (uint64_t id : ids) ASSERT_NE(overlay->Find(id), nullptr) << id;
  int found = 0;
  for (uint64_t id = 1; id < 7919; ++id) found += overlay->Find(id) != nullptr;
  EXPECT_EQ(found, 0);
}

TEST(PatchOverlayTest, ChangedIdsAreThePatchesAboveTheCommonPrefix) {
  auto p1 = Patch(1, 'a', {1, 2});
  auto p2 = Patch(2, 'b', {2, 3});
  auto p3 = Patch(3, 'c', {8});
  auto v2 = PatchOverlay::Create({p1});
  auto v3 = PatchOverlay::Create({p1, p2});
  auto v4 = PatchOverlay::Create({p1, p3});
  EXPECT_THAT(PatchOverlay::ChangedIds(v2.get(), v3.get()), ElementsAre(2, 3));
  EXPECT_THAT(PatchOverlay::ChangedIds(v3.get(), v4.get()),
              ElementsAre(2, 3, 8));
  EXPECT_THAT(PatchOverlay::ChangedIds(nullptr, v3.get()),
              ElementsAre(1, 2, 3));
  EXPECT_TRUE(PatchOverlay::ChangedIds(v3.get(), v3.get()).empty());
}

}  // namespace
}  // namespace engram::server
