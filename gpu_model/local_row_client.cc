#include "gpu_model/local_row_client.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/demo_rows.h"
#include "common/hash_spec_proto.h"
#include "common/status_macros.h"

namespace engram::gpu {

absl::StatusOr<std::unique_ptr<LocalRowClient>> LocalRowClient::CreateDemo(
    const HashSpecConfig& config, ElementType type) {
  if (type != ElementType::kF32 && type != ElementType::kBf16 &&
      type != ElementType::kF16) {
    return absl::InvalidArgumentError(absl::StrCat(
        "demo rows hold f32, bf16 or f16 values, not ", ElementTypeName(type)));
  }
  ENGRAM_ASSIGN_OR_RETURN(const HashSpec spec, HashSpec::FromConfig(config));
  std::vector<Table> tables;
  for (int layer = 0; layer < spec.num_layers(); ++layer) {
    const v1::HashSpec layer_proto = HashSpecLayerToProto(spec, layer);
    ENGRAM_ASSIGN_OR_RETURN(HashSpec layer_spec,
                            HashSpecLayerFromProto(layer_proto));
    Table table;
    table.layer_id = spec.layer_id(layer);
    client::TableDescription& d = table.description;
    d.name = DemoTableName(table.layer_id);
    d.rows = d.total_rows = d.rows_written = spec.rows_in_layer(layer);
    d.element_type = type;
    d.dims = {static_cast<uint32_t>(spec.head_dim())};
    d.row_bytes = static_cast<uint32_t>(spec.head_dim() * ElementBytes(type));
    d.version = 1;
    d.hash_spec_digest = layer_spec.Digest();
    d.compression_digest = layer_proto.compression_digest();
    d.compression_map_held = config.compression != nullptr;
    d.hash_spec = std::make_shared<const HashSpec>(std::move(layer_spec));
    d.placement = "local";
    tables.push_back(std::move(table));
  }
  return std::unique_ptr<LocalRowClient>(
      new LocalRowClient(std::move(tables), config.compression));
}

absl::StatusOr<const LocalRowClient::Table*> LocalRowClient::Find(
    absl::string_view name) const {
  for (const Table& table : tables_) {
    if (table.description.name == name) return &table;
  }
  return absl::NotFoundError(absl::StrCat("no local table ", name));
}

absl::StatusOr<std::vector<client::TableDescription>>
LocalRowClient::ListTables() {
  std::vector<client::TableDescription> out;
  for (const Table& table : tables_) out.push_back(table.description);
  return out;
}

absl::StatusOr<client::TableDescription> LocalRowClient::DescribeTable(
    absl::string_view table) {
  ENGRAM_ASSIGN_OR_RETURN(const Table* found, Find(table));
  return found->description;
}

absl::StatusOr<std::shared_ptr<const CompressionMap>>
LocalRowClient::GetCompressionMap(absl::string_view table) {
  ENGRAM_ASSIGN_OR_RETURN(const Table* found, Find(table));
  if (found->description.compression_digest.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("local table ", table,
                     " hashes raw token ids: it has no compression map"));
  }
  return compression_;
}

absl::StatusOr<client::LookupResult> LocalRowClient::Lookup(
    absl::string_view table, absl::Span<const uint64_t> ids,
    absl::Span<char> out) const {
  ENGRAM_ASSIGN_OR_RETURN(const Table* found, Find(table));
  const client::TableDescription& d = found->description;
  if (out.size() < ids.size() * d.row_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("output of ", out.size(), " bytes for ", ids.size(),
                     " rows of ", d.row_bytes, " bytes"));
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] >= d.rows) {
      return absl::InvalidArgumentError(
          absl::StrCat("row ", ids[i], " at position ", i, " is beyond table ",
                       d.name, "'s ", d.rows, " rows"));
    }
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    FillDemoRow(found->layer_id, ids[i], d.element_type,
                static_cast<int>(d.dims[0]), out.data() + i * d.row_bytes);
  }
  client::LookupResult result;
  result.version = d.version;
  result.row_bytes = d.row_bytes;
  result.row_count = ids.size();
  result.element_type = d.element_type;
  return result;
}

absl::StatusOr<client::LookupResult> LocalRowClient::LookupTokens(
    absl::string_view, absl::Span<const int64_t>, int, int,
    absl::Span<const int32_t>, absl::Span<char>, const client::LookupOptions&) {
  return absl::UnimplementedError(
      "local tables are read by row id (the prefetcher addresses tokens)");
}

void LocalRowClient::LookupAsync(absl::string_view table,
                                 absl::Span<const uint64_t> ids,
                                 absl::Span<char> out,
                                 const client::LookupOptions& options,
                                 LookupCallback done) {
  if (options.version > 1 || options.pin_id != 0) {
    done(absl::NotFoundError("local tables have one version (1) and no pins"));
    return;
  }
  done(Lookup(table, ids, out));
}

absl::StatusOr<client::VersionPin> LocalRowClient::PinVersion(absl::string_view,
                                                              uint64_t,
                                                              absl::Duration) {
  return absl::UnimplementedError("local tables have one version and no pins");
}

absl::Status LocalRowClient::ReleasePin(uint64_t) {
  return absl::UnimplementedError("local tables have one version and no pins");
}

absl::StatusOr<std::unique_ptr<client::TableWatch>> LocalRowClient::WatchTable(
    absl::string_view, WatchCallback) {
  return absl::UnimplementedError("local tables have one version to watch");
}

}  // namespace engram::gpu
