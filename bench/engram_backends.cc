#include "bench/engram_backends.h"

#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace engram::bench {
namespace {

class EngramBackend final : public BenchBackend {
 public:
  EngramBackend(std::shared_ptr<client::EngramClient> client, std::string table,
                uint32_t row_bytes)
      : client_(std::move(client)),
        table_(std::move(table)),
        row_bytes_(row_bytes) {}

  absl::Status Fetch(absl::Span<const uint64_t> ids, char* out) override {
    return client_
        ->Lookup(table_, ids, absl::MakeSpan(out, ids.size() * row_bytes_))
        .status();
  }

 private:
  std::shared_ptr<client::EngramClient> client_;
  std::string table_;
  uint32_t row_bytes_;
};

class InProcessBackend final : public BenchBackend {
 public:
  InProcessBackend(std::shared_ptr<const std::vector<char>> rows,
                   uint32_t row_bytes)
      : rows_(std::move(rows)), row_bytes_(row_bytes) {}

  absl::Status Fetch(absl::Span<const uint64_t> ids, char* out) override {
    const char* base = rows_->data();
    for (size_t i = 0; i < ids.size(); ++i) {
      std::memcpy(out + i * row_bytes_, base + ids[i] * row_bytes_, row_bytes_);
    }
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<const std::vector<char>> rows_;
  uint32_t row_bytes_;
};

}  // namespace

void FillBaselineRow(uint64_t id, uint32_t row_bytes, char* out) {
  for (uint32_t i = 0; i < row_bytes; ++i) {
    out[i] = static_cast<char>((id * 131 + i * 7) & 0xFF);
  }
}

BackendFactory EngramBackendFactory(
    std::shared_ptr<client::EngramClient> client, std::string table,
    uint32_t row_bytes) {
  return [client = std::move(client), table = std::move(table),
          row_bytes]() -> absl::StatusOr<std::unique_ptr<BenchBackend>> {
    return std::make_unique<EngramBackend>(client, table, row_bytes);
  };
}

absl::StatusOr<BackendFactory> InProcessBackendFactory(TableShape shape) {
  if (shape.rows == 0 || shape.row_bytes == 0) {
    return absl::InvalidArgumentError("--rows and --row-bytes must be > 0");
  }
  auto rows = std::make_shared<std::vector<char>>(shape.rows * shape.row_bytes);
  for (uint64_t id = 0; id < shape.rows; ++id) {
    FillBaselineRow(id, shape.row_bytes, rows->data() + id * shape.row_bytes);
  }
  std::shared_ptr<const std::vector<char>> frozen = std::move(rows);
  return BackendFactory([frozen, row_bytes = shape.row_bytes]()
                            -> absl::StatusOr<std::unique_ptr<BenchBackend>> {
    return std::make_unique<InProcessBackend>(frozen, row_bytes);
  });
}

}  // namespace engram::bench
