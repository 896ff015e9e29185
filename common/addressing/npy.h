// Reading the header of any .npy file, writing one, and reading and writing
// 1-D int64 arrays in numpy's .npy format.
//
// The compression lookup of a model (raw token id -> compressed id) is saved
// by the Python side with np.save; this reads it without numpy. Accepted:
// format versions 1.0, 2.0 and 3.0, dtype '<i8', one dimension (fortran_order
// is irrelevant for 1-D and accepted), data exactly shape[0] * 8 bytes.
//
//   absl::StatusOr<std::vector<int64_t>> v = internal::ReadNpyInt64("m.npy");
//   std::string bytes = internal::EncodeNpyInt64(*v);  // version 1.0
//   std::string header = internal::EncodeNpyHeader("<f4", {rows, cols});
//
// Thread-safe (pure functions).
#ifndef ENGRAM_COMMON_ADDRESSING_NPY_H_
#define ENGRAM_COMMON_ADDRESSING_NPY_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace engram::internal {

// NpyHeader is what a .npy header says about its array.
struct NpyHeader {
  std::string descr;  // numpy dtype string, e.g. "<f4", "|u1"
  bool fortran_order = false;
  std::vector<uint64_t> shape;
  uint64_t data_offset = 0;  // where the array's bytes begin
};

// ParseNpyHeader decodes the header at the start of `bytes` (which needs to
// hold the whole header, not the data).
// Errors: InvalidArgument naming what is wrong: magic, version, header
// syntax, truncation.
absl::StatusOr<NpyHeader> ParseNpyHeader(std::string_view bytes);

// ParseNpyInt64 decodes the bytes of a .npy file.
// Errors: InvalidArgument naming what is wrong: magic, version, header
// syntax, dtype (anything but '<i8'), shape (not 1-D), data size.
absl::StatusOr<std::vector<int64_t>> ParseNpyInt64(std::string_view bytes);

// ReadNpyInt64 reads and decodes a .npy file.
// Errors: NotFound when the file cannot be read; otherwise as ParseNpyInt64,
// with the path prefixed.
absl::StatusOr<std::vector<int64_t>> ReadNpyInt64(const std::string& path);

// EncodeNpyInt64 writes `values` as a version 1.0 .npy file ('<i8', 1-D),
// byte-identical to np.save(f, np.asarray(values, dtype='<i8')).
std::string EncodeNpyInt64(absl::Span<const int64_t> values);

// EncodeNpyHeader is the version 1.0 header np.save writes before the data
// of a C-ordered array of dtype `descr` (e.g. "<f4") and `shape`: magic,
// version, length, and the padded header dict; the data follows it
// directly. With `padded_to` (a multiple of 64 at least as long as that
// header) the dict is padded further, to exactly `padded_to` bytes in all:
// room kept for a larger shape, before the final one was known.
// REQUIRES: the dict fits in 64 KiB (any shape of < 1000 dims).
std::string EncodeNpyHeader(std::string_view descr,
                            absl::Span<const uint64_t> shape,
                            size_t padded_to = 0);

}  // namespace engram::internal

#endif  // ENGRAM_COMMON_ADDRESSING_NPY_H_
