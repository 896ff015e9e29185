#include "client/sharded_client.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <queue>
#include <random>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/addressing/addresser.h"
#include "common/hash_spec_proto.h"
#include "common/logging.h"
#include "common/status_context.h"
#include "common/status_macros.h"

namespace engram::client {
namespace {

// Failures that say nothing about the request, only about the replica.
bool IsRetryable(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kAborted:
      return true;
    default:
      return false;
  }
}

absl::Status NotAcrossShards(absl::string_view what) {
  return absl::UnimplementedError(
      absl::StrCat(what,
                   " spans shards, which a ShardedClient does not do; "
                   "call a shard's server directly"));
}

struct Replica {
  std::string address;
  std::unique_ptr<EngramClient> client;
  absl::Mutex mu;
  absl::Time down_until ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  absl::Duration backoff ABSL_GUARDED_BY(mu);
  std::atomic<uint64_t> successes{0};
  std::atomic<uint64_t> failures{0};

  bool Healthy(absl::Time now) {
    absl::MutexLock lock(&mu);
    return now >= down_until;
  }
};

struct ShardState {
  uint64_t first_row = 0;
  uint64_t end_row = 0;
  std::vector<std::unique_ptr<Replica>> replicas;
  // Where the search for a replica starts: advanced by every call (round
  // robin), or fixed at a random replica (prefer_one_replica).
  std::atomic<uint32_t> next{0};

  // For messages: "shard [first, end) of table 'NAME'".
  std::string Name(absl::string_view table) const {
    return absl::StrCat("shard [", first_row, ", ", end_row, ") of table '",
                        table, "'");
  }
};

// What lookups need to know of a table, from a replica's description.
struct TableLayout {
  RowFormat format;
  // Null for a table without a hash spec.
  std::shared_ptr<const HashSpec> hash_spec;
  std::string hash_spec_digest;
  std::string compression_digest;
  // The map of compression_digest, fetched by the first token lookup.
  std::shared_ptr<const CompressionMap> compression;
};

struct TableState {
  uint64_t rows = 0;
  std::vector<std::unique_ptr<ShardState>> shards;
  // Learnt from a replica at the first lookup; empty until then, and
  // again after a lookup fails with an error of the caller's (the table
  // may have been replaced).
  // Shared, so that a lookup takes it without copying its strings.
  absl::Mutex layout_mu;
  std::shared_ptr<const TableLayout> layout ABSL_GUARDED_BY(layout_mu);
};

// One shard's part of a sharded pin.
struct ShardPin {
  // The shard's version the pin fixes (its replicas number alike).
  uint64_t version = 0;
  // By replica index: the replica's server pin id; 0 where it holds none
  // (it was down when pinned, or has lost the pin since: restarted, or
  // the pin expired there unused). Lookups through the pin go only to
  // replicas with one.
  std::vector<std::atomic<uint64_t>> server_pins;
};

// What a client pin id of PinVersion stands for.
struct ShardedPin {
  std::string table;
  // The first shard's version (VersionPin::version).
  uint64_t version = 0;
  // By shard index.
  std::vector<ShardPin> shards;
};

// Runs callbacks at their time on one thread (hedges).
class Timer {
 public:
  Timer() : thread_([this] { Run(); }) {}
  ~Timer() { Stop(); }

  // Drops the callbacks not run yet; returns once none is running.
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
      wake_.Signal();
    }
    if (thread_.joinable()) thread_.join();
  }

  void At(absl::Time when, std::function<void()> fn) {
    absl::MutexLock lock(&mu_);
    queue_.push({when, std::move(fn)});
    wake_.Signal();  // It may be due before the wait's deadline.
  }

 private:
  struct Event {
    absl::Time when;
    std::function<void()> fn;
    bool operator>(const Event& other) const { return when > other.when; }
  };

  void Run() {
    absl::MutexLock lock(&mu_);
    while (!stopping_) {
      if (queue_.empty()) {
        wake_.Wait(&mu_);
      } else {
        wake_.WaitWithDeadline(&mu_, queue_.top().when);
      }
      while (!queue_.empty() && queue_.top().when <= absl::Now()) {
        std::function<void()> fn = queue_.top().fn;
        queue_.pop();
        mu_.Unlock();
        fn();
        mu_.Lock();
      }
    }
  }

  absl::Mutex mu_;
  absl::CondVar wake_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> queue_
      ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace

class ShardedClient::Impl {
 public:
  Impl(const ShardedClientOptions& options,
       absl::flat_hash_map<std::string, std::unique_ptr<TableState>> tables)
      : options_(options), tables_(std::move(tables)) {}

