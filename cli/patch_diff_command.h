// `engramctl patch diff`: the rows that changed between two checkpoints of
// a table, as the two files `patch apply` takes:
//
//   engramctl patch diff OLD.npy NEW.npy --out-ids ids.npy --out-rows rows.npy
//       [--tolerance T] [--json]
//
// OLD and NEW are 2-D .npy arrays (as `import` reads them) of one dtype and
// shape. Row i changed when its bytes differ; with --tolerance T (float
// dtypes: f32, f16, and uint16 taken as bf16 as import does) only when
// some element differs by more than T (a NaN is within no tolerance of a
// value with other bits). ids.npy gets the changed row ids (int64,
// increasing), rows.npy NEW's rows of them (NEW's dtype, one per id). It
// prints how many rows changed and the patch's size in row bytes (what the
// server's --max-patch-bytes bounds): as text, or with --json
// {"rows": R, "changed_rows": N, "row_bytes": B, "patch_bytes": N*B}.
// Files are read through mmap, a row at a time: checkpoints need not fit
// in memory.
#ifndef ENGRAM_CLI_PATCH_DIFF_COMMAND_H_
#define ENGRAM_CLI_PATCH_DIFF_COMMAND_H_

#include <string>

#include "absl/status/status.h"

namespace engram::cli {

struct PatchDiffOptions {
  std::string old_file;
  std::string new_file;
  std::string out_ids;   // --out-ids, required
  std::string out_rows;  // --out-rows, required
  // 0: any change of bytes counts.
  double tolerance = 0;
  bool json = false;
};

// InvalidArgument, naming both files, for arrays of other dtypes or shapes,
// and for files that are no 2-D .npy, a negative tolerance or one for rows
// that are not floats; NotFound for unreadable files; the writes' errors.
absl::Status RunPatchDiffCommand(const PatchDiffOptions& options);

}  // namespace engram::cli

#endif  // ENGRAM_CLI_PATCH_DIFF_COMMAND_H_
