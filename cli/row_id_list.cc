#include "cli/row_id_list.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace engram::cli {

absl::StatusOr<std::vector<uint64_t>> ParseRowIdList(absl::string_view text,
                                                     uint64_t max_ids) {
  std::vector<uint64_t> ids;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    item = absl::StripAsciiWhitespace(item);
    const std::pair<absl::string_view, absl::string_view> bounds =
        absl::StrSplit(item, absl::MaxSplits('-', 1));
    uint64_t first, last;
    const bool is_range = !bounds.second.empty();
    if (!absl::SimpleAtoi(bounds.first, &first) ||
        (is_range && !absl::SimpleAtoi(bounds.second, &last)) ||
        (is_range && last < first) || bounds.first.empty() ||
        (item.back() == '-')) {
      return absl::InvalidArgumentError(absl::StrCat(
          "bad row id '", item,
          "': expected a non-negative integer or a range FIRST-LAST"));
    }
    if (!is_range) last = first;
    if (last - first >= max_ids || ids.size() + (last - first + 1) > max_ids) {
      return absl::InvalidArgumentError(
          absl::StrCat("more than ", max_ids, " row ids"));
    }
    // Counting up from 0 cannot overflow, even when last is UINT64_MAX.
    for (uint64_t k = 0; k <= last - first; ++k) ids.push_back(first + k);
  }
  if (ids.empty()) return absl::InvalidArgumentError("no row ids given");
  return ids;
}

}  // namespace engram::cli
