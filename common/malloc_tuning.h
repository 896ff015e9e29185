// Keeps glibc malloc from returning large buffers to the kernel after every
// request.
//
// A 4096 x 128 B lookup moves 512 KiB buffers through malloc on both ends.
// By default glibc serves blocks that size with fresh mmap()s (or trims the
// heap after freeing them), so every request pays page faults and zeroing
// for each 4 KiB page; profiles showed that cost more than the data copies.
// Clients pay the same for the responses they receive: a 64-sequence
// decode step (two 256 KiB responses) ran at p99 1.7-1.9 ms untuned and
// 0.6-0.9 ms tuned (docs/benchmarks.md). Call once at the top of main() in
// every process that moves large batches, servers and inference workers
// alike:
//
//   int main(int argc, char** argv) {
//     engram::TuneMallocForLargeBuffers();
//
// Programs that cannot call it (a Python worker) get most of the effect
// from GLIBC_TUNABLES=glibc.malloc.trim_threshold=67108864 in their
// environment: the trim threshold is what matters for responses.
//
// The freed blocks so kept stay in the RSS for good, in every malloc arena
// that ever held them; ReleaseFreedMemory() hands them back after a large,
// one-off free (a collected table version).
#ifndef ENGRAM_COMMON_MALLOC_TUNING_H_
#define ENGRAM_COMMON_MALLOC_TUNING_H_

namespace engram {

// Raises glibc's mmap and trim thresholds so freed large blocks are reused.
// No effect with other allocators.
void TuneMallocForLargeBuffers();

// Returns the whole free pages of every malloc arena to the kernel
// (glibc's malloc_trim). Blocks other threads' malloc while it walks the
// arenas, so call it after rare, large frees, not per request. No effect
// with other allocators.
void ReleaseFreedMemory();

}  // namespace engram

#endif  // ENGRAM_COMMON_MALLOC_TUNING_H_
