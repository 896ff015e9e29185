#include "server/versions/pin_registry.h"

#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"

namespace engram::server {
namespace {

absl::Status UnknownPin(uint64_t pin_id) {
  return absl::NotFoundError(absl::StrCat(
      "pin ", pin_id,
      " is unknown, released or expired (pins last their TTL without use "
      "and do not survive a server restart); take a new one"));
}

}  // namespace

PinRegistry::PinRegistry(const Limits& limits) : limits_(limits) {
  // Ids start at random so that a pin from before a restart is unknown
  // after it rather than naming someone else's pin.
  absl::BitGen random;
  next_id_ = absl::Uniform<uint64_t>(random, 1, uint64_t{1} << 62);
}

absl::StatusOr<PinRegistry::Pin> PinRegistry::Add(
    std::shared_ptr<const Table> table, absl::Duration ttl) {
  if (ttl == absl::ZeroDuration()) ttl = limits_.default_ttl;
  if (ttl < absl::ZeroDuration() || ttl > limits_.max_ttl) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pin TTL ", absl::FormatDuration(ttl),
        " exceeds the server's limit of ",
        absl::FormatDuration(limits_.max_ttl), " (--max-pin-ttl)"));
  }
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&mu_);
  if (leases_.size() >= limits_.max_pins) DropExpiredLocked(now);
  if (leases_.size() >= limits_.max_pins) {
    return absl::ResourceExhaustedError(
        absl::StrCat(leases_.size(),
                     " pins are live, the server's limit "
                     "(--max-pins); release some"));
  }
  const uint64_t id = next_id_++;
  const uint64_t version = table->version();
  leases_.emplace(id, Lease{std::move(table), ttl, now + ttl});
  return Pin{id, version, ttl};
}

absl::StatusOr<std::shared_ptr<const Table>> PinRegistry::Use(uint64_t pin_id) {
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&mu_);
  const auto it = leases_.find(pin_id);
  if (it == leases_.end()) return UnknownPin(pin_id);
  if (it->second.expires < now) {
    leases_.erase(it);
    return UnknownPin(pin_id);
  }
  it->second.expires = now + it->second.ttl;
  return it->second.table;
}

absl::Status PinRegistry::Release(uint64_t pin_id) {
  absl::MutexLock lock(&mu_);
  const auto it = leases_.find(pin_id);
  if (it == leases_.end() || it->second.expires < absl::Now()) {
    if (it != leases_.end()) leases_.erase(it);
    return UnknownPin(pin_id);
  }
  leases_.erase(it);
  return absl::OkStatus();
}

size_t PinRegistry::ReleaseTable(absl::string_view name) {
  absl::MutexLock lock(&mu_);
  DropExpiredLocked(absl::Now());
  return absl::erase_if(leases_, [name](const auto& entry) {
    return entry.second.table->name() == name;
  });
}

absl::flat_hash_map<uint64_t, uint32_t> PinRegistry::PinnedVersions(
    absl::string_view name) {
  absl::flat_hash_map<uint64_t, uint32_t> pinned;
  absl::MutexLock lock(&mu_);
  DropExpiredLocked(absl::Now());
  for (const auto& [id, lease] : leases_) {
    if (lease.table->name() == name) ++pinned[lease.table->version()];
  }
  return pinned;
}

void PinRegistry::DropExpiredLocked(absl::Time now) {
  absl::erase_if(
      leases_, [now](const auto& entry) { return entry.second.expires < now; });
}

}  // namespace engram::server
