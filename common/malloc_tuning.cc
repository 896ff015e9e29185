#include "common/malloc_tuning.h"

#include <malloc.h>

namespace engram {

void TuneMallocForLargeBuffers() {
#ifdef M_MMAP_THRESHOLD
  // Blocks below 256 MiB come from the heap and are reused once freed...
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  // ...and up to 1 GiB of free heap top is kept rather than trimmed.
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

void ReleaseFreedMemory() {
#ifdef M_MMAP_THRESHOLD
  malloc_trim(0);
#endif
}

}  // namespace engram
