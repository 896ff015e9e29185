#include "common/table_file.h"

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_processes.h"

namespace engram {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

internal::NpyHeader Header(std::string descr, std::vector<uint64_t> shape) {
  return internal::NpyHeader{std::move(descr), false, std::move(shape), 128};
}

TEST(LayoutFromNpyTest, MapsDtypesToTableTypes) {
  absl::StatusOr<NpyTableLayout> layout =
      LayoutFromNpy(Header("<f4", {10, 16}), 128 + 10 * 64, std::nullopt);
  ASSERT_TRUE(layout.ok()) << layout.status();
  EXPECT_EQ(layout->rows, 10);
  EXPECT_EQ(layout->row_bytes, 64);
  EXPECT_EQ(layout->element_type, ElementType::kF32);
  EXPECT_THAT(layout->dims, ElementsAre(16));
  EXPECT_EQ(layout->data_offset, 128);

  layout = LayoutFromNpy(Header("<u2", {3, 4}), 128 + 24, std::nullopt);
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->element_type, ElementType::kBf16);

  layout = LayoutFromNpy(Header("|u1", {3, 264}), 128 + 3 * 264, std::nullopt);
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->element_type, ElementType::kOpaque);
  EXPECT_TRUE(layout->dims.empty());

  layout =
      LayoutFromNpy(Header("|u1", {3, 8}), 128 + 24, ElementType::kFp8E4m3);
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->element_type, ElementType::kFp8E4m3);

  layout = LayoutFromNpy(Header("<i8", {2, 2}), 128 + 32, ElementType::kOpaque);
  ASSERT_TRUE(layout.ok());
  EXPECT_EQ(layout->row_bytes, 16);
}

// What NpyRowDtypeFor says to write reads back as the same rows.
TEST(NpyRowDtypeForTest, ReadsBackAsTheSameType) {
  for (const ElementType type :
       {ElementType::kF32, ElementType::kF16, ElementType::kBf16,
        ElementType::kOpaque, ElementType::kFp8E4m3, ElementType::kFp8E5m2}) {
    const NpyRowDtype dtype = NpyRowDtypeFor(type, 264);
    const bool fp8 =
        type == ElementType::kFp8E4m3 || type == ElementType::kFp8E5m2;
    absl::StatusOr<NpyTableLayout> layout =
        LayoutFromNpy(Header(dtype.descr, {3, dtype.columns}), 128 + 3 * 264,
                      fp8 ? std::optional<ElementType>(type) : std::nullopt);
    ASSERT_TRUE(layout.ok())
        << ElementTypeName(type) << ": " << layout.status();
    EXPECT_EQ(layout->element_type, type) << dtype.descr;
    EXPECT_EQ(layout->row_bytes, 264) << dtype.descr;
  }
  EXPECT_STREQ(NpyRowDtypeFor(ElementType::kBf16, 128).descr, "<u2");
  EXPECT_EQ(NpyRowDtypeFor(ElementType::kBf16, 128).columns, 64);
}

