#include "server/versions/version_store.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/packed_row_ids.h"
#include "common/status_macros.h"
#include "rocksdb/convenience.h"
#include "rocksdb/options.h"
#include "rocksdb/sst_file_writer.h"
#include "rocksdb/write_batch.h"
#include "server/storage/rocksdb_status.h"

namespace engram::server {
namespace {

constexpr char kNextPatchKey[] = "n";
constexpr char kPatchPrefix = 'p';
constexpr char kChunkPrefix = 'c';
constexpr char kVersionPrefix = 'v';
constexpr char kActivePrefix = 'a';
// Files of patch rows between their writing and their ingestion.
constexpr char kStagedFilePrefix[] = "staged-patch-";
constexpr char kStagedFileSuffix[] = ".sst";

void AppendBigEndian(uint64_t value, std::string* key) {
  const uint64_t big_endian = __builtin_bswap64(value);
  key->append(reinterpret_cast<const char*>(&big_endian), sizeof(big_endian));
}

uint64_t ReadBigEndian(absl::string_view bytes) {
  uint64_t big_endian;
  std::memcpy(&big_endian, bytes.data(), sizeof(big_endian));
  return __builtin_bswap64(big_endian);
}

std::string PatchKey(uint64_t patch_id) {
  std::string key(1, kPatchPrefix);
  AppendBigEndian(patch_id, &key);
  return key;
}

std::string ChunkKey(uint64_t patch_id, uint64_t seq) {
  std::string key(1, kChunkPrefix);
  AppendBigEndian(patch_id, &key);
  AppendBigEndian(seq, &key);
  return key;
}

// Adds the deletion of a patch's record and rows to `batch`.
void AddPatchDeletion(uint64_t patch_id, rocksdb::WriteBatch& batch) {
  batch.Delete(PatchKey(patch_id));
  batch.DeleteRange(ChunkKey(patch_id, 0), ChunkKey(patch_id + 1, 0));
}

std::string VersionKey(absl::string_view table, uint64_t version) {
  std::string key =
      absl::StrCat(std::string(1, kVersionPrefix), table, std::string(1, '\0'));
  AppendBigEndian(version, &key);
  return key;
}

std::string ActiveKey(absl::string_view table) {
  return absl::StrCat(std::string(1, kActivePrefix), table);
}

rocksdb::Slice ToSlice(absl::string_view bytes) {
  return rocksdb::Slice(bytes.data(), bytes.size());
}

absl::string_view ToView(const rocksdb::Slice& slice) {
  return absl::string_view(slice.data(), slice.size());
}

// Calls `each` with the value of every key starting with `prefix`, in key
// order, until it fails.
template <typename Fn>
absl::Status ScanPrefix(rocksdb::DB& db, absl::string_view prefix, Fn each) {
  std::unique_ptr<rocksdb::Iterator> it(db.NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(ToSlice(prefix));
       it->Valid() && it->key().starts_with(ToSlice(prefix)); it->Next()) {
    ENGRAM_RETURN_IF_ERROR(each(ToView(it->key()), ToView(it->value())));
  }
  return FromRocksDbStatus(it->status(), "scanning the control store");
}

template <typename Message>
absl::StatusOr<Message> ParseRecord(absl::string_view bytes,
                                    absl::string_view what) {
  Message message;
  if (!message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::DataLossError(
        absl::StrCat("control store: unreadable record of ", what));
  }
  return message;
}

}  // namespace

absl::StatusOr<std::unique_ptr<VersionStore>> VersionStore::Open(
    const std::string& path) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("creating ", path, ": ", error.message()));
  }
  rocksdb::Options options;
  options.create_if_missing = true;
  // Patch rows are quantised embeddings, close to random bytes.
  options.compression = rocksdb::kNoCompression;
  rocksdb::DB* db = nullptr;
  ENGRAM_RETURN_IF_ERROR(
      FromRocksDbStatus(rocksdb::DB::Open(options, path, &db),
                        absl::StrCat("opening the control store ", path)));
  // Patch files a crash left before their ingestion.
  for (const auto& entry : std::filesystem::directory_iterator(path, error)) {
    const std::string name = entry.path().filename().string();
    if (absl::StartsWith(name, kStagedFilePrefix) &&
        absl::EndsWith(name, kStagedFileSuffix)) {
      std::filesystem::remove(entry.path(), error);
    }
  }
  std::unique_ptr<VersionStore> store(
      new VersionStore(path, std::unique_ptr<rocksdb::DB>(db)));
  ENGRAM_RETURN_IF_ERROR(store->DiscardUnfinished());
  return store;
}