  // A losing hedge, or a retry, may still be in flight when the lookup's
  // caller is done; its callback uses the replicas and this object, so wait
  // for it (attempts have deadlines: this is bounded by attempt_timeout).
  ~Impl() {
    timer_.Stop();  // No hedge starts an attempt after this.
    absl::MutexLock lock(&attempts_mu_);
    attempts_mu_.Await(absl::Condition(
        +[](int* in_flight) { return *in_flight == 0; }, &attempts_in_flight_));
  }

  const ShardedClientOptions& options() const { return options_; }

  absl::StatusOr<TableState*> Find(absl::string_view table) const {
    const auto it = tables_.find(table);
    if (it == tables_.end()) {
      return absl::NotFoundError(
          absl::StrCat("no table named '", table, "' in the shard map"));
    }
    return it->second.get();
  }

  // The table's layout, asking a replica the first time.
  absl::StatusOr<std::shared_ptr<const TableLayout>> Layout(
      absl::string_view table, TableState& state);
  // `layout` with its compression map, asking a replica the first time.
  absl::StatusOr<std::shared_ptr<const TableLayout>> WithCompression(
      absl::string_view table, TableState& state,
      std::shared_ptr<const TableLayout> layout);

  std::vector<std::string> TableNames() const {
    std::vector<std::string> names;
    for (const auto& [name, table] : tables_) names.push_back(name);
    std::sort(names.begin(), names.end());
    return names;
  }

  // Some replica's client for `table`'s first shard, healthy ones first.
  EngramClient& AnyClient(const TableState& table) {
    ShardState& shard = *table.shards.front();
    for (const auto& replica : shard.replicas) {
      if (replica->Healthy(absl::Now())) return *replica->client;
    }
    return *shard.replicas.front()->client;
  }

  std::vector<ReplicaStats> Stats() const {
    std::vector<ReplicaStats> stats;
    const absl::Time now = absl::Now();
    for (const std::string& name : TableNames()) {
      for (const auto& shard : tables_.at(name)->shards) {
        for (const auto& replica : shard->replicas) {
          stats.push_back({name, shard->first_row, replica->address,
                           replica->successes.load(), replica->failures.load(),
                           replica->Healthy(now)});
        }
      }
    }
    return stats;
  }

  void CancelControlCalls() {
    for (const auto& [name, table] : tables_) {
      for (const auto& shard : table->shards) {
        for (const auto& replica : shard->replicas) {
          replica->client->CancelControlCalls();
        }
      }
    }
  }

  void LookupAsync(absl::string_view table, absl::Span<const uint64_t> ids,
                   absl::Span<char> out, const LookupOptions& options,
                   LookupCallback done);

  absl::StatusOr<VersionPin> PinVersion(absl::string_view table,
                                        uint64_t version, absl::Duration ttl)
      ABSL_LOCKS_EXCLUDED(pins_mu_);
  absl::Status ReleasePin(uint64_t pin_id) ABSL_LOCKS_EXCLUDED(pins_mu_);

 private:
  struct Fanout;
  struct ShardCall;

  // Sends the call to its next replica, if one is left to try.
  void StartAttempt(const std::shared_ptr<ShardCall>& call)
      ABSL_LOCKS_EXCLUDED(attempts_mu_);
  // Takes an attempt's answer from `replica`: retries, or completes the call.
  void FinishAttempt(const std::shared_ptr<ShardCall>& call,
                     const std::string& rows, Replica& replica,
                     std::atomic<uint64_t>* server_pin,
                     const absl::StatusOr<LookupResult>& result);
  // Lets go of one hold on the call; the last one finishes it with the
  // replicas' errors (none answered).
  void Release(const std::shared_ptr<ShardCall>& call);
  // Marks, at their lookup positions, the call's rows that `result` says
  // its (sparse) shard lacks.
  static void MarkMissing(ShardCall& call, const LookupResult& result);
  // Hands the call's answer to its lookup, which ends with its last call.
  static void Complete(ShardCall& call,
                       const absl::StatusOr<LookupResult>& result);
  void ScheduleHedge(const std::shared_ptr<ShardCall>& call);
  void MarkFailed(Replica& replica);
  void MarkSucceeded(Replica& replica);
  // Releases every server pin `pin` holds (those of `state`'s replicas).
  // Best effort: a replica that cannot be told lets its pin expire.
  static void ReleaseServerPins(const TableState& state, ShardedPin& pin);

