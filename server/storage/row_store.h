// RowStore: where a table's rows live (RAM, or RocksDB behind a cache).
//
//   absl::Status status = store.Gather(ids, out);  // out: ids.size() rows
//
// A RowStore is immutable once built and safe to read from many threads.
#ifndef ENGRAM_SERVER_STORAGE_ROW_STORE_H_
#define ENGRAM_SERVER_STORAGE_ROW_STORE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "common/packed_row_ids.h"

namespace engram::server {

// Where a store's bytes are and how its cache does, for DescribeTable.
struct RowStoreStats {
  uint64_t bytes_in_ram = 0;
  uint64_t bytes_on_ssd = 0;
  uint64_t rows_in_ram = 0;
  uint64_t rows_on_ssd = 0;
  // Hot-row cache counters; zero for stores without a cache.
  uint64_t cache_hits = 0;
  uint64_t cache_misses = 0;
  uint64_t cache_bytes_used = 0;
  uint64_t cache_capacity_bytes = 0;
};

// The positions of a batch whose rows a sparse table lacks, as a bitmap:
// position i is bit i % 8 of byte i / 8 (LookupResponse.missing's layout).
class MissingRows {
 public:
  explicit MissingRows(size_t positions) : bits_((positions + 7) / 8, '\0') {}

  void Set(size_t position) {
    bits_[position / 8] |= static_cast<char>(1 << (position % 8));
  }
  // A patch supplied the row after all.
  void Clear(size_t position) {
    bits_[position / 8] &= static_cast<char>(~(1 << (position % 8)));
  }
  bool Get(size_t position) const {
    return (bits_[position / 8] >> (position % 8)) & 1;
  }
  // One pass over the bitmap (an eighth of a byte per position).
  bool any() const {
    return bits_.find_first_not_of('\0') != std::string::npos;
  }
  const std::string& bits() const { return bits_; }

 private:
  std::string bits_;
};

class RowStore {
 public:
  virtual ~RowStore() = default;

  virtual uint64_t rows() const = 0;
  virtual uint32_t row_bytes() const = 0;

  // Copies the rows named by `ids` to `out`, back to back in id order.
  // REQUIRES: every id < rows(); `out` holds ids.size() * row_bytes() bytes.
  // Errors are the tier's own (e.g. an I/O error); the RAM tier never fails.
  // Thread-safe.
  virtual absl::Status Gather(const PackedRowIds& ids, char* out) const = 0;

  // Gather for stores that may lack rows (sparse tables): a row never
  // written is zero-filled and its position set in `missing` (sized for
  // ids.size()). Stores that lack no row answer as Gather. Thread-safe.
  virtual absl::Status GatherSparse(const PackedRowIds& ids, char* out,
                                    MissingRows& missing) const {
    return Gather(ids, out);
  }

  // The store's current figures. Thread-safe.
  virtual RowStoreStats Stats() const = 0;
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_STORAGE_ROW_STORE_H_
