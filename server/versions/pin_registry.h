// PinRegistry: leases on table versions. A pin holds one version of one
// table for as long as it is used: each lookup through it renews it for its
// TTL, and a pin unused for longer expires. Pins live in memory only.
//
//   PinRegistry pins({});
//   ENGRAM_ASSIGN_OR_RETURN(PinRegistry::Pin pin,
//                           pins.Add(version_table, absl::Seconds(30)));
//   ENGRAM_ASSIGN_OR_RETURN(std::shared_ptr<const Table> table,
//                           pins.Use(pin.id));   // renews
//   pins.Release(pin.id);
#ifndef ENGRAM_SERVER_VERSIONS_PIN_REGISTRY_H_
#define ENGRAM_SERVER_VERSIONS_PIN_REGISTRY_H_

#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/tables/table.h"

namespace engram::server {

class PinRegistry {
 public:
  struct Limits {
    // TTL of a pin that asks for none, and the longest one granted.
    absl::Duration default_ttl = absl::Seconds(60);
    absl::Duration max_ttl = absl::Hours(1);
    // Most live pins at once.
    size_t max_pins = 1 << 20;
  };

  struct Pin {
    uint64_t id = 0;
    uint64_t version = 0;
    absl::Duration ttl;
  };

  explicit PinRegistry(const Limits& limits);

  // Pins `table` (one version) for `ttl` (zero: the default).
  // InvalidArgument for a TTL over the limit; ResourceExhausted when
  // max_pins are live.
  absl::StatusOr<Pin> Add(std::shared_ptr<const Table> table,
                          absl::Duration ttl) ABSL_LOCKS_EXCLUDED(mu_);

  // The pinned version, renewing the pin. NotFound for a pin unknown,
  // released or expired.
  absl::StatusOr<std::shared_ptr<const Table>> Use(uint64_t pin_id)
      ABSL_LOCKS_EXCLUDED(mu_);

  // NotFound for a pin unknown, released or expired.
  absl::Status Release(uint64_t pin_id) ABSL_LOCKS_EXCLUDED(mu_);

  // Releases every pin of table `name`; returns how many were live.
  size_t ReleaseTable(absl::string_view name) ABSL_LOCKS_EXCLUDED(mu_);

  // Live pins of table `name`, by version; expired pins are dropped.
  absl::flat_hash_map<uint64_t, uint32_t> PinnedVersions(absl::string_view name)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Lease {
    std::shared_ptr<const Table> table;
    absl::Duration ttl;
    absl::Time expires;
  };

  void DropExpiredLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Limits limits_;
  absl::Mutex mu_;
  absl::flat_hash_map<uint64_t, Lease> leases_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_);
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_VERSIONS_PIN_REGISTRY_H_
