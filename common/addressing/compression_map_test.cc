#include "common/addressing/compression_map.h"

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/addressing/npy.h"
#include "common/addressing/sha256.h"
#include "common/addressing/test_paths.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(CompressionMapTest, LoadsNumpyFile) {
  CompressionMap::Options options;
  options.compressed_vocab = 1000;  // gen_test_data.py draws v1 in [0, 1000)
  absl::StatusOr<std::unique_ptr<CompressionMap>> map =
      CompressionMap::Load(internal::TestDataPath("npy/v1.npy"), options);
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ((*map)->raw_vocab(), 1000);
  EXPECT_EQ((*map)->compressed_vocab(), 1000);
  for (int64_t id = 0; id < (*map)->raw_vocab(); ++id) {
    EXPECT_EQ((*map)->Compress(id), (*map)->lookup()[id]);
  }
  // The content digest covers the same bytes as the .npy data section.
  const std::string npy = internal::EncodeNpyInt64((*map)->lookup());
  EXPECT_EQ((*map)->content_digest(),
            internal::Sha256::Of(std::string_view(npy).substr(
                npy.size() - 8 * (*map)->lookup().size())));

  options.expected_raw_vocab = 1000;
  EXPECT_TRUE(
      CompressionMap::Load(internal::TestDataPath("npy/v1.npy"), options).ok());
}

TEST(CompressionMapTest, LoadErrors) {
  CompressionMap::Options options;
  options.compressed_vocab = 1000;
  EXPECT_EQ(CompressionMap::Load("/nonexistent.npy", options).status().code(),
            absl::StatusCode::kNotFound);

  absl::Status status =
      CompressionMap::Load(internal::TestDataPath("npy/int32.npy"), options)
          .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("int32.npy"));
  EXPECT_THAT(status.message(), HasSubstr("dtype"));

  status =
      CompressionMap::Load(internal::TestDataPath("npy/two_d.npy"), options)
          .status();
  EXPECT_THAT(status.message(), HasSubstr("dimensions"));

  options.expected_raw_vocab = 999;
  status = CompressionMap::Load(internal::TestDataPath("npy/v1.npy"), options)
               .status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("1000 entries, expected 999"));
}

TEST(CompressionMapTest, ValuesMustFitTheCompressedVocabulary) {
  CompressionMap::Options options;
  options.compressed_vocab = 3;
  EXPECT_TRUE(CompressionMap::FromLookup({0, 1, 2, 2, 0}, options).ok());

  absl::Status status =
      CompressionMap::FromLookup({0, 1, 3, 2}, options).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("entry 2 is 3, outside [0, 3)"));

  status = CompressionMap::FromLookup({0, -1}, options).status();
  EXPECT_THAT(status.message(), HasSubstr("entry 1 is -1"));

  options.compressed_vocab = 0;
  EXPECT_FALSE(CompressionMap::FromLookup({0}, options).ok());
}

TEST(CompressionMapTest, DigestDependsOnContents) {
  CompressionMap::Options options;
  options.compressed_vocab = 4;
  auto a = CompressionMap::FromLookup({0, 1, 2, 3}, options);
  auto b = CompressionMap::FromLookup({0, 1, 2, 3}, options);
  auto c = CompressionMap::FromLookup({0, 1, 3, 3}, options);
  auto d = CompressionMap::FromLookup({0, 1, 2}, options);
  ASSERT_TRUE(a.ok() && b.ok() && c.ok() && d.ok());
  EXPECT_EQ((*a)->content_digest(), (*b)->content_digest());
  EXPECT_NE((*a)->content_digest(), (*c)->content_digest());
  EXPECT_NE((*a)->content_digest(), (*d)->content_digest());
}

TEST(CompressionMapTest, LittleEndianBytesRoundTrip) {
  const CompressionMap::Options options = {.compressed_vocab = 300};
  auto map = CompressionMap::FromLookup({1, 256}, options);
  ASSERT_TRUE(map.ok()) << map.status();
  const std::string bytes = (*map)->LittleEndian();
  EXPECT_EQ(bytes, std::string("\x01\0\0\0\0\0\0\0\0\x01\0\0\0\0\0\0", 16));
  auto back = CompressionMap::FromLittleEndian(bytes, options);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_THAT((*back)->lookup(), ElementsAre(1, 256));
  EXPECT_EQ((*back)->content_digest(), (*map)->content_digest());
  EXPECT_THAT(CompressionMap::FromLittleEndian(bytes.substr(1), options)
                  .status()
                  .message(),
              HasSubstr("not a whole number of 8-byte int64 values"));
  // The values are checked as FromLookup checks them.
  EXPECT_FALSE(
      CompressionMap::FromLittleEndian(bytes, {.compressed_vocab = 256}).ok());
}

TEST(CompressionMapTest, CompressInPlaceMapsEveryIdOrNamesTheFirstOutside) {
  auto map = CompressionMap::FromLookup({2, 0, 1}, {.compressed_vocab = 3});
  ASSERT_TRUE(map.ok()) << map.status();
  std::vector<int64_t> ids = {0, 1, 2, 2};
  ASSERT_TRUE((*map)->CompressInPlace(absl::MakeSpan(ids)).ok());
  EXPECT_THAT(ids, ElementsAre(2, 0, 1, 1));
  std::vector<int64_t> outside = {0, 3};
  const absl::Status status = (*map)->CompressInPlace(absl::MakeSpan(outside));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("token 3 at position 1 is outside the compression "
                        "map's raw vocabulary [0, 3)"));
  std::vector<int64_t> negative = {-1};
  EXPECT_FALSE((*map)->CompressInPlace(absl::MakeSpan(negative)).ok());
}

}  // namespace
}  // namespace engram
