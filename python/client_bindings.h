// Python bindings of the C++ client (client/engram_client.h, and
// client/sharded_client.h for a shard map): engram_client.Client.
//
//   client = engram_client.Client("127.0.0.1:50051", token="...")
//   rows = client.lookup("layer_1", ids)          # ndarray [n, *row shape]
//   client.lookup("layer_1", ids, out=buffer)     # into the caller's memory
//   tensor = client.lookup_tensor("layer_1", ids)  # torch, via DLPack
//
// Every call that waits on the network releases the GIL, so Python threads
// may share one Client (it is thread-safe) and overlap their lookups.
#ifndef ENGRAM_PYTHON_CLIENT_BINDINGS_H_
#define ENGRAM_PYTHON_CLIENT_BINDINGS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "client/engram_client.h"
#include "client/worker_client.h"
#include "pybind11/pybind11.h"

namespace engram::python {

// One EngramClient (or ShardedClient) and what its lookups need to know of
// each table to size their results.
class PyClient {
 public:
  explicit PyClient(client::WorkerClient client) : client_(std::move(client)) {}

  client::EngramClient& client() const { return *client_.client; }
  // The worker-side caches' counters, summed; all zero without a cache.
  client::CacheStats cache_stats() const { return client_.cache_stats(); }
  // WorkerClient::StartCaching. REQUIRES: the GIL is not held.
  absl::Status StartCaching(const std::vector<std::string>& tables,
                            absl::Duration timeout) const {
    return client_.StartCaching(tables, timeout);
  }

  // How rows of `table` arrive: element type, bytes and shape of a row,
  // and how many a token addresses.
  struct RowFormat {
    ElementType type = ElementType::kOpaque;
    uint32_t row_bytes = 0;
    std::vector<uint32_t> dims;
    // Rows per token of the table's hash spec; 0 without one.
    int rows_per_token = 0;

    bool operator==(const RowFormat&) const = default;
  };
  // The format of `table`'s rows, from a DescribeTable the first time.
  // REQUIRES: the GIL is not held (it may call the server).
  absl::StatusOr<RowFormat> Format(const std::string& table)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Forgets `table`'s format (its rows came back in another size, or did
  // not fit: the table may have been replaced).
  void ForgetFormat(const std::string& table) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const client::WorkerClient client_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, RowFormat> formats_ ABSL_GUARDED_BY(mu_);
};

// engram_client.Client, TableDescription, VersionPin, LookupInfo.
void RegisterClient(pybind11::module_& module);

// ClientOptions::default_timeout etc. take seconds from Python; this makes
// the Duration (0 or negative: none given).
absl::Duration Seconds(double seconds);

}  // namespace engram::python

#endif  // ENGRAM_PYTHON_CLIENT_BINDINGS_H_
