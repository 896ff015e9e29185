// The wire form of engram.v1.LookupResponse, written and read without a
// LookupResponse message, so that a lookup's rows are copied once on each
// side instead of also into and out of a protobuf string:
//
//   server: gather into a buffer, then
//     *response = EncodeLookupResponse({version, row_bytes, count, missing,
//                                       element_type}, rows);
//   client:
//     ENGRAM_ASSIGN_OR_RETURN(LookupResponseHeader header,
//                             DecodeLookupResponse(&response, out));
//
// The bytes are exactly those protobuf would write for the same message, so
// ordinary protobuf clients and servers interoperate with these paths.
#ifndef ENGRAM_COMMON_LOOKUP_WIRE_H_
#define ENGRAM_COMMON_LOOKUP_WIRE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/element_type.h"
#include "grpcpp/support/byte_buffer.h"

namespace engram {

// LookupResponse's fields other than the rows.
struct LookupResponseHeader {
  uint64_t version = 0;
  uint32_t row_bytes = 0;
  uint64_t row_count = 0;
  // LookupResponse.missing: empty, or a bitmap of the rows a sparse table
  // lacks.
  std::string missing;
  // LookupResponse.element_type; empty when the server leaves it out (or
  // sends a type this build does not know).
  std::optional<ElementType> element_type;
};

// A LookupResponse of `header` whose rows are `rows` (row_count * row_bytes
// bytes). The buffer takes ownership of `rows` without copying it.
grpc::ByteBuffer EncodeLookupResponse(const LookupResponseHeader& header,
                                      std::unique_ptr<char[]> rows);

// Parses a LookupResponse, copying its rows straight to `out`.
// InvalidArgument if `out` is smaller than the rows; Internal for a message
// that does not parse or whose rows do not match row_count * row_bytes.
absl::StatusOr<LookupResponseHeader> DecodeLookupResponse(
    grpc::ByteBuffer* response, absl::Span<char> out);

}  // namespace engram

#endif  // ENGRAM_COMMON_LOOKUP_WIRE_H_
