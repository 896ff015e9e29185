// LookUpUntilCached: for tests of a CachingClient, which caches a table's
// rows only once its watch, started in the background by the table's first
// lookup, is up, and keeps a row once it was asked for twice.
//
//   ASSERT_TRUE(LookUpUntilCached(*cache, [&] { return Lookup(); }).ok());
//   // The rows `Lookup` asks for are now served from the cache.
#ifndef ENGRAM_TESTS_CACHE_WARMING_H_
#define ENGRAM_TESTS_CACHE_WARMING_H_

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "client/caching_client.h"

namespace engram::testing {

// Runs `lookup` every 50 ms until one is served from `cache` (its hit count
// grows); the first error of `lookup`, or DEADLINE_EXCEEDED after 10 s.
absl::Status LookUpUntilCached(const client::CachingClient& cache,
                               absl::FunctionRef<absl::Status()> lookup);

}  // namespace engram::testing

#endif  // ENGRAM_TESTS_CACHE_WARMING_H_
