#include "server/storage/ram_row_store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace engram::server {
namespace {

// Rows fetched ahead of the copy: random rows are DRAM misses, and keeping
// several in flight overlaps their latency instead of paying it in turn.
constexpr size_t kPrefetchDistance = 8;

// Copies rows of a compile-time size, letting the compiler inline the copy.
template <size_t kRowBytes>
void GatherFixed(const char* base, const PackedRowIds& ids, char* out) {
  const size_t count = ids.size();
  for (size_t i = 0; i < count; ++i) {
    if (i + kPrefetchDistance < count) {
      const char* ahead = base + ids[i + kPrefetchDistance] * kRowBytes;
      for (size_t line = 0; line < kRowBytes; line += 64) {
        __builtin_prefetch(ahead + line);
      }
    }
    std::memcpy(out + i * kRowBytes, base + ids[i] * kRowBytes, kRowBytes);
  }
}

void GatherAny(const char* base, uint32_t row_bytes, const PackedRowIds& ids,
               char* out) {
  const size_t count = ids.size();
  for (size_t i = 0; i < count; ++i) {
    if (i + kPrefetchDistance < count) {
      __builtin_prefetch(base + ids[i + kPrefetchDistance] * row_bytes);
    }
    std::memcpy(out + i * row_bytes, base + ids[i] * row_bytes, row_bytes);
  }
}

void Unmap(char* data, uint64_t bytes) {
  if (data != nullptr && bytes > 0) munmap(data, bytes);
}

}  // namespace

absl::StatusOr<std::unique_ptr<RamRowStore::Builder>>
RamRowStore::Builder::Create(uint64_t rows, uint32_t row_bytes) {
  if (row_bytes == 0)
    return absl::InvalidArgumentError("row_bytes must be > 0");
  const uint64_t bytes = rows * row_bytes;
  char* data = nullptr;
  if (bytes > 0) {
    void* mapped = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mapped == MAP_FAILED) {
      return absl::ResourceExhaustedError(
          absl::StrCat("cannot map ", bytes, " bytes for ", rows,
                       " rows: ", std::strerror(errno)));
    }
    // Huge pages cut TLB misses on random row access; advisory only.
    madvise(mapped, bytes, MADV_HUGEPAGE);
    data = static_cast<char*>(mapped);
  }
  return std::unique_ptr<Builder>(new Builder(data, rows, row_bytes));
}

RamRowStore::Builder::~Builder() { Unmap(data_, size_bytes()); }

std::unique_ptr<RamRowStore> RamRowStore::Builder::Build() && {
  char* data = data_;
  data_ = nullptr;
  if (data != nullptr) mprotect(data, size_bytes(), PROT_READ);
  return std::unique_ptr<RamRowStore>(new RamRowStore(data, rows_, row_bytes_));
}

absl::StatusOr<std::unique_ptr<RamRowStore>> RamRowStore::MapFile(
    const std::string& path, uint64_t rows, uint32_t row_bytes) {
  if (row_bytes == 0)
    return absl::InvalidArgumentError("row_bytes must be > 0");
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(absl::StrCat("cannot open row file ", path, ": ",
                                            std::strerror(errno)));
  }
  struct stat st;
  const uint64_t expected = rows * row_bytes;
  if (fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) != expected) {
    close(fd);
    return absl::DataLossError(absl::StrCat(
        "row file ", path, " holds ", st.st_size, " bytes; expected ", expected,
        " (", rows, " rows x ", row_bytes, " bytes)"));
  }
  char* data = nullptr;
  if (expected > 0) {
    void* mapped =
        mmap(nullptr, expected, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (mapped == MAP_FAILED) {
      const int err = errno;
      close(fd);
      return absl::InternalError(
          absl::StrCat("cannot map row file ", path, ": ", std::strerror(err)));
    }
    madvise(mapped, expected, MADV_RANDOM);
    data = static_cast<char*>(mapped);
  }
  close(fd);
  return std::unique_ptr<RamRowStore>(new RamRowStore(data, rows, row_bytes));
}

RamRowStore::~RamRowStore() { Unmap(data_, size_bytes()); }

absl::Status RamRowStore::Gather(const PackedRowIds& ids, char* out) const {
  switch (row_bytes_) {
    case 64:
      GatherFixed<64>(data_, ids, out);
      break;
    case 128:
      GatherFixed<128>(data_, ids, out);
      break;
    case 256:
      GatherFixed<256>(data_, ids, out);
      break;
    default:
      GatherAny(data_, row_bytes_, ids, out);
  }
  return absl::OkStatus();
}

}  // namespace engram::server
