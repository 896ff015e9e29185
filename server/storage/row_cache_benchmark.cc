// Zipf(1.0) gathers of 4096 rows of 128 bytes from a RocksDB table four
// times the size of the RowCache in front of it, against the same gathers
// with no cache and from RAM.
//
//   row_cache_benchmark [--benchmark_filter=...] [--benchmark_min_time=2]
//
// Env: ENGRAM_BENCH_DIR (default /tmp) holds the database, removed at exit;
// ENGRAM_BENCH_CACHE_MB (default 64) sizes the row cache; the table is 4x.
// Counters: rows_per_s (rows gathered per second, all threads), hit_rate
// (row cache hits over lookups during the measured iterations), and for the
// cached runs cache_rows (RowCache::max_entries) and ideal_hit_rate (the
// Zipf mass of the cache_rows most popular rows: what an oracle holding
// exactly those would hit).
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "common/logging.h"
#include "server/storage/ram_row_store.h"
#include "server/storage/rocksdb_row_store.h"
#include "server/storage/cached_row_store.h"

namespace engram::server {
namespace {

constexpr uint32_t kRowBytes = 128;
constexpr size_t kBatch = 4096;
// 4M ids per thread: far more distinct rows than the cache holds, so that
// cycling through them is close to an endless Zipf stream.
constexpr int kBatchesPerThread = 1024;

uint64_t CacheBytes() {
  const char* mb = getenv("ENGRAM_BENCH_CACHE_MB");
  return (mb != nullptr ? std::strtoull(mb, nullptr, 10) : 64) << 20;
}
uint64_t TableRows() { return 4 * CacheBytes() / kRowBytes; }

// The Zipf(1.0) CDF over `rows` ranks, made once per size.
const std::vector<double>& ZipfCdf(uint64_t rows) {
  static absl::Mutex mu(absl::kConstInit);
  // Node-based map: references handed out stay valid.
  static auto* cdfs = new std::map<uint64_t, std::vector<double>>;
  absl::MutexLock lock(&mu);
  std::vector<double>& cdf = (*cdfs)[rows];
  if (cdf.empty()) {
    cdf.resize(rows);
    double sum = 0;
    for (uint64_t r = 0; r < rows; ++r) cdf[r] = sum += 1.0 / (r + 1);
    for (double& c : cdf) c /= sum;
  }
  return cdf;
}

// Zipf(1.0) id batches for thread `thread`, hot ids scattered over the
// table, drawn once and kept so that sampling is not timed.
const std::vector<std::string>& ZipfBatches(uint64_t rows, int thread) {
  static absl::Mutex mu(absl::kConstInit);
  // Node-based map: references handed out stay valid.
  static auto* pools =
      new std::map<std::pair<uint64_t, int>, std::vector<std::string>>;
  const std::vector<double>& cdf = ZipfCdf(rows);
  absl::MutexLock lock(&mu);
  std::vector<std::string>& batches = (*pools)[{rows, thread}];
  if (batches.empty()) {
    std::mt19937_64 rng(1000 + thread);
    std::uniform_real_distribution<double> unit(0, 1);
    batches.resize(kBatchesPerThread);
    std::vector<uint64_t> ids(kBatch);
    for (std::string& batch : batches) {
      for (uint64_t& id : ids) {
        const uint64_t rank =
            std::lower_bound(cdf.begin(), cdf.end(), unit(rng)) - cdf.begin();
        id = (std::min(rank, rows - 1) * 2654435761ull) % rows;
      }
      AppendPackedRowIds(ids, &batch);
    }
  }
  return batches;
}

char RowByte(uint64_t row, uint32_t j) {
  return static_cast<char>(row * 131 + j * 7);
}

// The table, built once: in RAM and bulk loaded into RocksDB twice (page
// cache reads and direct reads). Leaked, like the stores built on it, so
// that no benchmark thread outlives what it reads; main removes the files.
struct Fixture {
  std::string dir;
  std::shared_ptr<const RowStore> ram;
  std::unique_ptr<RowDatabase> buffered_db;
  std::unique_ptr<RowDatabase> direct_db;
  std::shared_ptr<const RowStore> buffered;
  std::shared_ptr<const RowStore> direct;
};

// The fixture's directory once made, for main to remove.
std::string* fixture_dir = nullptr;

Fixture& GetFixture() {
  static Fixture* fixture = [] {
    auto* f = new Fixture;
    const char* base = getenv("ENGRAM_BENCH_DIR");
    std::string dir = std::string(base != nullptr ? base : "/tmp") +
                      "/row_cache_benchmark.XXXXXX";
    if (mkdtemp(dir.data()) == nullptr) LOG(FATAL) << "mkdtemp " << dir;
    f->dir = dir;
    fixture_dir = &f->dir;
    const uint64_t rows = TableRows();
    auto builder = *RamRowStore::Builder::Create(rows, kRowBytes);
    for (uint64_t i = 0; i < rows; ++i) {
      for (uint32_t j = 0; j < kRowBytes; ++j) {
        builder->mutable_data()[i * kRowBytes + j] = RowByte(i, j);
      }
    }
    auto ram = std::shared_ptr<const RamRowStore>(std::move(*builder).Build());
    f->ram = ram;
    for (bool direct : {false, true}) {
      RowDatabase::Options options;
      options.path = dir + (direct ? "/direct" : "/buffered");
      // A small block cache: the row cache is the RAM tier under test.
      options.block_cache_bytes = 16 << 20;
      options.use_direct_reads = direct;
      auto db = RowDatabase::Create(options);
      if (!db.ok()) LOG(FATAL) << db.status();
      const absl::Status loaded =
          (*db)->BulkLoad("t", rows, kRowBytes, ram->data());
      if (!loaded.ok()) LOG(FATAL) << loaded;
      auto store = (*db)->OpenTable("t", rows, kRowBytes);
      if (!store.ok()) LOG(FATAL) << store.status();
      (direct ? f->direct : f->buffered) = *store;
      (direct ? f->direct_db : f->buffered_db) = std::move(*db);
    }
    LOG(INFO) << "table: " << rows << " rows x " << kRowBytes
              << " B = " << (rows * kRowBytes >> 20) << " MiB; row cache "
              << (CacheBytes() >> 20) << " MiB";
    return f;
  }();
  return *fixture;
}

}  // namespace

const std::string* FixtureDir() { return fixture_dir; }

namespace {

void RunGathers(benchmark::State& state, const RowStore& store,
                RowCache* cache) {
  const std::vector<std::string>& batches =
      ZipfBatches(store.rows(), state.thread_index());
  std::string out(kBatch * kRowBytes, '\0');
  const RowCacheStats before =
      cache != nullptr ? cache->Stats() : RowCacheStats{};
  // Threads start at different points of their streams on each run.
  size_t next =
      (state.thread_index() * 97 + state.max_iterations) % batches.size();
  for (auto _ : state) {
    const absl::Status status =
        store.Gather(PackedRowIds(batches[next]), out.data());
    if (!status.ok()) {
      state.SkipWithError(status.ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(out.data());
    next = (next + 1) % batches.size();
  }
  state.counters["rows_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * kBatch),
                         benchmark::Counter::kIsRate);
  if (cache != nullptr && state.thread_index() == 0) {
    const RowCacheStats after = cache->Stats();
    const double lookups =
        (after.hits + after.misses) - (before.hits + before.misses);
    state.counters["hit_rate"] =
        lookups > 0 ? (after.hits - before.hits) / lookups : 0;
  }
}

void BM_Ram(benchmark::State& state) {
  RunGathers(state, *GetFixture().ram, nullptr);
}

// state.range(0): 1 = direct reads.
void BM_RocksDb(benchmark::State& state) {
  Fixture& f = GetFixture();
  RunGathers(state, state.range(0) ? *f.direct : *f.buffered, nullptr);
}

// state.range(0): 1 = direct reads; state.range(1): 1 = TinyLFU admission.
// One cache per configuration, made on first use and kept warm across the
// benchmark's runs and threads.
void BM_CachedRocksDb(benchmark::State& state) {
  static absl::Mutex mu(absl::kConstInit);
  static auto* stores = new std::shared_ptr<CachedRowStore>[4];
  std::shared_ptr<CachedRowStore> store;
  {
    absl::MutexLock lock(&mu);
    std::shared_ptr<CachedRowStore>& slot =
        stores[state.range(0) * 2 + state.range(1)];
    if (slot == nullptr) {
      Fixture& f = GetFixture();
      RowCache::Options options;
      options.capacity_bytes = CacheBytes();
      options.row_bytes = kRowBytes;
      options.admission = state.range(1) ? RowCache::Admission::kFrequency
                                         : RowCache::Admission::kAlways;
      auto cache = RowCache::Create(options);
      if (!cache.ok()) LOG(FATAL) << cache.status();
      auto cached = CachedRowStore::Create(
          state.range(0) ? f.direct : f.buffered, std::move(*cache));
      if (!cached.ok()) LOG(FATAL) << cached.status();
      slot = std::move(*cached);
      // Warm up (untimed) with a quarter of thread 0's stream: 1M lookups.
      std::string out(kBatch * kRowBytes, '\0');
      const std::vector<std::string>& batches = ZipfBatches(f.ram->rows(), 0);
      for (int b = 0; b < kBatchesPerThread / 4; ++b) {
        (void)slot->Gather(PackedRowIds(batches[b]), out.data());
      }
    }
    store = slot;
  }
  RunGathers(state, *store, &store->cache());
  if (state.thread_index() == 0) {
    const uint64_t cache_rows = store->cache().max_entries();
    state.counters["cache_rows"] = static_cast<double>(cache_rows);
    state.counters["ideal_hit_rate"] =
        ZipfCdf(store->rows())[std::min(cache_rows, store->rows()) - 1];
  }
}

// The cache's own cost: nearly every lookup hits (a 256Ki-row table in a
// cache with room for twice its rows, in front of RAM; which rows share a
// set is up to the hash, so the few that find theirs full, ~0.1%, miss and
// go to RAM). state.range(0): 1 = TinyLFU admission.
void BM_CacheHitPath(benchmark::State& state) {
  constexpr uint64_t kRows = 256 << 10;
  static absl::Mutex mu(absl::kConstInit);
  static auto* stores = new std::shared_ptr<CachedRowStore>[2];
  std::shared_ptr<CachedRowStore> store;
  {
    absl::MutexLock lock(&mu);
    std::shared_ptr<CachedRowStore>& slot = stores[state.range(0)];
    if (slot == nullptr) {
      auto builder = *RamRowStore::Builder::Create(kRows, kRowBytes);
      std::memset(builder->mutable_data(), 7, kRows * kRowBytes);
      std::shared_ptr<const RowStore> ram = std::move(*builder).Build();
      RowCache::Options options;
      options.capacity_bytes =
          kRows * (kRowBytes + RowCache::kEntryOverheadBytes) * 2;
      options.row_bytes = kRowBytes;
      options.admission = state.range(0) ? RowCache::Admission::kFrequency
                                         : RowCache::Admission::kAlways;
      slot = *CachedRowStore::Create(ram, *RowCache::Create(options));
      // Load every row (twice: frequency admission wants a second look).
      std::vector<uint64_t> all(kRows);
      for (uint64_t i = 0; i < kRows; ++i) all[i] = i;
      std::string packed;
      AppendPackedRowIds(all, &packed);
      std::string out(kRows * kRowBytes, '\0');
      (void)slot->Gather(PackedRowIds(packed), out.data());
      (void)slot->Gather(PackedRowIds(packed), out.data());
    }
    store = slot;
  }
  RunGathers(state, *store, &store->cache());
}

BENCHMARK(BM_Ram)->UseRealTime()->Threads(1)->Threads(2);
BENCHMARK(BM_CacheHitPath)
    ->ArgName("tinylfu")
    ->Arg(0)
    ->Arg(1)
    ->UseRealTime()
    ->Threads(1)
    ->Threads(2);
BENCHMARK(BM_RocksDb)
    ->ArgName("direct")
    ->Arg(0)
    ->Arg(1)
    ->UseRealTime()
    ->Threads(1)
    ->Threads(2);
// One pass over each thread's stream per run: the streams repeat, so a run
// of another length, starting elsewhere, would replay more or less of what
// the cache has seen, and hit rates would not compare across builds.
BENCHMARK(BM_CachedRocksDb)
    ->ArgNames({"direct", "tinylfu"})
    ->Args({0, 0})
    ->Args({0, 1})
    ->Args({1, 1})
    ->Iterations(kBatchesPerThread)
    ->UseRealTime()
    ->Threads(1)
    ->Threads(2);

}  // namespace
}  // namespace engram::server

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  // The stores stay open (they are leaked statics), which Linux allows;
  // the files go now rather than piling up in /tmp.
  if (engram::server::FixtureDir() != nullptr) {
    std::error_code ignored;
    std::filesystem::remove_all(*engram::server::FixtureDir(), ignored);
  }
  return 0;
}