  const ShardedClientOptions options_;
  const absl::flat_hash_map<std::string, std::unique_ptr<TableState>> tables_;
  Timer timer_;
  // Sharded pins by client pin id. Pinned lookups take the lock shared, for
  // one hash lookup (PinVersion and ReleasePin, which take it exclusively,
  // do their RPCs outside it); unpinned lookups never take it.
  absl::Mutex pins_mu_;
  absl::flat_hash_map<uint64_t, std::shared_ptr<ShardedPin>> pins_
      ABSL_GUARDED_BY(pins_mu_);
  // Attempts whose callback has not finished yet (see ~Impl).
  absl::Mutex attempts_mu_;
  int attempts_in_flight_ ABSL_GUARDED_BY(attempts_mu_) = 0;
  // The next client pin id to hand out; random to begin with, so ids of
  // two clients (or of one before and after a restart) rarely coincide and
  // a stale id is not silently taken for another pin.
  uint64_t next_pin_id_ ABSL_GUARDED_BY(pins_mu_) = [] {
    std::random_device device;
    return (uint64_t{device()} << 32) | device();
  }();
};

// One lookup's shards, and what is left to hear from.
struct ShardedClient::Impl::Fanout {
  absl::Span<char> out;
  // The table, whose row format is asked again after a failed lookup.
  TableState* table = nullptr;
  RowFormat format;
  uint64_t row_count = 0;
  std::atomic<size_t> pending{0};
  absl::Mutex mu;
  absl::Status first_error ABSL_GUARDED_BY(mu);
  // The version of the lowest shard heard from.
  uint64_t version ABSL_GUARDED_BY(mu) = 0;
  size_t version_shard ABSL_GUARDED_BY(mu) = ~size_t{0};
  // Positions of rows a (sparse) shard lacks, as LookupResult::missing;
  // empty while none.
  std::string missing ABSL_GUARDED_BY(mu);
  LookupCallback done;
};

// One shard's part of a lookup, and its attempts at the replicas.
struct ShardedClient::Impl::ShardCall {
  explicit ShardCall(size_t replicas) : tried(replicas, false) {}

  std::string table;
  ShardState* shard = nullptr;
  size_t shard_index = 0;
  std::vector<uint64_t> ids;
  // Where each of `ids` goes in the lookup's output.
  std::vector<uint32_t> positions;
  // The options of each attempt (a pinned attempt's copy also names its
  // replica's server pin).
  LookupOptions options;
  // The sharded pin the lookup goes through; null for none.
  std::shared_ptr<ShardedPin> pin;
  std::shared_ptr<Fanout> fanout;

  absl::Mutex mu;
  bool finished ABSL_GUARDED_BY(mu) = false;
  // Attempts in flight, and whoever is about to start one: the lookup
  // until its first attempt is sent, a failed attempt until its retry is.
  // Only the last one may end the call for want of replicas.
  int holds ABSL_GUARDED_BY(mu) = 1;
  std::vector<bool> tried ABSL_GUARDED_BY(mu);
  // Why the replicas tried failed ("replica ADDR: STATUS; ..."), with the
  // code of the last failure.
  absl::StatusCode failure_code ABSL_GUARDED_BY(mu) = absl::StatusCode::kOk;
  std::string failures ABSL_GUARDED_BY(mu);

  void AddFailure(absl::string_view address, const absl::Status& status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    failure_code = status.code();
    absl::StrAppend(&failures, failures.empty() ? "" : "; ", "replica ",
                    address, ": ", status.ToString());
  }
};

void ShardedClient::Impl::MarkFailed(Replica& replica) {
  replica.failures.fetch_add(1, std::memory_order_relaxed);
  absl::MutexLock lock(&replica.mu);
  replica.backoff = replica.backoff == absl::ZeroDuration()
                        ? options_.initial_backoff
                        : std::min(2 * replica.backoff, options_.max_backoff);
  replica.down_until = absl::Now() + replica.backoff;
}

void ShardedClient::Impl::MarkSucceeded(Replica& replica) {
  replica.successes.fetch_add(1, std::memory_order_relaxed);
  absl::MutexLock lock(&replica.mu);
  replica.backoff = absl::ZeroDuration();
  replica.down_until = absl::InfinitePast();
}

