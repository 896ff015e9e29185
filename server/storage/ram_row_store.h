// RamRowStore: a table's rows as one flat array in memory, row i at byte
// i * row_bytes, so a lookup is a bounds-checked memcpy per row.
//
//   // Build a new table in anonymous memory, then freeze it.
//   ENGRAM_ASSIGN_OR_RETURN(auto builder, RamRowStore::Builder::Create(n,
//   128)); Fill(builder->mutable_data()); std::shared_ptr<const RowStore> store
//   = std::move(*builder).Build();
//
//   // Or map a row file written earlier (read-only, shared page cache).
//   ENGRAM_ASSIGN_OR_RETURN(auto store, RamRowStore::MapFile(path, n, 128));
#ifndef ENGRAM_SERVER_STORAGE_RAM_ROW_STORE_H_
#define ENGRAM_SERVER_STORAGE_RAM_ROW_STORE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/storage/row_store.h"

namespace engram::server {

class RamRowStore final : public RowStore {
 public:
  // Owns anonymous memory for a table being built.
  class Builder {
   public:
    // Allocates rows * row_bytes bytes (zeroed, huge pages advised).
    // InvalidArgument for row_bytes == 0; ResourceExhausted when the memory
    // cannot be mapped.
    static absl::StatusOr<std::unique_ptr<Builder>> Create(uint64_t rows,
                                                           uint32_t row_bytes);
    ~Builder();

    char* mutable_data() { return data_; }
    uint64_t size_bytes() const { return rows_ * row_bytes_; }
    // Freezes the memory into a read-only store. The builder is spent.
    std::unique_ptr<RamRowStore> Build() &&;

   private:
    Builder(char* data, uint64_t rows, uint32_t row_bytes)
        : data_(data), rows_(rows), row_bytes_(row_bytes) {}
    char* data_;
    uint64_t rows_;
    uint32_t row_bytes_;
  };

  // Maps `path`, which must hold exactly rows * row_bytes bytes, read-only and
  // pre-faults it. NotFound / DataLoss (size mismatch) / Internal on errors.
  static absl::StatusOr<std::unique_ptr<RamRowStore>> MapFile(
      const std::string& path, uint64_t rows, uint32_t row_bytes);

  ~RamRowStore() override;
  RamRowStore(const RamRowStore&) = delete;
  RamRowStore& operator=(const RamRowStore&) = delete;

  uint64_t rows() const override { return rows_; }
  uint32_t row_bytes() const override { return row_bytes_; }
  absl::Status Gather(const PackedRowIds& ids, char* out) const override;
  RowStoreStats Stats() const override {
    return RowStoreStats{.bytes_in_ram = size_bytes(), .rows_in_ram = rows_};
  }

  // The whole array, for writing it to disk.
  const char* data() const { return data_; }
  uint64_t size_bytes() const { return rows_ * row_bytes_; }

 private:
  RamRowStore(char* data, uint64_t rows, uint32_t row_bytes)
      : data_(data), rows_(rows), row_bytes_(row_bytes) {}

  char* data_;  // mmap'ed; unmapped by the destructor.
  uint64_t rows_;
  uint32_t row_bytes_;
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_STORAGE_RAM_ROW_STORE_H_
