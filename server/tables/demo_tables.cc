#include "server/tables/demo_tables.h"

#include <algorithm>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/demo_rows.h"
#include "common/hash_spec_proto.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "server/storage/ram_row_store.h"

namespace engram::server {
namespace {

// Fills every row of a table, split over as many threads as there are cores.
void FillRowsInParallel(int64_t layer_id, ElementType type, int values,
                        uint32_t row_bytes, uint64_t rows, char* data) {
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([=] {
      const uint64_t begin = rows * t / threads;
      const uint64_t end = rows * (t + 1) / threads;
      for (uint64_t row = begin; row < end; ++row) {
        FillDemoRow(layer_id, row, type, values, data + row * row_bytes);
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
}

}  // namespace

absl::StatusOr<std::vector<DemoTable>> BuildMissingDemoTables(
    const DataDir& data_dir, const DemoTablesOptions& options) {
  const ElementType type = options.element_type;
  if (type != ElementType::kF32 && type != ElementType::kBf16 &&
      type != ElementType::kF16) {
    return absl::InvalidArgumentError(
        absl::StrCat("demo tables hold f32, bf16 or f16 values, not ",
                     ElementTypeName(type)));
  }
  ENGRAM_ASSIGN_OR_RETURN(HashSpec spec,
                          HashSpec::FromConfig(options.hash_config));
  const int values = static_cast<int>(spec.head_dim());
  const uint32_t row_bytes = values * ElementBytes(type);
  std::vector<DemoTable> built;
  for (int layer = 0; layer < spec.num_layers(); ++layer) {
    const std::string name = DemoTableName(spec.layer_id(layer));
    if (data_dir.HasTable(name)) continue;
    const uint64_t rows = spec.rows_in_layer(layer);
    LOG(INFO) << "building demo table " << name << ": " << rows << " rows x "
              << row_bytes << " B (" << rows * row_bytes / (1 << 20) << " MiB)";
    const absl::Time start = absl::Now();
    ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<RamRowStore::Builder> builder,
                            RamRowStore::Builder::Create(rows, row_bytes));
    FillRowsInParallel(spec.layer_id(layer), type, values, row_bytes, rows,
                       builder->mutable_data());
    DemoTable table;
    table.info.set_name(name);
    table.info.set_rows(rows);
    table.info.set_rows_written(rows);
    table.info.set_row_bytes(row_bytes);
    table.info.set_element_type(ToProto(type));
    table.info.add_dims(values);
    table.info.set_version(1);
    *table.info.mutable_hash_spec() = HashSpecLayerToProto(spec, layer);
    table.rows = std::move(*builder).Build();
    built.push_back(std::move(table));
    LOG(INFO) << "built demo table " << name << " in "
              << absl::FormatDuration(absl::Now() - start);
  }
  return built;
}

}  // namespace engram::server
