#include "server/tables/table.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/hash_spec_proto.h"
#include "common/status_macros.h"

namespace engram::server {

Table::Table(v1::TableInfo info, std::shared_ptr<const RowStore> store,
             std::optional<HashSpec> hash_spec,
             std::shared_ptr<const PatchOverlay> overlay)
    : info_(std::move(info)),
      store_(std::move(store)),
      hash_spec_(std::move(hash_spec)),
      overlay_(std::move(overlay)) {}

absl::StatusOr<std::shared_ptr<const Table>> Table::Create(
    v1::TableInfo info, std::shared_ptr<const RowStore> store) {
  if (info.rows() != store->rows() || info.row_bytes() != store->row_bytes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("table '", info.name(), "' declares ", info.rows(),
                     " rows x ", info.row_bytes(), " B but its store holds ",
                     store->rows(), " x ", store->row_bytes(), " B"));
  }
  std::optional<HashSpec> hash_spec;
  if (info.has_hash_spec()) {
    absl::StatusOr<HashSpec> spec = HashSpecLayerFromProto(info.hash_spec());
    if (!spec.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("table '", info.name(),
                       "' has a bad hash spec: ", spec.status().message()));
    }
    if (static_cast<uint64_t>(spec->rows_in_layer(0)) != info.rows()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "table '", info.name(), "' has ", info.rows(),
          " rows but its hash spec addresses ", spec->rows_in_layer(0)));
    }
    hash_spec = *std::move(spec);
  }
  return std::shared_ptr<const Table>(new Table(
      std::move(info), std::move(store), std::move(hash_spec), nullptr));
}

std::shared_ptr<const Table> Table::WithPatches(
    uint64_t version, std::shared_ptr<const PatchOverlay> overlay) const {
  v1::TableInfo info = info_;
  info.set_version(version);
  if (overlay != nullptr) info.clear_content_digest();
  return std::shared_ptr<const Table>(
      new Table(std::move(info), store_, hash_spec_, std::move(overlay)));
}

absl::Status Table::Lookup(const PackedRowIds& ids, char* out,
                           MissingRows* missing) const {
  const uint64_t rows = info_.rows();
  // A branch-free max keeps the common all-valid case one tight pass.
  uint64_t max_id = 0;
  for (size_t i = 0; i < ids.size(); ++i) max_id = std::max(max_id, ids[i]);
  if (!ids.empty() && max_id >= rows) {
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] >= rows) {
        return absl::InvalidArgumentError(absl::StrCat(
            "row id ", ids[i], " at position ", i,
            " is out of range for table '", name(), "' with ", rows, " rows"));
      }
    }
  }
  MissingRows* const reported = reports_missing() ? missing : nullptr;
  ENGRAM_RETURN_IF_ERROR(reported != nullptr
                             ? store_->GatherSparse(ids, out, *reported)
                             : store_->Gather(ids, out));
  if (overlay_ != nullptr) overlay_->Apply(ids, out, reported);
  return absl::OkStatus();
}

}  // namespace engram::server