void ShardedClient::Impl::LookupAsync(absl::string_view table,
                                      absl::Span<const uint64_t> ids,
                                      absl::Span<char> out,
                                      const LookupOptions& options,
                                      LookupCallback done) {
  absl::StatusOr<TableState*> found = Find(table);
  if (!found.ok()) return std::move(done)(found.status());
  TableState& state = **found;
  // Before Format, which may ask a server: a bad pin costs no RPC.
  std::shared_ptr<ShardedPin> pin;
  if (options.pin_id != 0) {
    {
      absl::ReaderMutexLock lock(&pins_mu_);
      if (const auto it = pins_.find(options.pin_id); it != pins_.end()) {
        pin = it->second;
      }
    }
    if (pin == nullptr) {
      return std::move(done)(absl::NotFoundError(
          absl::StrCat("no sharded pin ", options.pin_id,
                       " (released, or not taken by this client)")));
    }
    if (pin->table != table) {
      return std::move(done)(absl::InvalidArgumentError(
          absl::StrCat("sharded pin ", options.pin_id, " is of table '",
                       pin->table, "', not '", table, "'")));
    }
    if (options.version != 0 && options.version != pin->version) {
      return std::move(done)(absl::FailedPreconditionError(absl::StrCat(
          "sharded pin ", options.pin_id, " fixes version ", pin->version,
          " (of the first shard), not ", options.version)));
    }
  }
  absl::StatusOr<std::shared_ptr<const TableLayout>> layout =
      Layout(table, state);
  if (!layout.ok()) return std::move(done)(layout.status());
  const RowFormat format = (*layout)->format;
  // Ids by shard.
  std::vector<std::vector<uint32_t>> positions(state.shards.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] >= state.rows) {
      return std::move(done)(absl::InvalidArgumentError(absl::StrCat(
          "row id ", ids[i], " at position ", i, " is out of range for table '",
          table, "' with ", state.rows, " rows")));
    }
    const auto shard = std::upper_bound(
        state.shards.begin(), state.shards.end(), ids[i],
        [](uint64_t id, const auto& s) { return id < s->first_row; });
    positions[shard - state.shards.begin() - 1].push_back(
        static_cast<uint32_t>(i));
  }
  auto fanout = std::make_shared<Fanout>();
  if (out.size() < ids.size() * uint64_t{format.row_bytes}) {
    return std::move(done)(absl::InvalidArgumentError(absl::StrCat(
        "output buffer of ", out.size(), " bytes is too small for ", ids.size(),
        " rows of ", format.row_bytes, " bytes")));
  }
  fanout->out = out;
  fanout->table = &state;
  fanout->format = format;
  fanout->row_count = ids.size();
  fanout->done = std::move(done);
  std::vector<std::shared_ptr<ShardCall>> calls;
  for (size_t s = 0; s < state.shards.size(); ++s) {
    if (positions[s].empty()) continue;
    auto call = std::make_shared<ShardCall>(state.shards[s]->replicas.size());
    call->table = std::string(table);
    call->shard = state.shards[s].get();
    call->shard_index = s;
    call->positions = std::move(positions[s]);
    for (uint32_t p : call->positions) call->ids.push_back(ids[p]);
    // A zero timeout is attempt_timeout: the replicas' default_timeout.
    call->options = options;
    call->fanout = fanout;
    if (pin != nullptr) {
      // Each attempt names its replica's server pin (StartAttempt), which
      // fixes the shard's own version: the shards' versions differ.
      call->options.version = 0;
      call->pin = pin;
    }
    calls.push_back(std::move(call));
  }
  if (calls.empty()) {
    LookupCallback finish = std::move(fanout->done);
    return std::move(finish)(
        LookupResult{0, format.row_bytes, 0, "", format.element_type});
  }
  fanout->pending = calls.size();
  for (const auto& call : calls) {
    StartAttempt(call);
    // A pinned call may find no replica holding its pin.
    Release(call);
    if (options_.hedge_after > absl::ZeroDuration()) ScheduleHedge(call);
  }
}

absl::StatusOr<std::shared_ptr<const TableLayout>>
ShardedClient::Impl::WithCompression(
    absl::string_view table, TableState& state,
    std::shared_ptr<const TableLayout> layout) {
  if (layout->compression_digest.empty() || layout->compression != nullptr) {
    return layout;
  }
  ENGRAM_ASSIGN_OR_RETURN(std::shared_ptr<const CompressionMap> map,
                          AnyClient(state).GetCompressionMap(table));
  if (CompressionDigest(map.get()) != layout->compression_digest) {
    // Replaced since its layout was learnt.
    absl::MutexLock lock(&state.layout_mu);
    if (state.layout == layout) state.layout.reset();
    return absl::FailedPreconditionError(
        absl::StrCat("table '", table, "' changed its compression map (",
                     layout->compression_digest, " -> ",
                     CompressionDigest(map.get()), "); ask again"));
  }
  TableLayout with_map = *layout;
  with_map.compression = std::move(map);
  auto updated = std::make_shared<const TableLayout>(std::move(with_map));
  absl::MutexLock lock(&state.layout_mu);
  if (state.layout == layout) state.layout = updated;
  return updated;
}