VersionStore::~VersionStore() {
  // Flushes nothing: every acknowledged change is in the WAL already.
  const rocksdb::Status status = db_->Close();
  if (!status.ok())
    LOG(WARNING) << "closing the control store: " << status.ToString();
}

absl::Status VersionStore::Write(rocksdb::WriteBatch& batch, bool sync,
                                 absl::string_view what) {
  rocksdb::WriteOptions options;
  options.sync = sync;
  return FromRocksDbStatus(db_->Write(options, &batch),
                           absl::StrCat("control store: ", what));
}

absl::Status VersionStore::DiscardUnfinished() {
  std::vector<v1::PatchInfo> unfinished;
  ENGRAM_RETURN_IF_ERROR(ScanPrefix(
      *db_, std::string(1, kPatchPrefix),
      [&](absl::string_view, absl::string_view value) -> absl::Status {
        ENGRAM_ASSIGN_OR_RETURN(v1::PatchInfo patch,
                                ParseRecord<v1::PatchInfo>(value, "a patch"));
        if (!patch.committed()) unfinished.push_back(std::move(patch));
        return absl::OkStatus();
      }));
  for (const v1::PatchInfo& patch : unfinished) {
    ENGRAM_RETURN_IF_ERROR(DeletePatch(patch.patch_id()));
  }
  discarded_ = std::move(unfinished);
  return absl::OkStatus();
}

absl::StatusOr<v1::PatchInfo> VersionStore::CreatePatch(v1::PatchInfo info) {
  std::string next;
  const rocksdb::Status read =
      db_->Get(rocksdb::ReadOptions(), kNextPatchKey, &next);
  if (!read.IsNotFound()) {
    ENGRAM_RETURN_IF_ERROR(
        FromRocksDbStatus(read, "control store: reading the next patch id"));
  }
  const uint64_t patch_id = next.size() == 8 ? ReadBigEndian(next) : 1;
  info.set_patch_id(patch_id);
  std::string following;
  AppendBigEndian(patch_id + 1, &following);
  rocksdb::WriteBatch batch;
  batch.Put(kNextPatchKey, following);
  batch.Put(PatchKey(patch_id), info.SerializeAsString());
  ENGRAM_RETURN_IF_ERROR(Write(batch, /*sync=*/true, "creating a patch"));
  return info;
}

absl::Status VersionStore::UpdatePatch(const v1::PatchInfo& info) {
  rocksdb::WriteBatch batch;
  batch.Put(PatchKey(info.patch_id()), info.SerializeAsString());
  return Write(batch, /*sync=*/false, "updating a patch");
}

absl::Status VersionStore::WriteRows(const PatchRows& rows) {
  const std::string path = absl::StrCat(path_, "/", kStagedFilePrefix,
                                        rows.patch_id(), kStagedFileSuffix);
  rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), db_->GetOptions());
  ENGRAM_RETURN_IF_ERROR(FromRocksDbStatus(
      writer.Open(path), "control store: creating a patch file"));
  // Whatever happens next, the file goes: ingestion moves it away.
  absl::Cleanup remove = [&path] {
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
  };
  uint64_t seq = 0;
  for (const PatchChunk& chunk : rows.chunks()) {
    std::string value(sizeof(uint64_t), '\0');
    const uint64_t ids_bytes = chunk.ids.size();
    std::memcpy(value.data(), &ids_bytes, sizeof(ids_bytes));
    value.append(chunk.ids);
    value.append(chunk.rows);
    ENGRAM_RETURN_IF_ERROR(
        FromRocksDbStatus(writer.Put(ChunkKey(rows.patch_id(), seq++), value),
                          "control store: writing a patch file"));
  }
  ENGRAM_RETURN_IF_ERROR(FromRocksDbStatus(
      writer.Finish(), "control store: writing a patch file"));
  rocksdb::IngestExternalFileOptions ingest;
  ingest.move_files = true;
  return FromRocksDbStatus(db_->IngestExternalFile({path}, ingest),
                           "control store: storing patch rows");
}

