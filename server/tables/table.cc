#include "server/tables/table.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/hash_spec_proto.h"
#include "common/status_macros.h"

namespace engram::server {

Table::Table(v1::TableInfo info, std::shared_ptr<const RowStore> store,
             std::optional<HashSpec> hash_spec,
             std::shared_ptr<const CompressionMap> compression,
             std::shared_ptr<const PatchOverlay> overlay)
    : info_(std::move(info)),
      store_(std::move(store)),
      hash_spec_(std::move(hash_spec)),
      compression_(std::move(compression)),
      overlay_(std::move(overlay)) {}

absl::StatusOr<std::shared_ptr<const Table>> Table::Create(
    v1::TableInfo info, std::shared_ptr<const RowStore> store,
    std::shared_ptr<const CompressionMap> compression) {
  if (info.rows() != store->rows() || info.row_bytes() != store->row_bytes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("table '", info.name(), "' declares ", info.rows(),
                     " rows x ", info.row_bytes(), " B but its store holds ",
                     store->rows(), " x ", store->row_bytes(), " B"));
  }
  if ((info.first_row() != 0 || info.total_rows() != 0) &&
      (info.first_row() > info.total_rows() ||
       info.rows() > info.total_rows() - info.first_row())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "table '", info.name(), "' claims rows [", info.first_row(), ", ",
        info.first_row() + info.rows(), ") of ", info.total_rows()));
  }
  ENGRAM_ASSIGN_OR_RETURN(std::optional<HashSpec> hash_spec,
                          TableHashSpec(info));
  if (compression != nullptr && CompressionDigest(compression.get()) !=
                                    info.hash_spec().compression_digest()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "table '", info.name(), "' is given compression map ",
        CompressionDigest(compression.get()), " but its hash spec names ",
        info.hash_spec().compression_digest().empty()
            ? "none"
            : info.hash_spec().compression_digest()));
  }
  return std::shared_ptr<const Table>(
      new Table(std::move(info), std::move(store), std::move(hash_spec),
                std::move(compression), nullptr));
}

std::shared_ptr<const Table> Table::WithPatches(
    uint64_t version, std::shared_ptr<const PatchOverlay> overlay) const {
  v1::TableInfo info = info_;
  info.set_version(version);
  if (overlay != nullptr) info.clear_content_digest();
  return std::shared_ptr<const Table>(new Table(
      std::move(info), store_, hash_spec_, compression_, std::move(overlay)));
}

absl::Status Table::Lookup(const PackedRowIds& ids, char* out,
                           MissingRows* missing) const {
  const uint64_t first = first_row();
  const uint64_t end = first + info_.rows();
  // Branch-free bounds keep the common all-valid case one tight pass.
  uint64_t min_id = ~uint64_t{0};
  uint64_t max_id = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    min_id = std::min(min_id, ids[i]);
    max_id = std::max(max_id, ids[i]);
  }
  if (!ids.empty() && (max_id >= end || min_id < first)) {
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] >= total_rows()) {
        return absl::InvalidArgumentError(
            absl::StrCat("row id ", ids[i], " at position ", i,
                         " is out of range for table '", name(), "' with ",
                         total_rows(), " rows"));
      }
      if (ids[i] < first || ids[i] >= end) {
        return absl::OutOfRangeError(absl::StrCat(
            "row id ", ids[i], " at position ", i,
            " is not held by this server, which holds rows [", first, ", ", end,
            ") of table '", name(), "'; ask the shard that holds it"));
      }
    }
  }
  if (first != 0) {
    // The store holds the shard's rows from 0.
    std::string local(ids.size() * kPackedRowIdBytes, '\0');
    for (size_t i = 0; i < ids.size(); ++i) {
      const uint64_t id = ids[i] - first;
      std::memcpy(local.data() + i * kPackedRowIdBytes, &id, sizeof(id));
    }
    ENGRAM_RETURN_IF_ERROR(GatherRows(PackedRowIds(local), out, missing));
  } else {
    ENGRAM_RETURN_IF_ERROR(GatherRows(ids, out, missing));
  }
  if (overlay_ != nullptr) {
    overlay_->Apply(ids, out, reports_missing() ? missing : nullptr);
  }
  return absl::OkStatus();
}

absl::Status Table::GatherRows(const PackedRowIds& local_ids, char* out,
                               MissingRows* missing) const {
  MissingRows* const reported = reports_missing() ? missing : nullptr;
  return reported != nullptr ? store_->GatherSparse(local_ids, out, *reported)
                             : store_->Gather(local_ids, out);
}

}  // namespace engram::server
