// Conversion of a HashSpec layer to its wire form (engram.v1.HashSpec), the
// one place the two meet, and the check of a table against the spec it
// declares.
#ifndef ENGRAM_COMMON_HASH_SPEC_PROTO_H_
#define ENGRAM_COMMON_HASH_SPEC_PROTO_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/addressing/compression_map.h"
#include "common/addressing/hash_spec.h"
#include "engram/v1/engram_service.pb.h"

namespace engram {

// The spec of layer `layer_index` of `spec`, digest included.
// REQUIRES: 0 <= layer_index < spec.num_layers().
v1::HashSpec HashSpecLayerToProto(const HashSpec& spec, int layer_index);

// v1::HashSpec.compression_digest of `map`: the lowercase hex SHA-256 of
// its lookup; empty for null (ids are hashed as given).
std::string CompressionDigest(const CompressionMap* map);

// A one-layer HashSpec that addresses exactly like the layer `proto` was
// made from (its multipliers and head sizes are taken as given). Its
// Digest() is the one-layer spec's; the model's digest stays in `proto`.
// Compression maps do not travel in the proto (only their digest): the
// spec is identity, and hashes compressed ids where the layer's model
// compresses them.
// InvalidArgument for an inconsistent proto.
absl::StatusOr<HashSpec> HashSpecLayerFromProto(const v1::HashSpec& proto);

// The addressing a table's `info` declares, checked against the table: a
// valid spec that addresses exactly its rows (a shard's: total_rows) with
// rows of its values (typed rows; opaque rows are not counted). Nullopt
// for a table without one; InvalidArgument naming the table.
absl::StatusOr<std::optional<HashSpec>> TableHashSpec(
    const v1::TableInfo& info);

// The compression map of a table whose `info` declares a spec that hashes
// compressed ids, from `lookup` (little-endian int64 values, raw id ->
// compressed id): each value must be a compressed id of the spec (below
// its tokenizer_vocab) and the lookup must hash to its compression_digest.
// InvalidArgument naming the table otherwise, or when the table hashes raw
// ids (no spec, or no compression_digest).
absl::StatusOr<std::shared_ptr<const CompressionMap>> TableCompressionMap(
    const v1::TableInfo& info, absl::string_view lookup);

// The map a GetCompressionMap `reply` for `table` carries. DataLoss naming
// the table when its lookup is not a map or does not hash to its digest.
absl::StatusOr<std::shared_ptr<const CompressionMap>> CompressionMapFromReply(
    absl::string_view table, const v1::CompressionLookup& reply);

}  // namespace engram

#endif  // ENGRAM_COMMON_HASH_SPEC_PROTO_H_