absl::Status VersionStore::CommitPatch(const v1::PatchInfo& patch,
                                       const PatchRows& rows,
                                       const v1::VersionInfo& version) {
  // Rows first (an unreferenced chunk range is harmless: it goes with the
  // uncommitted patch at the next Open), then the record that makes them a
  // version.
  ENGRAM_RETURN_IF_ERROR(WriteRows(rows));
  rocksdb::WriteBatch batch;
  batch.Put(PatchKey(patch.patch_id()), patch.SerializeAsString());
  batch.Put(VersionKey(version.table(), version.version()),
            version.SerializeAsString());
  return Write(batch, /*sync=*/true, "committing a patch");
}

absl::Status VersionStore::SetActive(const v1::VersionInfo& version) {
  std::string active;
  AppendBigEndian(version.version(), &active);
  rocksdb::WriteBatch batch;
  batch.Put(ActiveKey(version.table()), active);
  batch.Put(VersionKey(version.table(), version.version()),
            version.SerializeAsString());
  return Write(batch, /*sync=*/true, "activating a version");
}

absl::Status VersionStore::DeletePatch(uint64_t patch_id) {
  rocksdb::WriteBatch batch;
  AddPatchDeletion(patch_id, batch);
  ENGRAM_RETURN_IF_ERROR(Write(batch, /*sync=*/false, "deleting a patch"));
  return ReclaimPatchSpace(patch_id);
}

absl::Status VersionStore::ReclaimPatchSpace(uint64_t patch_id) {
  // The tombstone alone frees nothing until a compaction meets it, and it
  // sits in a memtable that the store's small records seldom fill: without
  // this, every collected patch stayed on disk. A patch's rows are one
  // ingested file, which goes now; rows a compaction merged into files
  // shared with other patches go with the tombstone.
  const std::string begin = ChunkKey(patch_id, 0);
  const std::string end = ChunkKey(patch_id + 1, 0);
  const rocksdb::Slice begin_slice = ToSlice(begin);
  const rocksdb::Slice end_slice = ToSlice(end);
  ENGRAM_RETURN_IF_ERROR(FromRocksDbStatus(
      rocksdb::DeleteFilesInRange(db_.get(), db_->DefaultColumnFamily(),
                                  &begin_slice, &end_slice,
                                  /*include_end=*/false),
      "control store: dropping a patch's rows"));
  // Every read re-fragments the range tombstones of the mutable memtable,
  // so they are moved to a table file now and then, where compactions
  // apply them and reads find them fragmented once.
  if ((patches_deleted_.fetch_add(1) + 1) % kDeletesPerFlush != 0) {
    return absl::OkStatus();
  }
  rocksdb::FlushOptions flush;
  flush.wait = false;
  return FromRocksDbStatus(db_->Flush(flush),
                           "control store: flushing deleted patches");
}

absl::Status VersionStore::DeleteTable(absl::string_view table,
                                       absl::Span<const uint64_t> patch_ids) {
  rocksdb::WriteBatch batch;
  // A table's version keys are "v" table '\0' version: all of them sort
  // below "v" table '\1', since names hold no control characters.
  batch.DeleteRange(VersionKey(table, 0),
                    absl::StrCat(std::string(1, kVersionPrefix), table,
                                 std::string(1, '\1')));
  batch.Delete(ActiveKey(table));
  for (uint64_t patch_id : patch_ids) AddPatchDeletion(patch_id, batch);
  ENGRAM_RETURN_IF_ERROR(Write(batch, /*sync=*/true, "deleting a table"));
  for (uint64_t patch_id : patch_ids) {
    ENGRAM_RETURN_IF_ERROR(ReclaimPatchSpace(patch_id));
  }
  return absl::OkStatus();
}

