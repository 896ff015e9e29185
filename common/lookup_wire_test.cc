#include "common/lookup_wire.h"

#include <cstring>
#include <string>
#include <vector>

#include "engram/v1/engram_service.pb.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/support/proto_buffer_writer.h"
#include "gtest/gtest.h"

namespace engram {
namespace {

std::string Flatten(grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return bytes;
}

grpc::ByteBuffer Serialize(const v1::LookupResponse& message) {
  grpc::ByteBuffer buffer;
  bool own;
  EXPECT_TRUE(grpc::SerializationTraits<v1::LookupResponse>::Serialize(
                  message, &buffer, &own)
                  .ok());
  return buffer;
}

std::unique_ptr<char[]> Rows(const std::string& bytes) {
  auto rows = std::make_unique<char[]>(bytes.size());
  std::memcpy(rows.get(), bytes.data(), bytes.size());
  return rows;
}

TEST(LookupWireTest, EncodesExactlyWhatProtobufWrites) {
  const std::string rows(300, 'r');  // A length that needs a 2-byte varint.
  grpc::ByteBuffer encoded = EncodeLookupResponse({7, 3, 100}, Rows(rows));
  v1::LookupResponse expected;
  expected.set_version(7);
  expected.set_row_bytes(3);
  expected.set_row_count(100);
  expected.set_rows(rows);
  EXPECT_EQ(Flatten(encoded), expected.SerializeAsString());

  grpc::ByteBuffer empty = EncodeLookupResponse({7, 3, 0}, nullptr);
  expected.set_row_count(0);
  expected.clear_rows();
  EXPECT_EQ(Flatten(empty), expected.SerializeAsString());
}

TEST(LookupWireTest, MissingRowsAndElementTypeTravelAfterTheRows) {
  const std::string missing("\x05\x00", 2);
  grpc::ByteBuffer encoded = EncodeLookupResponse(
      {7, 2, 9, missing, ElementType::kBf16}, Rows(std::string(18, 'r')));
  v1::LookupResponse expected;
  expected.set_version(7);
  expected.set_row_bytes(2);
  expected.set_row_count(9);
  expected.set_rows(std::string(18, 'r'));
  expected.set_missing(missing);
  expected.set_element_type(v1::ELEMENT_TYPE_BF16);
  EXPECT_EQ(Flatten(encoded), expected.SerializeAsString());

  std::string out(18, '\0');
  absl::StatusOr<LookupResponseHeader> header =
      DecodeLookupResponse(&encoded, absl::MakeSpan(out.data(), out.size()));
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->missing, missing);
  EXPECT_EQ(header->element_type, ElementType::kBf16);
  EXPECT_EQ(out, std::string(18, 'r'));
}

TEST(LookupWireTest, DecodesProtobufWrittenMessagesIntoTheCallerBuffer) {
  v1::LookupResponse message;
  message.set_version(9);
  message.set_row_bytes(4);
  message.set_row_count(2);
  message.set_rows("abcdefgh");
  grpc::ByteBuffer buffer = Serialize(message);
  std::string out(8, '\0');
  absl::StatusOr<LookupResponseHeader> header =
      DecodeLookupResponse(&buffer, absl::MakeSpan(out.data(), out.size()));
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->version, 9);
  EXPECT_EQ(header->row_bytes, 4);
  EXPECT_EQ(header->row_count, 2);
  EXPECT_EQ(out, "abcdefgh");
  // Left out by servers that predate it.
  EXPECT_EQ(header->element_type, std::nullopt);

  // A type this build does not know (a newer server's) is not a failure.
  message.set_element_type(static_cast<v1::ElementType>(99));
  buffer = Serialize(message);
  header =
      DecodeLookupResponse(&buffer, absl::MakeSpan(out.data(), out.size()));
  ASSERT_TRUE(header.ok()) << header.status();
  EXPECT_EQ(header->element_type, std::nullopt);
  EXPECT_EQ(out, "abcdefgh");
}

TEST(LookupWireTest, RoundTripsAndChecksSizes) {
  grpc::ByteBuffer encoded = EncodeLookupResponse({1, 2, 3}, Rows("xxyyzz"));
  std::string small(5, '\0');
  EXPECT_EQ(DecodeLookupResponse(&encoded, absl::MakeSpan(small.data(), 5))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);

  v1::LookupResponse inconsistent;
  inconsistent.set_row_bytes(4);
  inconsistent.set_row_count(3);
  inconsistent.set_rows("abcd");
  grpc::ByteBuffer buffer = Serialize(inconsistent);
  std::string out(64, '\0');
  EXPECT_EQ(
      DecodeLookupResponse(&buffer, absl::MakeSpan(out.data(), out.size()))
          .status()
          .code(),
      absl::StatusCode::kInternal);

  grpc::Slice garbage(std::string("\xff\xff\xff"));
  grpc::ByteBuffer bad(&garbage, 1);
  EXPECT_EQ(DecodeLookupResponse(&bad, absl::MakeSpan(out.data(), out.size()))
                .status()
                .code(),
            absl::StatusCode::kInternal);
}

}  // namespace
}  // namespace engram
