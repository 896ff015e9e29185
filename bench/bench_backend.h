// BenchBackend: one connection to a row store under load, as the load
// generator sees it. engram-bench runs one backend per worker thread, so an
// implementation need not be thread-safe.
//
//   ENGRAM_ASSIGN_OR_RETURN(auto backend, factory());
//   ENGRAM_RETURN_IF_ERROR(backend->Fetch(ids, out.data()));
#ifndef ENGRAM_BENCH_BENCH_BACKEND_H_
#define ENGRAM_BENCH_BENCH_BACKEND_H_

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace engram::bench {

// The rows a backend serves: ids [0, rows), row_bytes each.
struct TableShape {
  uint64_t rows = 0;
  uint32_t row_bytes = 0;
};

class BenchBackend {
 public:
  virtual ~BenchBackend() = default;
  // Fetches rows `ids` into `out` (ids.size() * row_bytes bytes), blocking.
  virtual absl::Status Fetch(absl::Span<const uint64_t> ids, char* out) = 0;
};

// Makes one backend per worker; called from the main thread.
using BackendFactory =
    std::function<absl::StatusOr<std::unique_ptr<BenchBackend>>()>;

// The bytes the baseline stores (Redis, memcached, in-process) hold for row
// `id`; the same pattern everywhere so a run can verify what it fetched.
void FillBaselineRow(uint64_t id, uint32_t row_bytes, char* out);

}  // namespace engram::bench

#endif  // ENGRAM_BENCH_BENCH_BACKEND_H_
