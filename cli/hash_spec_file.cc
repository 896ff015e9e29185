#include "cli/hash_spec_file.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/hash_spec_proto.h"
#include "common/read_file.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"

namespace engram::cli {

v1::HashSpec TableHashSpecProto(const client::TableDescription& table) {
  v1::HashSpec spec = HashSpecLayerToProto(*table.hash_spec, 0);
  // The one-layer spec's own digests would not be the model's: prefetchers
  // compare the model's, and its map's.
  spec.set_digest(table.hash_spec_digest);
  spec.set_compression_digest(table.compression_digest);
  return spec;
}

std::string HashSpecJson(const v1::HashSpec& spec) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  // Zero seeds and empty map digests too, for readers of the file.
  options.always_print_primitive_fields = true;
  std::string json;
  // A message of scalars always prints.
  (void)google::protobuf::util::MessageToJsonString(spec, &json, options);
  return json;
}

absl::StatusOr<TableAddressing> LoadTableAddressing(
    const std::string& spec_path, const std::string& compression_path) {
  ENGRAM_ASSIGN_OR_RETURN(const std::string text,
                          ReadFileToString(spec_path, "hash spec "));
  TableAddressing addressing{.spec_file = spec_path};
  if (const auto parsed =
          google::protobuf::util::JsonStringToMessage(text, &addressing.spec);
      !parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        spec_path, ": not a hash spec: ", parsed.message().as_string()));
  }
  const v1::HashSpec& spec = addressing.spec;
  if (absl::Status consistent = HashSpecLayerFromProto(spec).status();
      !consistent.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(spec_path, ": ", consistent.message()));
  }
  if (spec.digest().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(spec_path,
                     ": the hash spec has no digest (export --hash-spec writes "
                     "the one its table had)"));
  }
  if (spec.compression_digest().empty()) {
    if (compression_path.empty()) return addressing;
    return absl::InvalidArgumentError(
        absl::StrCat(spec_path, " hashes raw token ids: --compression ",
                     compression_path, " has no map to go with"));
  }
  if (compression_path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(spec_path, " hashes compressed token ids (map ",
                     spec.compression_digest(),
                     "): give its map with --compression MAP.npy, as export "
                     "--compression wrote it"));
  }
  CompressionMap::Options options;
  options.compressed_vocab = spec.tokenizer_vocab();
  ENGRAM_ASSIGN_OR_RETURN(addressing.compression,
                          CompressionMap::Load(compression_path, options));
  if (const std::string digest =
          CompressionDigest(addressing.compression.get());
      digest != spec.compression_digest()) {
    return absl::InvalidArgumentError(absl::StrCat(
        compression_path, " hashes to ", digest, ", not to the map ", spec_path,
        " names (", spec.compression_digest(), ")"));
  }
  return addressing;
}

}  // namespace engram::cli
