#include "server/tables/table.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace engram::server {

Table::Table(v1::TableInfo info, std::shared_ptr<const RowStore> store)
    : info_(std::move(info)), store_(std::move(store)) {}

absl::Status Table::Lookup(const PackedRowIds& ids, char* out) const {
  const uint64_t rows = info_.rows();
  // A branch-free max keeps the common all-valid case one tight pass.
  uint64_t max_id = 0;
  for (size_t i = 0; i < ids.size(); ++i) max_id = std::max(max_id, ids[i]);
  if (!ids.empty() && max_id >= rows) {
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] >= rows) {
        return absl::InvalidArgumentError(absl::StrCat(
            "row id ", ids[i], " at position ", i, " is out of range for table '",
            name(), "' with ", rows, " rows"));
      }
    }
  }
  return store_->Gather(ids, out);
}

}  // namespace engram::server
