// Demo tables: the reference Engram config's tables, filled with
// deterministic pseudo-random rows, so a quickstart needs no download.
//
// One table per Engram layer, named "layer_<id>", addressed by the hash spec
// of the config (rows = the sum of that layer's prime head sizes, one row
// per head slot of head_dim values). Row r of layer L always holds the same
// values (FillDemoRow), so clients and tests can check what they read.
//
//   DemoTablesOptions demo;  // the reference config, bf16
//   ENGRAM_ASSIGN_OR_RETURN(std::vector<DemoTable> built,
//                           BuildMissingDemoTables(data_dir, demo));
//   // Serve built[i] at once; write it to data_dir in the background.
#ifndef ENGRAM_SERVER_TABLES_DEMO_TABLES_H_
#define ENGRAM_SERVER_TABLES_DEMO_TABLES_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/addressing/hash_spec.h"
#include "common/demo_rows.h"
#include "common/element_type.h"
#include "engram/v1/engram_service.pb.h"
#include "server/storage/data_dir.h"
#include "server/storage/ram_row_store.h"

namespace engram::server {

struct DemoTablesOptions {
  // The model's Engram config (defaults: the reference's, DeepSeek-V3
  // vocabulary). Each row holds n_embed_per_ngram / heads_per_ngram values.
  HashSpecConfig hash_config;
  // Element type of the row values: kF32, kBf16 or kF16.
  ElementType element_type = ElementType::kBf16;
};

// A demo table built in memory, not yet on disk.
struct DemoTable {
  v1::TableInfo info;
  std::shared_ptr<const RamRowStore> rows;
};

// Builds in memory each demo table that `data_dir` lacks (tables on disk are
// kept, so only the first start pays), logging progress. InvalidArgument for
// a bad config or element type; ResourceExhausted without the memory.
absl::StatusOr<std::vector<DemoTable>> BuildMissingDemoTables(
    const DataDir& data_dir, const DemoTablesOptions& options);

}  // namespace engram::server

#endif  // ENGRAM_SERVER_TABLES_DEMO_TABLES_H_
