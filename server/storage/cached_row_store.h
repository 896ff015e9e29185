// CachedRowStore: a RowStore that answers from a RowCache (common/
// row_cache.h) and fetches misses from a backing store in one batched
// Gather per call, then offers them to the cache.
//
//   ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<CachedRowStore> store,
//       CachedRowStore::Create(rocksdb_store, std::move(cache)));
//   ENGRAM_RETURN_IF_ERROR(store->Gather(ids, out));  // hits from RAM
#ifndef ENGRAM_SERVER_STORAGE_CACHED_ROW_STORE_H_
#define ENGRAM_SERVER_STORAGE_CACHED_ROW_STORE_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/row_cache.h"
#include "server/storage/row_store.h"

namespace engram::server {

class CachedRowStore final : public RowStore {
 public:
  // InvalidArgument when either is null or their row sizes differ.
  static absl::StatusOr<std::unique_ptr<CachedRowStore>> Create(
      std::shared_ptr<const RowStore> backing, std::shared_ptr<RowCache> cache);

  uint64_t rows() const override { return backing_->rows(); }
  uint32_t row_bytes() const override { return backing_->row_bytes(); }

  // Same contract as the backing store's Gather, whose errors it returns
  // (nothing is cached from a failed fetch). Rows the backing store lacks
  // (sparse tables) are never cached. Thread-safe.
  absl::Status Gather(const PackedRowIds& ids, char* out) const override;
  absl::Status GatherSparse(const PackedRowIds& ids, char* out,
                            MissingRows& missing) const override;

  // The backing store's figures plus the cache's.
  RowStoreStats Stats() const override;

  RowCache& cache() const { return *cache_; }
  const RowStore& backing() const { return *backing_; }

 private:
  // Both Gathers; `missing` may be null.
  absl::Status GatherRows(const PackedRowIds& ids, char* out,
                          MissingRows* missing) const;

  CachedRowStore(std::shared_ptr<const RowStore> backing,
                 std::shared_ptr<RowCache> cache)
      : backing_(std::move(backing)), cache_(std::move(cache)) {}

  const std::shared_ptr<const RowStore> backing_;
  // The cache changes under const Gather calls; it synchronises itself.
  const std::shared_ptr<RowCache> cache_;
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_STORAGE_CACHED_ROW_STORE_H_