absl::StatusOr<std::shared_ptr<const TableLayout>> ShardedClient::Impl::Layout(
    absl::string_view table, TableState& state) {
  {
    absl::ReaderMutexLock lock(&state.layout_mu);
    if (state.layout != nullptr) return state.layout;
  }
  absl::Status last = absl::UnavailableError("no replica answered");
  for (const auto& replica : state.shards.front()->replicas) {
    absl::StatusOr<TableDescription> description =
        replica->client->DescribeTable(table);
    if (description.ok()) {
      auto layout = std::make_shared<const TableLayout>(
          TableLayout{{description->row_bytes, description->element_type},
                      description->hash_spec,
                      description->hash_spec_digest,
                      description->compression_digest});
      absl::MutexLock lock(&state.layout_mu);
      state.layout = layout;
      return layout;
    }
    last = description.status();
    if (!IsRetryable(last)) break;
  }
  return last;
}

absl::StatusOr<VersionPin> ShardedClient::Impl::PinVersion(
    absl::string_view table, uint64_t version, absl::Duration ttl) {
  ENGRAM_ASSIGN_OR_RETURN(TableState * state, Find(table));
  auto pin = std::make_shared<ShardedPin>();
  pin->table = std::string(table);
  pin->shards.resize(state->shards.size());
  absl::Duration granted = absl::InfiniteDuration();
  // One replica at a time: a pin is taken once per sequence, not per
  // lookup, and an error part way releases what was pinned before it.
  for (size_t s = 0; s < state->shards.size(); ++s) {
    const ShardState& shard = *state->shards[s];
    ShardPin& part = pin->shards[s];
    part.server_pins =
        std::vector<std::atomic<uint64_t>>(shard.replicas.size());
    // The version to pin on the shard's replicas; with version 0, the one
    // active on the first replica that answers (they are patched together,
    // so they number versions alike).
    uint64_t shard_version = version;
    bool any = false;
    // Why the replicas left unpinned are, for when none is pinned.
    absl::StatusCode skipped_code = absl::StatusCode::kOk;
    std::string skipped;
    for (size_t r = 0; r < shard.replicas.size(); ++r) {
      const Replica& replica = *shard.replicas[r];
      absl::StatusOr<VersionPin> pinned =
          replica.client->PinVersion(table, shard_version, ttl);
      if (!pinned.ok() &&
          (IsRetryable(pinned.status()) || absl::IsNotFound(pinned.status()))) {
        // Down, or without the version (e.g. not yet patched while its
        // shard is): lookups through the pin will not go to it.
        if (skipped_code != absl::StatusCode::kNotFound) {
          skipped_code = pinned.status().code();
        }
        absl::StrAppend(&skipped, skipped.empty() ? "" : "; ", "replica ",
                        replica.address, ": ", pinned.status().ToString());
        continue;
      }
      if (!pinned.ok()) {
        ReleaseServerPins(*state, *pin);
        return Annotate(pinned.status(),
                        absl::StrCat("pinning ", shard.Name(table),
                                     " at replica ", replica.address, ": "));
      }
      shard_version = pinned->version;
      part.server_pins[r] = pinned->pin_id;
      granted = std::min(granted, pinned->ttl);
      any = true;
    }
    if (!any) {
      ReleaseServerPins(*state, *pin);
      return absl::Status(skipped_code,
                          absl::StrCat("no replica of ", shard.Name(table),
                                       " could be pinned: ", skipped));
    }
    part.version = shard_version;
  }
  pin->version = pin->shards.front().version;
  uint64_t pin_id = 0;
  {
    absl::MutexLock lock(&pins_mu_);
    do {
      pin_id = next_pin_id_++;
    } while (pin_id == 0 || pins_.contains(pin_id));
    pins_.emplace(pin_id, pin);
  }
  return VersionPin{pin_id, pin->version, granted};
}

absl::Status ShardedClient::Impl::ReleasePin(uint64_t pin_id) {
  std::shared_ptr<ShardedPin> pin;
  {
    absl::MutexLock lock(&pins_mu_);
    const auto it = pins_.find(pin_id);
    if (it == pins_.end()) {
      return absl::NotFoundError(
          absl::StrCat("no sharded pin ", pin_id,
                       " (released, or not taken by this client)"));
    }
    pin = std::move(it->second);
    pins_.erase(it);
  }
  // Found when pinned, and tables_ never changes.
  ReleaseServerPins(*tables_.find(pin->table)->second, *pin);
  return absl::OkStatus();
}

void ShardedClient::Impl::ReleaseServerPins(const TableState& state,
                                            ShardedPin& pin) {
  for (size_t s = 0; s < pin.shards.size(); ++s) {
    std::vector<std::atomic<uint64_t>>& server_pins = pin.shards[s].server_pins;
    for (size_t r = 0; r < server_pins.size(); ++r) {
      const uint64_t server_pin = server_pins[r].exchange(0);
      if (server_pin == 0) continue;
      const Replica& replica = *state.shards[s]->replicas[r];
      // NOT_FOUND: it expired or its server restarted; UNAVAILABLE: the
      // server is gone, and the pin with it, or it expires there.
      if (const absl::Status released = replica.client->ReleasePin(server_pin);
          !released.ok()) {
        VLOG(1) << "releasing pin " << server_pin << " at " << replica.address
                << ": " << released;
      }
    }
  }
}

