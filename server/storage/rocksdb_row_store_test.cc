#include "server/storage/rocksdb_row_store.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rocksdb/db.h"
#include "rocksdb/status.h"
#include "server/storage/rocksdb_status.h"
#include "tests/test_processes.h"

namespace engram::server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Byte j of row i of table `seed`: a pattern that differs per row, byte and
// table, so misplaced or cross-table rows show.
char PatternByte(uint64_t row, uint32_t j, uint32_t seed) {
  return static_cast<char>((row * 2654435761u) ^ (j * 31) ^ (seed * 97));
}

std::string PatternRows(uint64_t rows, uint32_t row_bytes, uint32_t seed) {
  std::string data(rows * row_bytes, '\0');
  for (uint64_t i = 0; i < rows; ++i) {
    for (uint32_t j = 0; j < row_bytes; ++j) {
      data[i * row_bytes + j] = PatternByte(i, j, seed);
    }
  }
  return data;
}

std::string Pack(const std::vector<uint64_t>& ids) {
  std::string packed;
  AppendPackedRowIds(ids, &packed);
  return packed;
}

// Gathers `ids` and checks every byte against the pattern.
void ExpectRows(const RowStore& store, const std::vector<uint64_t>& ids,
                uint32_t seed) {
  const uint32_t row_bytes = store.row_bytes();
  const std::string packed = Pack(ids);
  std::string out(ids.size() * row_bytes, '\0');
  const absl::Status status = store.Gather(PackedRowIds(packed), out.data());
  ASSERT_TRUE(status.ok()) << status;
  for (size_t i = 0; i < ids.size(); ++i) {
    for (uint32_t j = 0; j < row_bytes; ++j) {
      ASSERT_EQ(out[i * row_bytes + j], PatternByte(ids[i], j, seed))
          << "position " << i << " row " << ids[i] << " byte " << j;
    }
  }
}

RowDatabase::Options SmallOptions(const std::string& path) {
  RowDatabase::Options options;
  options.path = path;
  options.block_cache_bytes = 4 << 20;
  // Small files so that the tests cover loads spanning several SST files.
  options.sst_file_bytes = 1 << 20;
  return options;
}

std::unique_ptr<RowDatabase> MustCreate(const RowDatabase::Options& options) {
  absl::StatusOr<std::unique_ptr<RowDatabase>> db =
      RowDatabase::Create(options);
  EXPECT_TRUE(db.ok()) << db.status();
  return db.ok() ? std::move(*db) : nullptr;
}

