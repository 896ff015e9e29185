// Keeps glibc malloc from returning large buffers to the kernel after every
// request.
//
// A 4096 x 128 B lookup moves 512 KiB buffers through malloc on both ends.
// By default glibc serves blocks that size with fresh mmap()s (or trims the
// heap after freeing them), so every request pays page faults and zeroing
// for each 4 KiB page; profiles showed that cost more than the data copies.
// Call once at the top of main() in processes that move large batches:
//
//   int main(int argc, char** argv) {
//     engram::TuneMallocForLargeBuffers();
#ifndef ENGRAM_COMMON_MALLOC_TUNING_H_
#define ENGRAM_COMMON_MALLOC_TUNING_H_

namespace engram {

// Raises glibc's mmap and trim thresholds so freed large blocks are reused.
// No effect with other allocators.
void TuneMallocForLargeBuffers();

}  // namespace engram

#endif  // ENGRAM_COMMON_MALLOC_TUNING_H_