TEST(LayoutFromNpyTest, RejectsWhatCannotBeATable) {
  auto error = [](internal::NpyHeader header, uint64_t size,
                  std::optional<ElementType> dtype = std::nullopt) {
    absl::StatusOr<NpyTableLayout> layout = LayoutFromNpy(header, size, dtype);
    EXPECT_EQ(layout.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(layout.status().message());
  };
  EXPECT_THAT(error(Header("<f4", {10}), 168), HasSubstr("2-D"));
  EXPECT_THAT(error(Header("<f4", {2, 2, 2}), 160), HasSubstr("2-D"));
  EXPECT_THAT(error(Header(">f4", {2, 2}), 144), HasSubstr("little-endian"));
  EXPECT_THAT(error(Header("<f8", {2, 2}), 160), HasSubstr("no table type"));
  EXPECT_THAT(error(Header("<f4", {2, 2}), 140), HasSubstr("truncated"));
  EXPECT_THAT(error(Header("<f4", {2, 2}), 150), HasSubstr("trailing"));
  EXPECT_THAT(error(Header("<f4", {2, 2}), 144, ElementType::kBf16),
              HasSubstr("2-byte elements"));
  internal::NpyHeader fortran = Header("<f4", {2, 2});
  fortran.fortran_order = true;
  EXPECT_THAT(error(fortran, 144), HasSubstr("Fortran"));
}

// Sizes whose product wraps around 64 bits must not pass the size check
// with the wrapped value (the rows would then lie beyond the file).
TEST(LayoutFromNpyTest, RejectsShapesWhoseSizeOverflows) {
  // 2^62 + 1 values of 4 bytes: 4 bytes once wrapped.
  absl::StatusOr<NpyTableLayout> layout = LayoutFromNpy(
      Header("<f4", {1, (uint64_t{1} << 62) + 1}), 128 + 4, std::nullopt);
  EXPECT_EQ(layout.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(layout.status().message(), HasSubstr("overflow"));
  // 2^61 + 1 rows of 8 bytes: 8 bytes once wrapped.
  layout = LayoutFromNpy(Header("<f4", {(uint64_t{1} << 61) + 1, 2}), 128 + 8,
                         std::nullopt);
  EXPECT_EQ(layout.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(layout.status().message(), HasSubstr("overflow"));
}

// Header numbers are JSON doubles: negative, fractional or huge ones are
// refused, not cast (a cast of -6 to uint64 is undefined behaviour).
TEST(SourceFromSafetensorsTest, RejectsNumbersThatAreNotSizes) {
  const std::string data(16, 'x');
  for (const std::string& entry :
       {R"({"dtype": "F32", "shape": [2, 2], "data_offsets": [6, -2]})",
        R"({"dtype": "F32", "shape": [2, 2.5], "data_offsets": [0, 16]})",
        R"({"dtype": "F32", "shape": [1e30, 2], "data_offsets": [0, 16]})",
        R"({"dtype": "F32", "shape": [2, 2], "data_offsets": ["0", 16]})"}) {
    const std::string header = R"({"t": )" + entry + "}";
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i)
      bytes[i] = static_cast<char>(header.size() >> (8 * i));
    bytes += header + data;
    absl::StatusOr<ImportSource> source =
        SourceFromSafetensors(bytes, bytes.size(), {"t"}, std::nullopt);
    EXPECT_EQ(source.status().code(), absl::StatusCode::kInvalidArgument)
        << entry;
    EXPECT_THAT(source.status().message(), HasSubstr("whole number")) << entry;
  }
}

TEST(SourceFromSafetensorsTest, ConcatenatesPerHeadTensorsInOrder) {
  const std::string bytes = testing::SafetensorsBytes(
      {{"head0", "BF16", {3, 4}, std::string(24, 'a')},
       {"head1", "BF16", {5, 4}, std::string(40, 'b')},
       {"other", "F32", {1, 1}, std::string(4, 'c')}});
  absl::StatusOr<ImportSource> source = SourceFromSafetensors(
      bytes, bytes.size(), {"head1", "head0"}, std::nullopt);
  ASSERT_TRUE(source.ok()) << source.status();
  EXPECT_EQ(source->layout.rows, 8);
  EXPECT_EQ(source->layout.row_bytes, 8);
  EXPECT_EQ(source->layout.element_type, ElementType::kBf16);
  ASSERT_EQ(source->segments.size(), 2);
  EXPECT_EQ(bytes.substr(source->segments[0].first, source->segments[0].second),
            std::string(40, 'b'));
  EXPECT_EQ(bytes.substr(source->segments[1].first, source->segments[1].second),
            std::string(24, 'a'));
}

TEST(SourceFromSafetensorsTest, RejectsMismatchesAndDamage) {
  const std::string bytes =
      testing::SafetensorsBytes({{"a", "F32", {2, 2}, std::string(16, 'a')},
                                 {"b", "F16", {2, 2}, std::string(8, 'b')},
                                 {"c", "F32", {2, 2, 1}, std::string(16, 'c')},
                                 {"d", "F64", {1, 2}, std::string(16, 'd')}});
  auto error = [&](std::vector<std::string> tensors, uint64_t size,
                   std::optional<ElementType> dtype = std::nullopt) {
    absl::StatusOr<ImportSource> source =
        SourceFromSafetensors(bytes.substr(0, size), size, tensors, dtype);
    EXPECT_EQ(source.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(source.status().message());
  };
  EXPECT_THAT(error({"zz"}, bytes.size()),
              HasSubstr("no tensor 'zz'; the file has a, b, c, d"));
  EXPECT_THAT(error({"a", "b"}, bytes.size()),
              HasSubstr("first tensor is F32"));
  EXPECT_THAT(error({"c"}, bytes.size()), HasSubstr("2-D"));
  EXPECT_THAT(error({"d"}, bytes.size()), HasSubstr("no table type"));
  EXPECT_THAT(error({}, bytes.size()), HasSubstr("--tensor"));
  EXPECT_THAT(error({"a"}, 12), HasSubstr("truncated"));
  EXPECT_THAT(error({"d"}, bytes.size() - 1, ElementType::kOpaque),
              HasSubstr("within the file"));
  EXPECT_TRUE(
      SourceFromSafetensors(bytes, bytes.size(), {"d"}, ElementType::kOpaque)
          .ok());
}

TEST(ReadRowIdsTest, NpyAndSafetensorsTensors) {
  const std::string dir = ::testing::TempDir();
  testing::WriteNpyFile(dir + "/ids.npy", "<i8", {3},
                        testing::Int64s({7, 0, 5}));
  absl::StatusOr<std::vector<uint64_t>> ids = ReadRowIdsNpy(dir + "/ids.npy");
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_THAT(*ids, ElementsAre(7, 0, 5));

  const std::string path = dir + "/patch.safetensors";
  std::ofstream(path, std::ios::binary) << testing::SafetensorsBytes(
      {{"rows", "F32", {2, 1}, std::string(8, 'r')},
       {"ids", "I64", {2}, testing::Int64s({9, 4})},
       {"column", "U64", {2, 1}, testing::Int64s({1, 2})},
       {"negative", "I64", {2}, testing::Int64s({3, -1})}});
  ids = ReadRowIdsSafetensors(path, "ids");
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_THAT(*ids, ElementsAre(9, 4));
  ids = ReadRowIdsSafetensors(path, "column");
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_THAT(*ids, ElementsAre(1, 2));

  auto error = [&](const std::string& tensor) {
    absl::Status status = ReadRowIdsSafetensors(path, tensor).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << tensor;
    return std::string(status.message());
  };
  EXPECT_THAT(error("negative"), HasSubstr(path + ": row id at position 1 is "
                                                  "negative (-1)"));
  EXPECT_THAT(error("rows"), HasSubstr("must be I64 or U64, not F32"));
  EXPECT_THAT(error("idz"), HasSubstr("no tensor 'idz'; the file has column, "
                                      "ids, negative, rows"));
  EXPECT_EQ(
      ReadRowIdsSafetensors(dir + "/none.safetensors", "ids").status().code(),
      absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace engram
