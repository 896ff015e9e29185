// Baseline stores engram-server is compared with: Redis (MGET) and memcached
// (multi-get), spoken to over plain TCP with their text protocols, one
// connection per worker. Keys are "r:<id>", values FillBaselineRow bytes.
//
//   ENGRAM_ASSIGN_OR_RETURN(BackendFactory factory,
//       BaselineBackendFactory(BaselineKind::kRedis, "127.0.0.1:6379",
//                              {.rows = 1 << 20, .row_bytes = 128},
//                              /*populate=*/true));
#ifndef ENGRAM_BENCH_BASELINE_BACKENDS_H_
#define ENGRAM_BENCH_BASELINE_BACKENDS_H_

#include <string>

#include "absl/status/statusor.h"
#include "bench/bench_backend.h"

namespace engram::bench {

enum class BaselineKind { kRedis, kMemcached };

// With `populate`, writes every row first (pipelined). Unavailable if the
// store cannot be reached.
absl::StatusOr<BackendFactory> BaselineBackendFactory(
    BaselineKind kind, const std::string& address, TableShape shape,
    bool populate);

}  // namespace engram::bench

#endif  // ENGRAM_BENCH_BASELINE_BACKENDS_H_
