// SHA-256 (FIPS 180-4), self-contained, for the HashSpec digest and the
// content digests of imported tables.
//
// The digest must be the same on every machine and build that addresses a
// table, so it uses a standard hash rather than std::hash or a home-made one;
// it is implemented here to keep the addressing library free of an OpenSSL
// dependency. Table imports hash every row byte on both client and server, so
// on x86 CPUs with the SHA extensions (SHA-NI) whole blocks go through the
// hardware instructions (about 1.7 GB/s on one core, some seven times the
// portable code; see sha256_benchmark.cc). The choice is made once per process
// at run time (CPUID), so the build needs no -msha flag and the binary still
// runs on CPUs without SHA-NI. Both paths are checked against Python's hashlib
// and each other.
//
//   internal::Sha256 h;
//   h.Update("abc");
//   std::string hex = internal::Sha256::ToHex(h.Finish());
//
// Not thread-safe; cheap to create.
#ifndef ENGRAM_COMMON_ADDRESSING_SHA256_H_
#define ENGRAM_COMMON_ADDRESSING_SHA256_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace engram::internal {

class Sha256 {
 public:
  using Digest = std::array<uint8_t, 32>;

  // Implementation picks the compression code. kFastest is SHA-NI where the
  // CPU has it (see HardwareAccelerated()) and the portable code elsewhere;
  // kScalar always uses the portable code, so that tests and benchmarks can
  // compare the two in one process. Both give the same digests.
  enum class Implementation { kFastest, kScalar };

  Sha256() : Sha256(Implementation::kFastest) {}
  explicit Sha256(Implementation implementation);

  // Update appends bytes to the message.
  void Update(const void* data, size_t size);
  void Update(std::string_view bytes) { Update(bytes.data(), bytes.size()); }

  // Finish pads the message and returns its digest; the object must not be
  // updated afterwards.
  Digest Finish();

  // ToHex renders a digest as 64 lowercase hex characters.
  static std::string ToHex(const Digest& digest);

  // Of is the digest of one byte string.
  static Digest Of(std::string_view bytes);

  // HardwareAccelerated is whether Implementation::kFastest uses SHA-NI in
  // this process. Thread-safe.
  static bool HardwareAccelerated();

 private:
  static constexpr size_t kBlockSize = 64;

  // CompressFn folds `blocks` consecutive 64-byte blocks into `state`.
  using CompressFn = void (*)(uint32_t* state, const uint8_t* data,
                              size_t blocks);

  CompressFn compress_;
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, kBlockSize> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

}  // namespace engram::internal

#endif  // ENGRAM_COMMON_ADDRESSING_SHA256_H_
