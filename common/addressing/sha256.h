// SHA-256 (FIPS 180-4), self-contained, for the HashSpec digest.
//
// The digest must be the same on every machine and build that addresses a
// table, so it uses a standard hash rather than std::hash or a home-made one;
// it is implemented here (about a hundred lines) to keep the addressing
// library free of an OpenSSL dependency. Checked against Python's hashlib.
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

  Sha256();

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

 private:
  void Compress(const uint8_t* block);

  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

}  // namespace engram::internal

#endif  // ENGRAM_COMMON_ADDRESSING_SHA256_H_
