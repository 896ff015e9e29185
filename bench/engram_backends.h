// The backends engram-bench measures besides the baselines: engram-server
// over gRPC, and an in-process gather from a flat array (the ceiling any
// remote store is measured against).
#ifndef ENGRAM_BENCH_ENGRAM_BACKENDS_H_
#define ENGRAM_BENCH_ENGRAM_BACKENDS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "bench/bench_backend.h"
#include "client/engram_client.h"

namespace engram::bench {

// Looks rows of `table` (rows of `row_bytes`) up through `client`, shared
// by all workers.
BackendFactory EngramBackendFactory(
    std::shared_ptr<client::EngramClient> client, std::string table,
    uint32_t row_bytes);

// Gathers from one flat in-memory array of `shape` filled by
// FillBaselineRow, shared by all workers.
absl::StatusOr<BackendFactory> InProcessBackendFactory(TableShape shape);

}  // namespace engram::bench

#endif  // ENGRAM_BENCH_ENGRAM_BACKENDS_H_
