// Parses the CLI's row id lists: "1,2,3", ranges "10-19", or both
// ("0-3,9").
#ifndef ENGRAM_CLI_ROW_ID_LIST_H_
#define ENGRAM_CLI_ROW_ID_LIST_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace engram::cli {

// InvalidArgument naming the bad item for anything but non-negative
// integers and ascending ranges; ranges may expand to at most `max_ids`.
absl::StatusOr<std::vector<uint64_t>> ParseRowIdList(absl::string_view text,
                                                     uint64_t max_ids);

}  // namespace engram::cli

#endif  // ENGRAM_CLI_ROW_ID_LIST_H_