TEST(RocksDbStatusTest, MapsCodesByMeaning) {
  EXPECT_TRUE(FromRocksDbStatus(rocksdb::Status::OK(), "x").ok());
  const absl::Status not_found =
      FromRocksDbStatus(rocksdb::Status::NotFound("key"), "reading");
  EXPECT_EQ(not_found.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(not_found.message()), HasSubstr("reading: "));
  EXPECT_EQ(FromRocksDbStatus(rocksdb::Status::Corruption("bad")).code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(FromRocksDbStatus(rocksdb::Status::NoSpace("full")).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(FromRocksDbStatus(rocksdb::Status::IOError("disk")).code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(FromRocksDbStatus(rocksdb::Status::Busy()).code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(FromRocksDbStatus(rocksdb::Status::InvalidArgument("x")).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RowDatabaseTest, GathersRandomIdsWithDuplicatesAcrossSstFiles) {
  testing::TempDir dir;
  auto db = MustCreate(SmallOptions(dir.path() + "/db"));
  ASSERT_NE(db, nullptr);
  // 20000 x 100 B = 2 MB: at least two 1 MiB SST files.
  constexpr uint64_t kRows = 20000;
  constexpr uint32_t kRowBytes = 100;
  const std::string data = PatternRows(kRows, kRowBytes, 1);
  std::vector<uint64_t> progress;
  BulkLoadOptions load;
  load.chunk_rows = 7000;
  load.progress = [&](uint64_t done, uint64_t total) {
    EXPECT_EQ(total, kRows);
    progress.push_back(done);
  };
  ASSERT_TRUE(db->BulkLoad("t", kRows, kRowBytes, data.data(), load).ok());
  EXPECT_THAT(progress, ElementsAre(7000, 14000, 20000));

  absl::StatusOr<std::shared_ptr<const RowStore>> store =
      db->OpenTable("t", kRows, kRowBytes);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->rows(), kRows);
  EXPECT_EQ((*store)->row_bytes(), kRowBytes);

  std::mt19937_64 rng(42);
  for (size_t batch : {size_t{1}, size_t{7}, size_t{300}, size_t{5000}}) {
    std::vector<uint64_t> ids(batch);
    for (uint64_t& id : ids) id = rng() % kRows;
    // Duplicates, adjacent and apart, and the table's ends.
    if (batch > 2) {
      ids[1] = ids[0];
      ids[batch - 1] = ids[0];
    }
    if (batch > 4) {
      ids[2] = 0;
      ids[3] = kRows - 1;
    }
    ExpectRows(**store, ids, 1);
  }
  // Already sorted input takes the no-sort path.
  ExpectRows(**store, {0, 1, 1, 2, 9999, 19999}, 1);
  // Empty batch.
  EXPECT_TRUE((*store)->Gather(PackedRowIds(""), nullptr).ok());
}

TEST(RowDatabaseTest, ReopensWithItsTables) {
  testing::TempDir dir;
  const RowDatabase::Options options = SmallOptions(dir.path() + "/db");
  constexpr uint64_t kRows = 5000;
  {
    auto db = MustCreate(options);
    ASSERT_NE(db, nullptr);
    const std::string data = PatternRows(kRows, 64, 3);
    ASSERT_TRUE(db->BulkLoad("kept", kRows, 64, data.data()).ok());
  }
  auto db = MustCreate(options);
  ASSERT_NE(db, nullptr);
  const std::vector<RowDatabase::TableInfo> tables = db->ListTables();
  ASSERT_EQ(tables.size(), 1u);
  EXPECT_EQ(tables[0].name, "kept");
  EXPECT_EQ(tables[0].rows, kRows);
  EXPECT_EQ(tables[0].row_bytes, 64u);
  absl::StatusOr<std::shared_ptr<const RowStore>> store =
      db->OpenTable("kept", kRows, 64);
  ASSERT_TRUE(store.ok()) << store.status();
  ExpectRows(**store, {4999, 0, 1234, 1234, 77}, 3);

  // The caller's idea of the shape must match the stored one.
  EXPECT_EQ(db->OpenTable("kept", kRows + 1, 64).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(db->OpenTable("kept", kRows, 32).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(RowDatabaseTest, StoresOutliveTheDatabaseObject) {
  testing::TempDir dir;
  std::shared_ptr<const RowStore> store;
  {
    auto db = MustCreate(SmallOptions(dir.path() + "/db"));
    ASSERT_NE(db, nullptr);
    const std::string data = PatternRows(100, 16, 4);
    ASSERT_TRUE(db->BulkLoad("t", 100, 16, data.data()).ok());
    store = *db->OpenTable("t", 100, 16);
  }
  ExpectRows(*store, {99, 3, 3}, 4);
  // The instance is still open, so a second one cannot take the lock.
  EXPECT_FALSE(RowDatabase::Create(SmallOptions(dir.path() + "/db")).ok());
  store.reset();
  EXPECT_NE(MustCreate(SmallOptions(dir.path() + "/db")), nullptr);
}

TEST(RowDatabaseTest, TablesInSeparateColumnFamiliesDoNotInterfere) {
  testing::TempDir dir;
  auto db = MustCreate(SmallOptions(dir.path() + "/db"));
  ASSERT_NE(db, nullptr);
  const std::string a = PatternRows(3000, 32, 10);
  const std::string b = PatternRows(1000, 48, 20);
  ASSERT_TRUE(db->BulkLoad("a", 3000, 32, a.data()).ok());
  ASSERT_TRUE(db->BulkLoad("b", 1000, 48, b.data()).ok());
  auto store_a = db->OpenTable("a", 3000, 32);
  auto store_b = db->OpenTable("b", 1000, 48);
  ASSERT_TRUE(store_a.ok() && store_b.ok());
  ExpectRows(**store_a, {0, 999, 2999, 500}, 10);
  ExpectRows(**store_b, {0, 999, 500}, 20);
  // Row 2999 exists only in a.
  const std::string packed = Pack({2999});
  std::string out(48, '\0');
  EXPECT_EQ((*store_b)->Gather(PackedRowIds(packed), out.data()).code(),
            absl::StatusCode::kNotFound);

  std::vector<std::string> names;
  for (const auto& table : db->ListTables()) names.push_back(table.name);
  EXPECT_THAT(names, ElementsAre("a", "b"));
}

TEST(RowDatabaseTest, MissingRowIsNotFoundNamingIt) {
  testing::TempDir dir;
  auto db = MustCreate(SmallOptions(dir.path() + "/db"));
  ASSERT_NE(db, nullptr);
  const std::string data = PatternRows(10, 8, 5);
  ASSERT_TRUE(db->BulkLoad("t", 10, 8, data.data()).ok());
  auto store = db->OpenTable("t", 10, 8);
  ASSERT_TRUE(store.ok());
  const std::string packed = Pack({3, 123456789, 4});
  std::string out(3 * 8, '\0');
  const absl::Status status =
      (*store)->Gather(PackedRowIds(packed), out.data());
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(status.message()), HasSubstr("123456789"));
  EXPECT_EQ(db->OpenTable("nope", 10, 8).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(RowDatabaseTest, BulkLoadChecksItsInputs) {
  testing::TempDir dir;
  auto db = MustCreate(SmallOptions(dir.path() + "/db"));
  ASSERT_NE(db, nullptr);
  const std::string data = PatternRows(10, 8, 6);
  ASSERT_TRUE(db->BulkLoad("t", 10, 8, data.data()).ok());
  EXPECT_EQ(db->BulkLoad("t", 10, 8, data.data()).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(db->BulkLoad("bad/name", 10, 8, data.data()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(db->BulkLoad("zero", 10, 0, data.data()).code(),
            absl::StatusCode::kInvalidArgument);

  // A source returning the wrong size, or failing, leaves nothing behind.
  auto short_source = [&](uint64_t,
                          uint64_t) -> absl::StatusOr<absl::string_view> {
    return absl::string_view(data.data(), 3);
  };
  EXPECT_EQ(db->BulkLoad("short", 10, 8, short_source).code(),
            absl::StatusCode::kInvalidArgument);
  auto failing_source =
      [&](uint64_t first, uint64_t count) -> absl::StatusOr<absl::string_view> {
    if (first > 0) return absl::DataLossError("source broke");
    return absl::string_view(data.data(), count * 8);
  };
  BulkLoadOptions load;
  load.chunk_rows = 4;
  EXPECT_EQ(db->BulkLoad("broken", 10, 8, failing_source, load).code(),
            absl::StatusCode::kDataLoss);
  std::atomic<bool> cancel{true};
  load.cancel = &cancel;
  EXPECT_EQ(db->BulkLoad("cancelled", 10, 8, data.data(), load).code(),
            absl::StatusCode::kCancelled);
  ASSERT_EQ(db->ListTables().size(), 1u);
  // The failed names are free again.
  load.cancel = nullptr;
  EXPECT_TRUE(db->BulkLoad("broken", 10, 8, data.data(), load).ok());
}

TEST(RowDatabaseTest, EmptyTable) {
  testing::TempDir dir;
  auto db = MustCreate(SmallOptions(dir.path() + "/db"));
  ASSERT_NE(db, nullptr);
  ASSERT_TRUE(
      db->BulkLoad("empty", 0, 8, static_cast<const char*>(nullptr)).ok());
  auto store = db->OpenTable("empty", 0, 8);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_TRUE((*store)->Gather(PackedRowIds(""), nullptr).ok());
}

TEST(RowDatabaseTest, DropTableKeepsOpenStoresReadableAndFreesTheName) {
  testing::TempDir dir;
  const RowDatabase::Options options = SmallOptions(dir.path() + "/db");
  auto db = MustCreate(options);
  ASSERT_NE(db, nullptr);
  const std::string v1 = PatternRows(500, 16, 7);
  const std::string v2 = PatternRows(200, 16, 8);
  ASSERT_TRUE(db->BulkLoad("t", 500, 16, v1.data()).ok());
  auto old_store = db->OpenTable("t", 500, 16);
  ASSERT_TRUE(old_store.ok());

  ASSERT_TRUE(db->DropTable("t").ok());
  EXPECT_EQ(db->DropTable("t").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(db->OpenTable("t", 500, 16).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(db->ListTables().empty());
  // Readers that had the table keep reading it.
  ExpectRows(**old_store, {499, 0, 17}, 7);

  // The name can be loaded again, with other contents.
  ASSERT_TRUE(db->BulkLoad("t", 200, 16, v2.data()).ok());
  auto new_store = db->OpenTable("t", 200, 16);
  ASSERT_TRUE(new_store.ok());
  ExpectRows(**new_store, {199, 0, 17}, 8);
  ExpectRows(**old_store, {499, 0, 17}, 7);

  old_store->reset();
  new_store->reset();
  db.reset();
  db = MustCreate(options);
  ASSERT_NE(db, nullptr);
  ASSERT_EQ(db->ListTables().size(), 1u);
  EXPECT_EQ(db->ListTables()[0].rows, 200u);
}

// A crash between creating a table's column family and writing its metadata
// leaves a column family without metadata (and maybe staged SST files);
// Create drops both.
TEST(RowDatabaseTest, DropsUnfinishedLoadsOnOpen) {
  testing::TempDir dir;
  const RowDatabase::Options options = SmallOptions(dir.path() + "/db");
  {
    auto db = MustCreate(options);
    ASSERT_NE(db, nullptr);
    const std::string data = PatternRows(10, 8, 13);
    ASSERT_TRUE(db->BulkLoad("done", 10, 8, data.data()).ok());
  }
  {
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {
        {rocksdb::kDefaultColumnFamilyName, {}}, {"table:done", {}}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), options.path, families,
                                  &handles, &raw)
                    .ok());
    rocksdb::ColumnFamilyHandle* ghost = nullptr;
    ASSERT_TRUE(raw->CreateColumnFamily(rocksdb::ColumnFamilyOptions(),
                                        "table:ghost", &ghost)
                    .ok());
    handles.push_back(ghost);
    for (rocksdb::ColumnFamilyHandle* handle : handles) {
      ASSERT_TRUE(raw->DestroyColumnFamilyHandle(handle).ok());
    }
    delete raw;
  }
  std::filesystem::create_directories(options.path + "/bulk-load/ghost.0");

  auto db = MustCreate(options);
  ASSERT_NE(db, nullptr);
  ASSERT_EQ(db->ListTables().size(), 1u);
  EXPECT_EQ(db->ListTables()[0].name, "done");
  EXPECT_FALSE(std::filesystem::exists(options.path + "/bulk-load"));
  const std::string data = PatternRows(10, 8, 14);
  EXPECT_TRUE(db->BulkLoad("ghost", 10, 8, data.data()).ok());
  ExpectRows(**db->OpenTable("done", 10, 8), {9, 0}, 13);
}

TEST(RowDatabaseTest, ConcurrentReaders) {
  testing::TempDir dir;
  auto db = MustCreate(SmallOptions(dir.path() + "/db"));
  ASSERT_NE(db, nullptr);
  constexpr uint64_t kRows = 10000;
  const std::string data = PatternRows(kRows, 32, 9);
  ASSERT_TRUE(db->BulkLoad("t", kRows, 32, data.data()).ok());
  auto store = db->OpenTable("t", kRows, 32);
  ASSERT_TRUE(store.ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(t);
      for (int round = 0; round < 20; ++round) {
        std::vector<uint64_t> ids(256);
        for (uint64_t& id : ids) id = rng() % kRows;
        ExpectRows(**store, ids, 9);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
}

TEST(RowDatabaseTest, RejectsBadOptions) {
  testing::TempDir dir;
  auto expect_invalid = [](const RowDatabase::Options& options) {
    EXPECT_EQ(RowDatabase::Create(options).status().code(),
              absl::StatusCode::kInvalidArgument);
  };
  RowDatabase::Options options = SmallOptions(dir.path() + "/db");
  options.path = "";
  expect_invalid(options);
  options = SmallOptions(dir.path() + "/db");
  options.block_cache_bytes = 0;
  expect_invalid(options);
  options = SmallOptions(dir.path() + "/db");
  options.block_size = 100;
  expect_invalid(options);
  options = SmallOptions(dir.path() + "/db");
  options.bloom_bits_per_key = -1;
  expect_invalid(options);
  options = SmallOptions(dir.path() + "/db");
  options.sst_file_bytes = 1000;
  expect_invalid(options);
  options = SmallOptions(dir.path() + "/db");
  options.compression = RowDatabase::Compression::kLz4;  // With align_blocks.
  expect_invalid(options);
  options = SmallOptions(dir.path() + "/db");
  options.max_background_jobs = 0;
  expect_invalid(options);

  // A database that is not there, when told not to create one.
  options = SmallOptions(dir.path() + "/missing");
  options.create_if_missing = false;
  EXPECT_FALSE(RowDatabase::Create(options).ok());
}

TEST(RowDatabaseTest, NonDefaultTuningReadsBack) {
  testing::TempDir dir;
  RowDatabase::Options options = SmallOptions(dir.path() + "/db");
  options.align_blocks = false;
  options.compression = RowDatabase::Compression::kLz4;
  options.bloom_bits_per_key = 10;
  options.block_size = 16 << 10;
  auto db = MustCreate(options);
  ASSERT_NE(db, nullptr);
  const std::string data = PatternRows(4000, 128, 11);
  ASSERT_TRUE(db->BulkLoad("t", 4000, 128, data.data()).ok());
  auto store = db->OpenTable("t", 4000, 128);
  ASSERT_TRUE(store.ok());
  ExpectRows(**store, {3999, 0, 2000, 2000, 1}, 11);
}

TEST(RowDatabaseTest, DirectReads) {
  testing::TempDir dir;
  RowDatabase::Options options = SmallOptions(dir.path() + "/db");
  options.use_direct_reads = true;
  absl::StatusOr<std::unique_ptr<RowDatabase>> db =
      RowDatabase::Create(options);
  ASSERT_TRUE(db.ok()) << db.status();
  const std::string data = PatternRows(3000, 128, 12);
  ASSERT_TRUE((*db)->BulkLoad("t", 3000, 128, data.data()).ok());
  auto store = (*db)->OpenTable("t", 3000, 128);
  ASSERT_TRUE(store.ok());
  const std::string packed = Pack({0});
  std::string out(128, '\0');
  const absl::Status status =
      (*store)->Gather(PackedRowIds(packed), out.data());
  if (!status.ok()) {
    // tmpfs and some overlay filesystems refuse O_DIRECT.
    GTEST_SKIP() << "no direct I/O on " << dir.path() << ": " << status;
  }
  ExpectRows(**store, {2999, 0, 1500, 1500}, 12);
}

}  // namespace
}  // namespace engram::server

namespace engram::server {
namespace {

TEST(RowDatabaseTest, SparseLoadsStoreOnlyTheirRowsAndReportTheRest) {
  testing::TempDir dir;
  const RowDatabase::Options options = SmallOptions(dir.path() + "/db");
  {
    auto db = MustCreate(options);
    ASSERT_NE(db, nullptr);
    auto loader = *db->BeginLoad("s", 1000, 4);
    EXPECT_EQ(db->BeginLoad("s", 10, 4).status().code(),
              absl::StatusCode::kAlreadyExists);
    ASSERT_TRUE(loader->Add(10, "aaaabbbb", 2).ok());
    ASSERT_TRUE(loader->Add(500, "cccc", 1).ok());
    EXPECT_EQ(loader->Add(400, "dddd", 1).code(),
              absl::StatusCode::kInvalidArgument);  // Backwards.
    EXPECT_EQ(loader->Add(1000, "dddd", 1).code(),
              absl::StatusCode::kInvalidArgument);  // Past the end.
    ASSERT_TRUE(loader->Commit().ok());
  }
  auto db = MustCreate(options);
  ASSERT_NE(db, nullptr);
  ASSERT_EQ(db->ListTables().size(), 1);
  EXPECT_EQ(db->ListTables()[0].rows_stored, 3);
  auto store = *db->OpenTable("s", 1000, 4, /*sparse=*/true);
  EXPECT_EQ(store->Stats().rows_on_ssd, 3);
  std::string ids;
  AppendPackedRowIds({11, 12, 500, 10}, &ids);
  std::string out(16, '?');
  MissingRows missing(4);
  ASSERT_TRUE(store->GatherSparse(PackedRowIds(ids), out.data(), missing).ok());
  EXPECT_EQ(out, std::string("bbbb") + std::string(4, '\0') + "ccccaaaa");
  EXPECT_FALSE(missing.Get(0));
  EXPECT_TRUE(missing.Get(1));
  EXPECT_FALSE(missing.Get(2));
  // Opened as dense, an absent row is an error.
  auto dense = *db->OpenTable("s", 1000, 4);
  EXPECT_EQ(dense->Gather(PackedRowIds(ids), out.data()).code(),
            absl::StatusCode::kNotFound);
}

TEST(RowDatabaseTest, AbandonedLoaderLeavesNothing) {
  testing::TempDir dir;
  auto db = MustCreate(SmallOptions(dir.path() + "/db"));
  ASSERT_NE(db, nullptr);
  {
    auto loader = *db->BeginLoad("gone", 10, 4);
    ASSERT_TRUE(loader->Add(0, "aaaa", 1).ok());
  }
  EXPECT_TRUE(db->ListTables().empty());
  const std::string staging = dir.path() + "/db/bulk-load";
  EXPECT_TRUE(!std::filesystem::exists(staging) ||
              std::filesystem::is_empty(staging));
  EXPECT_TRUE(db->BeginLoad("gone", 10, 4).ok());
}

}  // namespace
}  // namespace engram::server
