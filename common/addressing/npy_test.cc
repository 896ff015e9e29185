#include "common/addressing/npy.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/addressing/mini_json.h"
#include "common/addressing/test_paths.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace engram::internal {
namespace {

using ::testing::HasSubstr;

// The files numpy wrote at build time: each either parses to its values or
// fails naming the problem (manifest.json says which).
TEST(NpyTest, NumpyWrittenFiles) {
  absl::StatusOr<JsonValue> manifest =
      ReadJsonFile(TestDataPath("npy/manifest.json"));
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  for (const JsonValue& entry : manifest->items()) {
    const std::string& file = entry["file"].AsString();
    SCOPED_TRACE(file);
    absl::StatusOr<std::vector<int64_t>> values =
        ReadNpyInt64(TestDataPath("npy/" + file));
    if (entry["ok"].AsBool()) {
      ASSERT_TRUE(values.ok()) << values.status();
      EXPECT_EQ(*values, entry["values"].FlattenInt64());
    } else {
      ASSERT_FALSE(values.ok());
      EXPECT_EQ(values.status().code(), absl::StatusCode::kInvalidArgument);
      const std::string& note = entry["note"].AsString();
      EXPECT_THAT(values.status().message(),
                  HasSubstr(note == "dtype" ? "dtype" : "dimensions"));
    }
  }
}

TEST(NpyTest, EncodeIsByteIdenticalToNumpySave) {
  const std::string numpy_bytes = ReadTestFile(TestDataPath("npy/v1.npy"));
  absl::StatusOr<std::vector<int64_t>> values = ParseNpyInt64(numpy_bytes);
  ASSERT_TRUE(values.ok()) << values.status();
  EXPECT_EQ(EncodeNpyInt64(*values), numpy_bytes);
  const std::vector<int64_t> edge = {INT64_MIN, -1, 0, 1, INT64_MAX};
  absl::StatusOr<std::vector<int64_t>> round_trip =
      ParseNpyInt64(EncodeNpyInt64(edge));
  ASSERT_TRUE(round_trip.ok());
  EXPECT_EQ(*round_trip, edge);
}

TEST(NpyTest, EncodedHeadersParseBackAndAlignTheData) {
  for (const std::vector<uint64_t>& shape :
       std::vector<std::vector<uint64_t>>{{0}, {7}, {3, 4}, {123456789, 64}}) {
    const std::string header = EncodeNpyHeader("<f4", shape);
    EXPECT_EQ(header.size() % 64, 0) << header;
    absl::StatusOr<NpyHeader> parsed = ParseNpyHeader(header);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->descr, "<f4");
    EXPECT_FALSE(parsed->fortran_order);
    EXPECT_EQ(parsed->shape, shape);
    EXPECT_EQ(parsed->data_offset, header.size());
  }
  const std::string int64_header =
      EncodeNpyHeader("<i8", std::vector<uint64_t>{3});
  EXPECT_EQ(int64_header,
            EncodeNpyInt64({1, 2, 3}).substr(0, int64_header.size()));
}

TEST(NpyTest, HeadersPaddedToTheRoomOfALargerShape) {
  const std::vector<uint64_t> largest = {1ull << 40, 64};
  const size_t room = EncodeNpyHeader("<f4", largest).size();
  for (const std::vector<uint64_t>& shape :
       std::vector<std::vector<uint64_t>>{{0, 64}, {12345, 64}, largest}) {
    const std::string header = EncodeNpyHeader("<f4", shape, room);
    EXPECT_EQ(header.size(), room);
    absl::StatusOr<NpyHeader> parsed = ParseNpyHeader(header);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(parsed->shape, shape);
    EXPECT_EQ(parsed->data_offset, room);
  }
  // Room beyond what the shape needs: padded all the same.
  EXPECT_EQ(EncodeNpyHeader("<i8", std::vector<uint64_t>{3}, 256).size(), 256);
}

std::string WithHeader(char major, const std::string& dict,
                       const std::string& data) {
  std::string out("\x93NUMPY", 6);
  out.push_back(major);
  out.push_back('\0');
  const size_t n = dict.size();
  out.push_back(static_cast<char>(n & 0xff));
  out.push_back(static_cast<char>(n >> 8));
  if (major != 1) {
    out.push_back('\0');
    out.push_back('\0');
  }
  return out + dict + data;
}

TEST(NpyTest, RejectsMalformedFiles) {
  const std::string eight(8, '\0');
  const std::string good =
      "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }\n";
  ASSERT_TRUE(ParseNpyInt64(WithHeader(1, good, eight)).ok());
  // A 1-D array in Fortran order has the same layout and is accepted.
  EXPECT_TRUE(
      ParseNpyInt64(
          WithHeader(2, "{'descr':'<i8','fortran_order':True,'shape':(1,)}",
                     eight))
          .ok());

  struct Case {
    std::string bytes;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"not numpy at all", "magic"},
      {WithHeader(4, good, eight), "version 4"},
      {WithHeader(1, good, ""), "0 bytes"},
      {WithHeader(1, good, eight + eight), "16 bytes"},
      {WithHeader(1, "{'descr': '<i8', 'shape': (1,)}", eight),
       "fortran_order"},
      {WithHeader(1, "{'descr': '<i8', 'fortran_order': False", eight),
       "expected ',' or '}'"},
      {WithHeader(1,
                  "{'descr': '<i8', 'fortran_order': False, "
                  "'shape': (1,), 'extra': 1}",
                  eight),
       "unexpected key"},
      {WithHeader(1,
                  "{'descr': '>i8', 'fortran_order': False, "
                  "'shape': (1,)}",
                  eight),
       "dtype"},
      {WithHeader(1,
                  "{'descr': '<i8', 'fortran_order': False, "
                  "'shape': (1, 1)}",
                  eight),
       "2 dimensions"},
      {WithHeader(1,
                  "{'descr': '<i8', 'fortran_order': False, "
                  "'shape': (x,)}",
                  eight),
       "shape"},
      {WithHeader(1,
                  "{'descr': '<i8', 'fortran_order': False, "
                  "'shape': (99999999999999999999,)}",
                  eight),
       "shape"},
      {WithHeader(1,
                  "{'descr': '<i8', 'fortran_order': False, "
                  "'shape': (2305843009213693953,)}",
                  eight),
       "expected 2305843009213693953 x 8"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<int64_t>> values = ParseNpyInt64(c.bytes);
    ASSERT_FALSE(values.ok()) << c.message;
    EXPECT_EQ(values.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(values.status().message(), HasSubstr(c.message));
  }
  // A header longer than the file.
  std::string truncated = WithHeader(1, good, eight).substr(0, 20);
  EXPECT_FALSE(ParseNpyInt64(truncated).ok());
}

TEST(NpyTest, MissingFileIsNotFound) {
  EXPECT_EQ(ReadNpyInt64("/nonexistent/x.npy").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace engram::internal