void ShardedClient::Impl::ScheduleHedge(
    const std::shared_ptr<ShardCall>& call) {
  std::weak_ptr<ShardCall> weak = call;
  timer_.At(absl::Now() + options_.hedge_after, [this, weak] {
    std::shared_ptr<ShardCall> hedged = weak.lock();
    if (hedged == nullptr) return;
    {
      absl::MutexLock lock(&hedged->mu);
      if (hedged->finished) return;
    }
    StartAttempt(hedged);
  });
}

void ShardedClient::Impl::StartAttempt(const std::shared_ptr<ShardCall>& call) {
  ShardState& shard = *call->shard;
  const size_t replicas = shard.replicas.size();
  size_t chosen = replicas;
  // The server pin to name, for a pinned call; other calls send their
  // options as they are (no copy on the unpinned path).
  uint64_t server_pin_id = 0;
  std::atomic<uint64_t>* server_pin = nullptr;
  {
    absl::MutexLock lock(&call->mu);
    if (call->finished) return;
    // The untried replicas from `start` on, healthy ones first.
    const size_t start =
        options_.prefer_one_replica
            ? shard.next.load(std::memory_order_relaxed)
            : shard.next.fetch_add(1, std::memory_order_relaxed);
    const absl::Time now = absl::Now();
    for (int pass = 0; pass < 2 && chosen == replicas; ++pass) {
      for (size_t k = 0; k < replicas; ++k) {
        const size_t r = (start + k) % replicas;
        if (call->tried[r]) continue;
        if (pass == 0 && !shard.replicas[r]->Healthy(now)) continue;
        if (call->pin != nullptr) {
          // Read once: what is sent is what was checked (pin_id 0 would
          // quietly read the active version).
          std::atomic<uint64_t>& pinned =
              call->pin->shards[call->shard_index].server_pins[r];
          server_pin_id = pinned.load();
          if (server_pin_id == 0) {
            call->tried[r] = true;
            call->AddFailure(
                shard.replicas[r]->address,
                absl::NotFoundError(
                    "it does not hold the sharded pin (down when pinned, "
                    "restarted since, or it expired there unused)"));
            continue;
          }
          server_pin = &pinned;
        }
        chosen = r;
        break;
      }
    }
    if (chosen == replicas) return;  // Every replica is tried or in flight.
    call->tried[chosen] = true;
    ++call->holds;
  }
  Replica& replica = *shard.replicas[chosen];
  const uint32_t row_bytes = call->fanout->format.row_bytes;
  // Rows arrive in an attempt's own buffer: a hedge may race it.
  auto rows = std::make_shared<std::string>(call->ids.size() * row_bytes, '\0');
  LookupOptions pinned_options;
  if (server_pin != nullptr) {
    pinned_options = call->options;
    pinned_options.pin_id = server_pin_id;
  }
  {
    absl::MutexLock lock(&attempts_mu_);
    ++attempts_in_flight_;
  }
  replica.client->LookupAsync(
      call->table, call->ids, absl::MakeSpan(rows->data(), rows->size()),
      server_pin != nullptr ? pinned_options : call->options,
      [this, call, rows, &replica,
       server_pin](absl::StatusOr<LookupResult> result) {
        FinishAttempt(call, *rows, replica, server_pin, result);
        absl::MutexLock lock(&attempts_mu_);
        --attempts_in_flight_;
      });
}

void ShardedClient::Impl::FinishAttempt(
    const std::shared_ptr<ShardCall>& call, const std::string& rows,
    Replica& replica, std::atomic<uint64_t>* server_pin,
    const absl::StatusOr<LookupResult>& result) {
  bool retry = false;
  {
    absl::MutexLock lock(&call->mu);
    if (call->finished) {
      --call->holds;
      if (result.ok()) MarkSucceeded(replica);
      return;
    }
    // NOT_FOUND through a pin: this replica lost it (restarted, or it
    // expired there unused); a sibling may still hold it.
    retry = !result.ok() &&
            (IsRetryable(result.status()) ||
             (server_pin != nullptr && absl::IsNotFound(result.status())));
    if (retry) {
      // The attempt keeps its hold until the retry is started.
      call->AddFailure(replica.address, result.status());
    } else {
      --call->holds;
      call->finished = true;
    }
  }
  if (retry) {
    if (IsRetryable(result.status())) {
      MarkFailed(replica);
    } else {
      // The replica is fine, only without the pin: later lookups through
      // the pin skip it.
      server_pin->store(0);
    }
    StartAttempt(call);
    Release(call);
    return;
  }
  if (result.ok()) {
    MarkSucceeded(replica);
    const uint32_t bytes = call->fanout->format.row_bytes;
    if (absl::Status shape =
            CheckRowFormat(call->table, *result, call->fanout->format);
        !shape.ok()) {
      return Complete(*call, shape);
    }
    for (size_t i = 0; i < call->positions.size(); ++i) {
      std::memcpy(
          call->fanout->out.data() + uint64_t{call->positions[i]} * bytes,
          rows.data() + i * bytes, bytes);
    }
    if (!result->missing.empty()) MarkMissing(*call, *result);
  }
  Complete(*call, result);
}

