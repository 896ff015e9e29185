// Demo rows: the deterministic pseudo-random rows of the demo tables, so a
// quickstart needs no download and every process (engram-server --demo,
// engram-worker's local rows, tests) agrees on what row r of layer L holds.
//
//   std::string row(64 * 2, '\0');
//   FillDemoRow(/*layer_id=*/1, /*row=*/77, ElementType::kBf16, 64,
//   row.data());
//
// Thread-safe (pure functions).
#ifndef ENGRAM_COMMON_DEMO_ROWS_H_
#define ENGRAM_COMMON_DEMO_ROWS_H_

#include <cstdint>
#include <string>

#include "common/element_type.h"

namespace engram {

// Name of the demo table of `layer_id`: "layer_<id>".
std::string DemoTableName(int64_t layer_id);

// Writes row `row` of demo layer `layer_id`: `values` elements of `type`,
// of random sign and magnitude uniform over the bf16 values in [0.5, 1).
// REQUIRES: type is kF32, kBf16 or kF16.
void FillDemoRow(int64_t layer_id, uint64_t row, ElementType type, int values,
                 char* out);

}  // namespace engram

#endif  // ENGRAM_COMMON_DEMO_ROWS_H_
