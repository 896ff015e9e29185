#include "server/storage/cached_row_store.h"

#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace engram::server {

absl::StatusOr<std::unique_ptr<CachedRowStore>> CachedRowStore::Create(
    std::shared_ptr<const RowStore> backing, std::shared_ptr<RowCache> cache) {
  if (backing == nullptr || cache == nullptr) {
    return absl::InvalidArgumentError(
        "CachedRowStore needs a backing store and a cache");
  }
  if (backing->row_bytes() != cache->row_bytes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("row cache holds ", cache->row_bytes(),
                     "-byte rows; the store has ", backing->row_bytes()));
  }
  return std::unique_ptr<CachedRowStore>(
      new CachedRowStore(std::move(backing), std::move(cache)));
}

absl::Status CachedRowStore::Gather(const PackedRowIds& ids, char* out) const {
  return GatherRows(ids, out, nullptr);
}

absl::Status CachedRowStore::GatherSparse(const PackedRowIds& ids, char* out,
                                          MissingRows& missing) const {
  return GatherRows(ids, out, &missing);
}

absl::Status CachedRowStore::GatherRows(const PackedRowIds& ids, char* out,
                                        MissingRows* missing) const {
  std::vector<size_t> misses;
  cache_->Lookup(ids, out, &misses);
  if (misses.empty()) return absl::OkStatus();

  const uint32_t row_bytes = backing_->row_bytes();
  std::string miss_ids(misses.size() * kPackedRowIdBytes, '\0');
  for (size_t j = 0; j < misses.size(); ++j) {
    const uint64_t id = ids[misses[j]];
    std::memcpy(miss_ids.data() + j * kPackedRowIdBytes, &id, sizeof(id));
  }
  const PackedRowIds miss_view(miss_ids);
  // Uninitialised on purpose: Gather overwrites all of it.
  std::unique_ptr<char[]> rows(new char[misses.size() * row_bytes]);
  MissingRows absent(misses.size());
  ENGRAM_RETURN_IF_ERROR(backing_->GatherSparse(miss_view, rows.get(), absent));
  for (size_t j = 0; j < misses.size(); ++j) {
    std::memcpy(out + misses[j] * row_bytes, rows.get() + j * row_bytes,
                row_bytes);
  }
  // A repeated id misses at each position and is offered each time; the
  // cache keeps the first.
  if (!absent.any()) {
    cache_->Insert(miss_view, rows.get());
    return absl::OkStatus();
  }
  // Only rows that exist are cached, so a later hit is never a missing row.
  std::string present_ids;
  std::string present_rows;
  for (size_t j = 0; j < misses.size(); ++j) {
    if (absent.Get(j)) {
      if (missing != nullptr) missing->Set(misses[j]);
      continue;
    }
    present_ids.append(miss_ids, j * kPackedRowIdBytes, kPackedRowIdBytes);
    present_rows.append(rows.get() + j * row_bytes, row_bytes);
  }
  cache_->Insert(PackedRowIds(present_ids), present_rows.data());
  return absl::OkStatus();
}

RowStoreStats CachedRowStore::Stats() const {
  RowStoreStats stats = backing_->Stats();
  const RowCacheStats cache = cache_->Stats();
  stats.cache_hits = cache.hits;
  stats.cache_misses = cache.misses;
  stats.cache_bytes_used = cache.bytes_used;
  stats.cache_capacity_bytes = cache.capacity_bytes;
  // Cached rows are held in RAM on top of whatever the backing store holds.
  stats.rows_in_ram += cache.entries;
  stats.bytes_in_ram += cache.entries * backing_->row_bytes();
  return stats;
}

}  // namespace engram::server