void ShardedClient::Impl::MarkMissing(ShardCall& call,
                                      const LookupResult& result) {
  Fanout& fanout = *call.fanout;
  absl::MutexLock lock(&fanout.mu);
  for (size_t i = 0; i < call.positions.size(); ++i) {
    if (!result.is_missing(i)) continue;
    const uint32_t position = call.positions[i];
    fanout.missing.resize((fanout.row_count + 7) / 8, '\0');
    fanout.missing[position / 8] |= static_cast<char>(1 << (position % 8));
  }
}

void ShardedClient::Impl::Release(const std::shared_ptr<ShardCall>& call) {
  absl::Status failed;
  {
    absl::MutexLock lock(&call->mu);
    if (--call->holds > 0 || call->finished) return;
    call->finished = true;
    failed = absl::Status(
        call->failure_code,
        absl::StrCat("no replica of ", call->shard->Name(call->table),
                     " answered: ", call->failures));
  }
  Complete(*call, failed);
}

void ShardedClient::Impl::Complete(ShardCall& call,
                                   const absl::StatusOr<LookupResult>& result) {
  Fanout& fanout = *call.fanout;
  if (!result.ok() && !IsRetryable(result.status())) {
    // The table may have been dropped and imported again in another
    // format: the next lookup asks a replica for it.
    absl::MutexLock lock(&fanout.table->layout_mu);
    fanout.table->layout.reset();
  }
  {
    absl::MutexLock lock(&fanout.mu);
    if (!result.ok() && fanout.first_error.ok()) {
      fanout.first_error = result.status();
    }
    if (result.ok() && call.shard_index < fanout.version_shard) {
      fanout.version = result->version;
      fanout.version_shard = call.shard_index;
    }
  }
  if (fanout.pending.fetch_sub(1) != 1) return;
  absl::StatusOr<LookupResult> whole;
  {
    absl::MutexLock lock(&fanout.mu);
    whole = fanout.first_error.ok()
                ? absl::StatusOr<LookupResult>(LookupResult{
                      fanout.version, fanout.format.row_bytes, fanout.row_count,
                      std::move(fanout.missing), fanout.format.element_type})
                : fanout.first_error;
  }
  LookupCallback done = std::move(fanout.done);
  std::move(done)(std::move(whole));
}

absl::StatusOr<std::unique_ptr<ShardedClient>> ShardedClient::Create(
    ShardMap map, const ShardedClientOptions& options) {
  absl::flat_hash_map<std::string, std::unique_ptr<TableState>> tables;
  std::mt19937 random(std::random_device{}());
  for (auto& [name, shards] : map) {
    auto table = std::make_unique<TableState>();
    table->rows = shards.rows;
    for (Shard& shard : shards.shards) {
      if (shard.replicas.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("shard [", shard.first_row, ", ", shard.end_row,
                         ") of table '", name, "' has no replica"));
      }
      auto state = std::make_unique<ShardState>();
      state->first_row = shard.first_row;
      state->end_row = shard.end_row;
      state->next = random() % shard.replicas.size();
      for (std::string& address : shard.replicas) {
        ClientOptions replica_options = options.client;
        replica_options.server_address = address;
        replica_options.default_timeout = options.attempt_timeout;
        auto replica = std::make_unique<Replica>();
        replica->address = std::move(address);
        ENGRAM_ASSIGN_OR_RETURN(replica->client,
                                EngramClient::Create(replica_options));
        if (options.wrap_replica) {
          ENGRAM_ASSIGN_OR_RETURN(
              replica->client,
              options.wrap_replica(std::move(replica->client)));
        }
        state->replicas.push_back(std::move(replica));
      }
      table->shards.push_back(std::move(state));
    }
    tables.emplace(name, std::move(table));
  }
  // wrap_replica's captures need not outlive Create.
  ShardedClientOptions kept = options;
  kept.wrap_replica = nullptr;
  return std::unique_ptr<ShardedClient>(
      new ShardedClient(std::make_unique<Impl>(kept, std::move(tables))));
}

