#include "common/lookup_wire.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engram/v1/engram_service.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "grpcpp/support/slice.h"

namespace engram {
namespace {

using google::protobuf::internal::WireFormatLite;

constexpr int kRowsField = v1::LookupResponse::kRowsFieldNumber;
constexpr int kMissingField = v1::LookupResponse::kMissingFieldNumber;
constexpr int kElementTypeField = v1::LookupResponse::kElementTypeFieldNumber;

// The tag and length of a length-delimited field of `bytes` bytes.
void AppendFieldHead(int field, uint64_t bytes, std::string* out) {
  google::protobuf::io::StringOutputStream stream(out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.WriteTag(WireFormatLite::MakeTag(
      field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
  coded.WriteVarint64(bytes);
}

}  // namespace

grpc::ByteBuffer EncodeLookupResponse(const LookupResponseHeader& header,
                                      std::unique_ptr<char[]> rows) {
  const uint64_t bytes = header.row_count * header.row_bytes;
  // Fields 1-3 through protobuf itself, then the rows' tag and length; the
  // rows follow as a slice of their own, then fields 5-6 (the missing-row
  // bitmap, the element type), again through protobuf (field order, as
  // protobuf writes the whole message).
  v1::LookupResponse fields;
  fields.set_version(header.version);
  fields.set_row_bytes(header.row_bytes);
  fields.set_row_count(header.row_count);
  std::string prefix = fields.SerializeAsString();
  v1::LookupResponse after_rows;
  after_rows.set_missing(header.missing);
  if (header.element_type.has_value()) {
    after_rows.set_element_type(ToProto(*header.element_type));
  }
  const std::string suffix = after_rows.SerializeAsString();
  grpc::Slice slices[3];
  size_t count = 0;
  if (bytes > 0) AppendFieldHead(kRowsField, bytes, &prefix);
  slices[count++] = grpc::Slice(prefix);
  if (bytes > 0) {
    slices[count++] = grpc::Slice(rows.release(), bytes, [](void* data) {
      delete[] static_cast<char*>(data);
    });
  }
  if (!suffix.empty()) slices[count++] = grpc::Slice(suffix);
  return grpc::ByteBuffer(slices, count);
}

absl::StatusOr<LookupResponseHeader> DecodeLookupResponse(
    grpc::ByteBuffer* response, absl::Span<char> out) {
  grpc::ProtoBufferReader reader(response);
  google::protobuf::io::CodedInputStream coded(&reader);
  coded.SetTotalBytesLimit(INT32_MAX);
  LookupResponseHeader header;
  uint64_t rows_bytes = 0;
  bool rows_seen = false;
  const auto malformed = [] {
    return absl::InternalError("malformed LookupResponse from the server");
  };
  while (const uint32_t tag = coded.ReadTag()) {
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    const auto wire_type = WireFormatLite::GetTagWireType(tag);
    uint64_t value = 0;
    if (field == kRowsField &&
        wire_type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t length;
      if (!coded.ReadVarint32(&length)) return malformed();
      if (length > out.size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "output buffer holds ", out.size(), " bytes but the server sent ",
            length, " bytes of rows"));
      }
      if (!coded.ReadRaw(out.data(), length)) return malformed();
      rows_bytes = length;
      rows_seen = true;
    } else if (field == kMissingField &&
               wire_type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      if (!WireFormatLite::ReadBytes(&coded, &header.missing)) {
        return malformed();
      }
    } else if (wire_type == WireFormatLite::WIRETYPE_VARINT &&
               ((field >= v1::LookupResponse::kVersionFieldNumber &&
                 field <= v1::LookupResponse::kRowCountFieldNumber) ||
                field == kElementTypeField)) {
      if (!coded.ReadVarint64(&value)) return malformed();
      if (field == v1::LookupResponse::kVersionFieldNumber)
        header.version = value;
      if (field == v1::LookupResponse::kRowBytesFieldNumber) {
        header.row_bytes = static_cast<uint32_t>(value);
      }
      if (field == v1::LookupResponse::kRowCountFieldNumber)
        header.row_count = value;
      if (field == kElementTypeField) {
        absl::StatusOr<ElementType> type = FromProto(
            static_cast<v1::ElementType>(static_cast<int32_t>(value)));
        header.element_type =
            type.ok() ? std::optional<ElementType>(*type) : std::nullopt;
      }
    } else if (!WireFormatLite::SkipField(&coded, tag)) {
      return malformed();
    }
  }
  if (!coded.ConsumedEntireMessage() ||
      rows_bytes != header.row_count * header.row_bytes ||
      (!rows_seen && rows_bytes != 0)) {
    return absl::InternalError(
        absl::StrCat("server sent ", rows_bytes, " bytes for ",
                     header.row_count, " rows of ", header.row_bytes, " B"));
  }
  return header;
}

}  // namespace engram
