// LocalRowClient: an EngramClient whose tables live in the worker's own
// process: `engram-worker --rows local`, the baseline that server mode is
// measured against, with the same prefetcher and model code on top.
//
//   ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<LocalRowClient> rows,
//                           LocalRowClient::CreateDemo(config.engram,
//                                                      ElementType::kBf16));
//   Prefetcher::Create(rows.get(), {.tables = {"layer_1", "layer_15"}});
//
// The demo tables are those of `engram-server --demo` with the same hash
// config and element type (FillDemoRow), byte for byte. Rows are computed
// when looked up instead of being held: that costs less than reading them
// from memory, so the baseline is never slower than a resident table, and
// the demo's two 1.3 GB tables need no memory.
//
// Lookups complete on the calling thread before LookupAsync returns. Only
// DescribeTable, ListTables, GetCompressionMap (the config's) and lookups
// by row id are served; pins and watches are Unimplemented (local tables
// have one version). Thread-safe.
#ifndef ENGRAM_GPU_MODEL_LOCAL_ROW_CLIENT_H_
#define ENGRAM_GPU_MODEL_LOCAL_ROW_CLIENT_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "client/engram_client.h"
#include "common/addressing/hash_spec.h"
#include "common/element_type.h"

namespace engram::gpu {

class LocalRowClient final : public client::EngramClient {
 public:
  // One demo table per layer of `config`, rows of `type` (kF32, kBf16 or
  // kF16). InvalidArgument for a bad config or type.
  static absl::StatusOr<std::unique_ptr<LocalRowClient>> CreateDemo(
      const HashSpecConfig& config, ElementType type);

  absl::StatusOr<std::vector<client::TableDescription>> ListTables() override;
  absl::StatusOr<client::TableDescription> DescribeTable(
      absl::string_view table) override;
  absl::StatusOr<std::shared_ptr<const CompressionMap>> GetCompressionMap(
      absl::string_view table) override;
  absl::StatusOr<client::LookupResult> LookupTokens(
      absl::string_view table, absl::Span<const int64_t> tokens, int batch,
      int time, absl::Span<const int32_t> lengths, absl::Span<char> out,
      const client::LookupOptions& options = {}) override;
  void LookupAsync(absl::string_view table, absl::Span<const uint64_t> ids,
                   absl::Span<char> out, const client::LookupOptions& options,
                   LookupCallback done) override;
  absl::StatusOr<client::VersionPin> PinVersion(
      absl::string_view table, uint64_t version = 0,
      absl::Duration ttl = absl::ZeroDuration()) override;
  absl::Status ReleasePin(uint64_t pin_id) override;
  absl::StatusOr<std::unique_ptr<client::TableWatch>> WatchTable(
      absl::string_view table, WatchCallback on_change) override;

 private:
  struct Table {
    client::TableDescription description;
    int64_t layer_id = 0;
  };

  LocalRowClient(std::vector<Table> tables,
                 std::shared_ptr<const CompressionMap> compression)
      : tables_(std::move(tables)), compression_(std::move(compression)) {}
  absl::StatusOr<const Table*> Find(absl::string_view name) const;
  absl::StatusOr<client::LookupResult> Lookup(absl::string_view table,
                                              absl::Span<const uint64_t> ids,
                                              absl::Span<char> out) const;

  const std::vector<Table> tables_;
  // The config's map; null when its tables hash raw ids.
  const std::shared_ptr<const CompressionMap> compression_;
};

}  // namespace engram::gpu

#endif  // ENGRAM_GPU_MODEL_LOCAL_ROW_CLIENT_H_