ShardedClient::ShardedClient(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)) {}

ShardedClient::~ShardedClient() = default;

std::vector<ReplicaStats> ShardedClient::replica_stats() const {
  return impl_->Stats();
}

absl::StatusOr<std::vector<TableDescription>> ShardedClient::ListTables() {
  std::vector<TableDescription> tables;
  for (const std::string& name : impl_->TableNames()) {
    ENGRAM_ASSIGN_OR_RETURN(TableDescription table, DescribeTable(name));
    tables.push_back(std::move(table));
  }
  return tables;
}

absl::StatusOr<std::shared_ptr<const CompressionMap>>
ShardedClient::GetCompressionMap(absl::string_view table) {
  ENGRAM_ASSIGN_OR_RETURN(TableState * state, impl_->Find(table));
  return impl_->AnyClient(*state).GetCompressionMap(table);
}

absl::StatusOr<TableDescription> ShardedClient::DescribeTable(
    absl::string_view table) {
  ENGRAM_ASSIGN_OR_RETURN(TableState * state, impl_->Find(table));
  ENGRAM_ASSIGN_OR_RETURN(TableDescription description,
                          impl_->AnyClient(*state).DescribeTable(table));
  description.rows = state->rows;
  description.first_row = 0;
  description.total_rows = state->rows;
  // A sparse table is whole on each of its servers (--row-range makes only
  // dense shards), so its replica's count is the table's.
  if (description.missing_rows.empty()) description.rows_written = state->rows;
  description.content_digest.clear();
  description.stats = {};
  return description;
}

void ShardedClient::LookupAsync(absl::string_view table,
                                absl::Span<const uint64_t> ids,
                                absl::Span<char> out,
                                const LookupOptions& options,
                                LookupCallback done) {
  if (options.output_type.has_value()) {
    return std::move(done)(NotAcrossShards("a conversion"));
  }
  impl_->LookupAsync(table, ids, out, options, std::move(done));
}

absl::StatusOr<LookupResult> ShardedClient::LookupTokens(
    absl::string_view table, absl::Span<const int64_t> tokens, int batch,
    int time, absl::Span<const int32_t> lengths, absl::Span<char> out,
    const LookupOptions& options) {
  ENGRAM_ASSIGN_OR_RETURN(TableState * state, impl_->Find(table));
  ENGRAM_ASSIGN_OR_RETURN(std::shared_ptr<const TableLayout> found,
                          impl_->Layout(table, *state));
  // As the server would, but here: its tokens address every shard.
  if (found->hash_spec == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "table '", table, "' has no hash spec; look it up by row id instead"));
  }
  ENGRAM_ASSIGN_OR_RETURN(
      found, impl_->WithCompression(table, *state, std::move(found)));
  const TableLayout& layout = *found;
  std::vector<int64_t> compressed;
  if (layout.compression != nullptr) {
    compressed.assign(tokens.begin(), tokens.end());
    ENGRAM_RETURN_IF_ERROR(
        layout.compression->CompressInPlace(absl::MakeSpan(compressed)));
    tokens = compressed;
  }
  // ComputeRowIds refuses a batch and time that do not match the tokens.
  std::vector<int64_t> row_ids(tokens.size() *
                               layout.hash_spec->rows_per_token());
  ENGRAM_RETURN_IF_ERROR(ComputeRowIds(*layout.hash_spec, /*layer_index=*/0,
                                       tokens, batch, time, lengths,
                                       absl::MakeSpan(row_ids)));
  // Row ids are non-negative.
  const std::vector<uint64_t> ids(row_ids.begin(), row_ids.end());
  // Every shard checks that it is addressed by the spec used here.
  LookupOptions addressed = options;
  if (addressed.hash_spec_digest.empty()) {
    addressed.hash_spec_digest = layout.hash_spec_digest;
  }
  return Lookup(table, ids, out, addressed);
}

absl::StatusOr<VersionPin> ShardedClient::PinVersion(absl::string_view table,
                                                     uint64_t version,
                                                     absl::Duration ttl) {
  return impl_->PinVersion(table, version, ttl);
}

absl::Status ShardedClient::ReleasePin(uint64_t pin_id) {
  return impl_->ReleasePin(pin_id);
}

absl::StatusOr<std::unique_ptr<TableWatch>> ShardedClient::WatchTable(
    absl::string_view, WatchCallback) {
  return NotAcrossShards("a watch");
}

void ShardedClient::CancelControlCalls() { impl_->CancelControlCalls(); }

}  // namespace engram::client
