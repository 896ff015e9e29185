#include "common/malloc_tuning.h"

#include <malloc.h>

#include <cstdlib>
#include <cstring>

#include "gtest/gtest.h"

namespace engram {
namespace {

// Sanitizers bring their own allocator, which glibc's options and
// counters do not describe.
#if defined(M_MMAP_THRESHOLD) && !defined(__SANITIZE_ADDRESS__) && \
    !defined(__SANITIZE_THREAD__)
// Above glibc's largest dynamic mmap threshold (32 MiB on 64-bit): untuned,
// such a block is always a fresh mmap, unmapped again by free.
constexpr size_t kLargeBlockBytes = 64 << 20;

size_t FreeHeapBytes() { return mallinfo2().fordblks; }

TEST(TuneMallocForLargeBuffersTest, FreedLargeBlocksStayInTheHeapForReuse) {
  TuneMallocForLargeBuffers();
  const size_t free_before = FreeHeapBytes();
  void* block = std::malloc(kLargeBlockBytes);
  ASSERT_NE(block, nullptr);
  std::memset(block, 1, kLargeBlockBytes);
  std::free(block);
  EXPECT_GE(FreeHeapBytes(), free_before + kLargeBlockBytes);

  ReleaseFreedMemory();
  EXPECT_LT(FreeHeapBytes(), free_before + kLargeBlockBytes);
}
#endif

}  // namespace
}  // namespace engram
