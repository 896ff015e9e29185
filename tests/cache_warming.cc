#include "tests/cache_warming.h"

#include <cstdint>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace engram::testing {

absl::Status LookUpUntilCached(const client::CachingClient& cache,
                               absl::FunctionRef<absl::Status()> lookup) {
  const uint64_t hits_before = cache.stats().hits;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (absl::Status looked_up = lookup(); !looked_up.ok()) return looked_up;
    if (cache.stats().hits > hits_before) return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError(
      "lookups were still not served from the cache after 10s");
}

}  // namespace engram::testing