absl::Status VersionStore::DeleteVersion(absl::string_view table,
                                         uint64_t version) {
  rocksdb::WriteBatch batch;
  batch.Delete(VersionKey(table, version));
  return Write(batch, /*sync=*/false, "deleting a version");
}

absl::StatusOr<std::vector<v1::PatchInfo>> VersionStore::Patches() const {
  std::vector<v1::PatchInfo> patches;
  ENGRAM_RETURN_IF_ERROR(ScanPrefix(
      *db_, std::string(1, kPatchPrefix),
      [&](absl::string_view, absl::string_view value) -> absl::Status {
        ENGRAM_ASSIGN_OR_RETURN(v1::PatchInfo patch,
                                ParseRecord<v1::PatchInfo>(value, "a patch"));
        patches.push_back(std::move(patch));
        return absl::OkStatus();
      }));
  return patches;
}

absl::StatusOr<std::vector<v1::VersionInfo>> VersionStore::Versions() const {
  std::vector<v1::VersionInfo> versions;
  ENGRAM_RETURN_IF_ERROR(ScanPrefix(
      *db_, std::string(1, kVersionPrefix),
      [&](absl::string_view, absl::string_view value) -> absl::Status {
        ENGRAM_ASSIGN_OR_RETURN(
            v1::VersionInfo version,
            ParseRecord<v1::VersionInfo>(value, "a version"));
        versions.push_back(std::move(version));
        return absl::OkStatus();
      }));
  return versions;
}

absl::StatusOr<std::optional<uint64_t>> VersionStore::Active(
    absl::string_view table) const {
  std::string value;
  const rocksdb::Status read =
      db_->Get(rocksdb::ReadOptions(), ActiveKey(table), &value);
  if (read.IsNotFound()) return std::nullopt;
  ENGRAM_RETURN_IF_ERROR(
      FromRocksDbStatus(read, "control store: reading the active version"));
  if (value.size() != sizeof(uint64_t)) {
    return absl::DataLossError(absl::StrCat(
        "control store: unreadable active version of table '", table, "'"));
  }
  return ReadBigEndian(value);
}

absl::StatusOr<std::shared_ptr<const PatchRows>> VersionStore::LoadRows(
    const v1::PatchInfo& patch) const {
  std::vector<PatchChunk> chunks;
  uint64_t rows = 0;
  std::string prefix(1, kChunkPrefix);
  AppendBigEndian(patch.patch_id(), &prefix);
  ENGRAM_RETURN_IF_ERROR(ScanPrefix(
      *db_, prefix,
      [&](absl::string_view, absl::string_view value) -> absl::Status {
        uint64_t ids_bytes = 0;
        if (value.size() >= sizeof(ids_bytes)) {
          std::memcpy(&ids_bytes, value.data(), sizeof(ids_bytes));
        }
        if (value.size() < sizeof(ids_bytes) ||
            ids_bytes > value.size() - sizeof(ids_bytes)) {
          return absl::DataLossError(absl::StrCat(
              "control store: unreadable rows of patch ", patch.patch_id()));
        }
        value.remove_prefix(sizeof(ids_bytes));
        chunks.push_back({std::string(value.substr(0, ids_bytes)),
                          std::string(value.substr(ids_bytes))});
        rows += ids_bytes / kPackedRowIdBytes;
        return absl::OkStatus();
      }));
  if (rows != patch.rows()) {
    return absl::DataLossError(
        absl::StrCat("control store: patch ", patch.patch_id(), " records ",
                     patch.rows(), " rows but holds ", rows));
  }
  return PatchRows::Create(patch.patch_id(), std::move(chunks),
                           patch.row_bytes());
}

}  // namespace engram::server
