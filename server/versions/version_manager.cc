#include "server/versions/version_manager.h"

#include <algorithm>
#include <string_view>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/addressing/sha256.h"
#include "common/logging.h"
#include "common/malloc_tuning.h"
#include "common/packed_row_ids.h"
#include "common/status_context.h"
#include "common/status_macros.h"

namespace engram::server {
namespace {

uint64_t NowUnixMs() { return absl::ToUnixMillis(absl::Now()); }

// Bytes of a row's SHA-256 that ExplainRows shows: enough to tell rows
// apart by eye, short enough to print one per head.
constexpr size_t kFingerprintBytes = 8;

std::string RowFingerprint(const char* row, size_t row_bytes) {
  return internal::Sha256::ToHex(
             internal::Sha256::Of(std::string_view(row, row_bytes)))
      .substr(0, 2 * kFingerprintBytes);
}

}  // namespace

// An uncommitted patch: its rows so far, in upload order.
struct VersionManager::Upload::Staged {
  v1::PatchInfo info;
  // The table's row ids this server holds: [first_id, end_id).
  uint64_t first_id = 0;
  uint64_t end_id = 0;
  // As the messages brought them.
  std::vector<PatchChunk> chunks;
  uint64_t rows = 0;
  bool uploading = false;
};

VersionManager::Upload::Upload(VersionManager* manager, Staged* staged)
    : manager_(manager),
      staged_(staged),
      first_chunk_(staged->chunks.size()),
      first_rows_(staged->rows) {}

VersionManager::Upload::~Upload() {
  if (!finished_) {
    staged_->chunks.resize(first_chunk_);
    staged_->rows = first_rows_;
  }
  manager_->EndUpload(*this);
}

absl::Status VersionManager::Upload::Add(std::string ids, std::string rows) {
  const v1::PatchInfo& info = staged_->info;
  ENGRAM_RETURN_IF_ERROR(ValidatePackedRowIds(ids));
  const PackedRowIds packed(ids);
  if (rows.size() != packed.size() * uint64_t{info.row_bytes()}) {
    return absl::InvalidArgumentError(
        absl::StrCat("patch ", info.patch_id(), ": ", packed.size(),
                     " row ids but ", rows.size(), " bytes of rows; table '",
                     info.table(), "' has ", info.row_bytes(), " B rows"));
  }
  for (size_t i = 0; i < packed.size(); ++i) {
    if (packed[i] < staged_->first_id || packed[i] >= staged_->end_id) {
      return absl::InvalidArgumentError(absl::StrCat(
          "patch ", info.patch_id(), ": row id ", packed[i],
          " is out of range for table '", info.table(), "', whose rows here ",
          "are [", staged_->first_id, ", ", staged_->end_id, ")"));
    }
  }
  const uint64_t bytes =
      (staged_->rows + packed.size()) * uint64_t{info.row_bytes()};
  if (bytes > manager_->options_.max_patch_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "patch ", info.patch_id(), " would hold ", bytes,
        " B of rows, over the server's limit of ",
        manager_->options_.max_patch_bytes, " B (--max-patch-bytes)"));
  }
  digest_.AddSparseRows(packed, rows, info.row_bytes());
  staged_->rows += packed.size();
  staged_->chunks.push_back({std::move(ids), std::move(rows)});
  return absl::OkStatus();
}

absl::StatusOr<v1::PatchInfo> VersionManager::Upload::Finish(
    absl::string_view digest) {
  std::string stream_digest = std::move(digest_).Finish();
  if (!digest.empty() && digest != stream_digest) {
    return absl::InvalidArgumentError(absl::StrCat(
        "patch ", staged_->info.patch_id(), ": the rows sent hash to ",
        stream_digest, ", not ", digest, " as the client says; not added"));
  }
  v1::PatchInfo info = staged_->info;
  info.set_rows(staged_->rows);
  if (first_chunk_ == 0) {
    info.set_content_digest(std::move(stream_digest));
  } else {
    ContentDigest whole;
    for (const PatchChunk& chunk : staged_->chunks) {
      whole.AddSparseRows(PackedRowIds(chunk.ids), chunk.rows,
                          info.row_bytes());
    }
    info.set_content_digest(std::move(whole).Finish());
  }
  ENGRAM_RETURN_IF_ERROR(manager_->store_->UpdatePatch(info));
  staged_->info = info;
  finished_ = true;
  return info;
}

absl::StatusOr<std::unique_ptr<VersionManager>> VersionManager::Open(
    const Options& options, TableManager* tables) {
  if (options.retain_versions < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "retain_versions is ", options.retain_versions, "; at least 1"));
  }
  ENGRAM_ASSIGN_OR_RETURN(std::unique_ptr<VersionStore> store,
                          VersionStore::Open(options.control_dir));
  for (const v1::PatchInfo& patch : store->discarded()) {
    LOG(WARNING) << "discarded the unfinished upload of patch "
                 << patch.patch_id() << " of table '" << patch.table() << "' ("
                 << patch.rows()
                 << " rows recorded): uploads do not survive a restart; "
                    "create and upload it again";
  }
  std::unique_ptr<VersionManager> manager(
      new VersionManager(options, tables, std::move(store)));
  ENGRAM_ASSIGN_OR_RETURN(std::vector<v1::PatchInfo> patches,
                          manager->store_->Patches());
  absl::MutexLock lock(&manager->mu_);
  for (v1::PatchInfo& patch : patches) {
    const uint64_t id = patch.patch_id();
    manager->patch_records_.emplace(id, std::move(patch));
  }
  return manager;
}

VersionManager::VersionManager(const Options& options, TableManager* tables,
                               std::unique_ptr<VersionStore> store)
    : options_(options),
      tables_(tables),
      store_(std::move(store)),
      pins_(options.pins) {}

VersionManager::~VersionManager() = default;

absl::Status VersionManager::AddTable(std::shared_ptr<const Table> base) {
  ENGRAM_ASSIGN_OR_RETURN(std::vector<v1::VersionInfo> records,
                          store_->Versions());
  ENGRAM_ASSIGN_OR_RETURN(std::optional<uint64_t> recorded_active,
                          store_->Active(base->name()));
  absl::MutexLock lock(&mu_);
  ServeLocked(std::move(base), std::move(records), recorded_active);
  return absl::OkStatus();
}

void VersionManager::ServeLocked(std::shared_ptr<const Table> base,
                                 std::vector<v1::VersionInfo> records,
                                 std::optional<uint64_t> recorded_active) {
  TableState state;
  state.base = base;
  Version& root = state.versions[base->version()];
  root.table = base;
  root.info.set_table(base->name());
  root.info.set_version(base->version());
  for (v1::VersionInfo& record : records) {
    if (record.table() != base->name()) continue;
    const uint64_t number = record.version();
    if (number == base->version()) {
      root.info = std::move(record);
      continue;
    }
    absl::StatusOr<std::vector<std::shared_ptr<const PatchRows>>> patches =
        PatchesLocked(record.patch_ids());
    if (!patches.ok()) {
      LOG(ERROR) << "table '" << base->name() << "': version " << number
                 << " left out: " << patches.status();
      continue;
    }
    Version& version = state.versions[number];
    version.table =
        base->WithPatches(number, PatchOverlay::Create(*std::move(patches)));
    version.info = std::move(record);
  }
  state.active = base->version();
  if (recorded_active.has_value()) {
    if (state.versions.contains(*recorded_active)) {
      state.active = *recorded_active;
    } else {
      LOG(ERROR) << "table '" << base->name() << "': active version "
                 << *recorded_active
                 << " cannot be served; serving the base version";
    }
  }
  if (state.versions.size() > 1) {
    LOG(INFO) << "table '" << base->name() << "': " << state.versions.size()
              << " versions, version " << state.active << " active";
  }
  auto [it, inserted] =
      states_.insert_or_assign(base->name(), std::move(state));
  PublishLocked(it->second);
}

absl::Status VersionManager::AddNewTable(std::shared_ptr<const Table> base) {
  absl::MutexLock lock(&mu_);
  if (states_.contains(base->name())) {
    return absl::AlreadyExistsError(
        absl::StrCat("table '", base->name(), "' is served already"));
  }
  ENGRAM_ASSIGN_OR_RETURN(const std::vector<v1::VersionInfo> records,
                          store_->Versions());
  const bool stale_versions = std::any_of(
      records.begin(), records.end(), [&](const v1::VersionInfo& record) {
        return record.table() == base->name();
      });
  const std::vector<uint64_t> stale_patches = PatchIdsLocked(base->name());
  if (stale_versions || !stale_patches.empty()) {
    LOG(WARNING) << "table '" << base->name() << "': deleting the versions and "
                 << stale_patches.size()
                 << " patch(es) a dropped table of that name left behind";
    ENGRAM_RETURN_IF_ERROR(store_->DeleteTable(base->name(), stale_patches));
    ForgetPatchesLocked(stale_patches);
  }
  // Nothing is recorded for it now: its base version alone, active.
  ServeLocked(std::move(base), {}, std::nullopt);
  return absl::OkStatus();
}

absl::StatusOr<VersionManager::Dropped> VersionManager::DropTable(
    absl::string_view table, bool force,
    absl::FunctionRef<absl::Status()> remove_rows) {
  const absl::Cleanup release = [this] { ReleaseCollectedMemory(); };
  Dropped dropped;
  {
    absl::MutexLock lock(&mu_);
    ENGRAM_ASSIGN_OR_RETURN(TableState * state, FindTableLocked(table));
    for (const auto& [id, staged] : staged_) {
      if (staged->info.table() == table && staged->uploading) {
        return absl::FailedPreconditionError(
            absl::StrCat("patch ", id, " of table '", table,
                         "' is being uploaded; abort it or wait for it"));
      }
    }
    const absl::flat_hash_map<uint64_t, uint32_t> pinned =
        pins_.PinnedVersions(table);
    if (!pinned.empty() && !force) {
      uint64_t pins = 0;
      for (const auto& [version, count] : pinned) pins += count;
      return absl::FailedPreconditionError(absl::StrCat(
          "table '", table, "' has ", pins, " live pin(s) on ", pinned.size(),
          " version(s): workers still use it; release them, let them "
          "expire, or drop with force"));
    }
    ENGRAM_RETURN_IF_ERROR(remove_rows());
    // The rows are gone from disk: from here the drop goes through.
    dropped.active = state->versions.at(state->active).table;
    const std::vector<uint64_t> patch_ids = PatchIdsLocked(table);
    dropped.deleted_patches = patch_ids.size();
    const absl::Status deleted = store_->DeleteTable(table, patch_ids);
    LOG_IF(WARNING, !deleted.ok())
        << "table '" << table << "': its versions and patches stay in the "
        << "control store (" << deleted
        << "); an import of the name deletes them";
    ForgetPatchesLocked(patch_ids);
    states_.erase(table);
    tables_->Remove(table).IgnoreError();
    dropped.released_pins = pins_.ReleaseTable(table);
    memory_to_release_.store(true, std::memory_order_relaxed);
  }
  EndWatches(table, absl::NotFoundError(
                        absl::StrCat("table '", table, "' was dropped")));
  LOG(INFO) << "table '" << table << "' dropped (" << dropped.deleted_patches
            << " patch(es) deleted, " << dropped.released_pins
            << " pin(s) released)";
  return dropped;
}

std::vector<uint64_t> VersionManager::PatchIdsLocked(
    absl::string_view table) const {
  std::vector<uint64_t> ids;
  for (const auto& [id, record] : patch_records_) {
    if (record.table() == table) ids.push_back(id);
  }
  for (const auto& [id, staged] : staged_) {
    if (staged->info.table() == table) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

void VersionManager::ForgetPatchesLocked(absl::Span<const uint64_t> ids) {
  for (uint64_t id : ids) {
    staged_.erase(id);
    patch_records_.erase(id);
    patches_.erase(id);
  }
}

absl::StatusOr<VersionManager::TableState*> VersionManager::FindTableLocked(
    absl::string_view table) {
  const auto it = states_.find(table);
  if (it == states_.end()) {
    return absl::NotFoundError(absl::StrCat("no table named '", table, "'"));
  }
  return &it->second;
}

absl::StatusOr<std::vector<std::shared_ptr<const PatchRows>>>
VersionManager::PatchesLocked(
    const google::protobuf::RepeatedField<uint64_t>& patch_ids) {
  std::vector<std::shared_ptr<const PatchRows>> patches;
  for (uint64_t id : patch_ids) {
    auto loaded = patches_.find(id);
    if (loaded == patches_.end()) {
      const auto record = patch_records_.find(id);
      if (record == patch_records_.end()) {
        return absl::DataLossError(
            absl::StrCat("patch ", id, " is not in the control store"));
      }
      ENGRAM_ASSIGN_OR_RETURN(std::shared_ptr<const PatchRows> rows,
                              store_->LoadRows(record->second));
      loaded = patches_.emplace(id, std::move(rows)).first;
    }
    patches.push_back(loaded->second);
  }
  return patches;
}

absl::StatusOr<v1::PatchInfo> VersionManager::CreatePatch(
    absl::string_view table, absl::string_view description) {
  absl::MutexLock lock(&mu_);
  ENGRAM_ASSIGN_OR_RETURN(TableState * state, FindTableLocked(table));
  v1::PatchInfo info;
  info.set_table(std::string(table));
  info.set_description(std::string(description));
  info.set_row_bytes(state->base->row_bytes());
  info.set_created_unix_ms(NowUnixMs());
  ENGRAM_ASSIGN_OR_RETURN(info, store_->CreatePatch(std::move(info)));
  auto staged = std::make_unique<Upload::Staged>();
  staged->info = info;
  staged->first_id = state->base->first_row();
  staged->end_id = state->base->first_row() + state->base->rows();
  staged_.emplace(info.patch_id(), std::move(staged));
  return info;
}

absl::StatusOr<std::unique_ptr<VersionManager::Upload>>
VersionManager::BeginUpload(uint64_t patch_id) {
  absl::MutexLock lock(&mu_);
  ENGRAM_ASSIGN_OR_RETURN(Upload::Staged * staged, IdleStagedLocked(patch_id));
  staged->uploading = true;
  return std::unique_ptr<Upload>(new Upload(this, staged));
}

void VersionManager::EndUpload(Upload& upload) {
  absl::MutexLock lock(&mu_);
  upload.staged_->uploading = false;
}

void VersionManager::DiscardLocked(uint64_t patch_id) {
  staged_.erase(patch_id);
  const absl::Status deleted = store_->DeletePatch(patch_id);
  if (!deleted.ok()) {
    LOG(WARNING) << "patch " << patch_id << ": " << deleted
                 << " (it is discarded at the next start)";
  }
}

absl::StatusOr<VersionManager::Upload::Staged*>
VersionManager::IdleStagedLocked(uint64_t patch_id) {
  if (const auto committed = patch_records_.find(patch_id);
      committed != patch_records_.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("patch ", patch_id, " is committed already, as version ",
                     committed->second.version()));
  }
  const auto it = staged_.find(patch_id);
  if (it == staged_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "no uncommitted patch ", patch_id,
        " (never created, aborted, discarded after a failed commit, or "
        "discarded at a server restart)"));
  }
  if (it->second->uploading) {
    return absl::FailedPreconditionError(absl::StrCat(
        "patch ", patch_id, " is being uploaded by another stream"));
  }
  return it->second.get();
}

absl::StatusOr<v1::PatchInfo> VersionManager::AbortPatch(uint64_t patch_id) {
  absl::MutexLock lock(&mu_);
  ENGRAM_ASSIGN_OR_RETURN(Upload::Staged * staged, IdleStagedLocked(patch_id));
  v1::PatchInfo info = staged->info;
  DiscardLocked(patch_id);
  LOG(INFO) << "patch " << patch_id << " of table '" << info.table()
            << "' aborted";
  return info;
}

absl::StatusOr<v1::VersionInfo> VersionManager::CommitPatch(
    uint64_t patch_id, absl::string_view digest) {
  // Declared before the lock, so it runs once mu_ is released.
  const absl::Cleanup release = [this] { ReleaseCollectedMemory(); };
  absl::MutexLock lock(&mu_);
  ENGRAM_ASSIGN_OR_RETURN(Upload::Staged * found, IdleStagedLocked(patch_id));
  Upload::Staged& staged = *found;
  // Every check below that fails discards the patch: its rows cannot
  // become a version as they are.
  const auto reject = [&](const absl::Status& why) {
    DiscardLocked(patch_id);
    return Annotate(why, "",
                    absl::StrCat("; patch ", patch_id, " is discarded"));
  };
  v1::PatchInfo info = staged.info;
  if (staged.rows == 0) {
    return reject(absl::InvalidArgumentError(
        absl::StrCat("patch ", patch_id, " has no rows")));
  }
  if (!digest.empty() && digest != info.content_digest()) {
    return reject(absl::InvalidArgumentError(
        absl::StrCat("patch ", patch_id, " rows hash to ",
                     info.content_digest(), ", not ", digest)));
  }
  absl::StatusOr<TableState*> state = FindTableLocked(info.table());
  if (!state.ok()) return reject(state.status());
  absl::StatusOr<std::shared_ptr<const PatchRows>> rows =
      PatchRows::Create(patch_id, std::move(staged.chunks), info.row_bytes());
  if (!rows.ok()) return reject(rows.status());

  TableState& table = **state;
  const Version& parent = table.versions.at(table.active);
  const uint64_t number = table.versions.rbegin()->first + 1;
  std::vector<std::shared_ptr<const PatchRows>> stack;
  if (const PatchOverlay* below = parent.table->overlay()) {
    stack = below->patches();
  }
  stack.push_back(*rows);
  stack = PatchOverlay::WithoutShadowed(std::move(stack));
  v1::VersionInfo version;
  version.set_table(info.table());
  version.set_version(number);
  version.set_parent_version(parent.info.version());
  for (const auto& patch : stack) version.add_patch_ids(patch->patch_id());
  version.set_patch_rows((*rows)->size());
  version.set_created_unix_ms(NowUnixMs());
  version.set_description(info.description());
  info.set_committed(true);
  info.set_version(number);
  if (const absl::Status stored = store_->CommitPatch(info, **rows, version);
      !stored.ok()) {
    return reject(stored);
  }
  staged_.erase(patch_id);
  patches_.emplace(patch_id, *rows);
  patch_records_.emplace(patch_id, info);
  Version& added = table.versions[number];
  added.info = version;
  added.table =
      table.base->WithPatches(number, PatchOverlay::Create(std::move(stack)));
  LOG(INFO) << "table '" << info.table() << "': patch " << patch_id << " ("
            << (*rows)->size() << " rows) committed as version " << number;
  PublishLocked(table);
  CollectLocked(table);
  return DescribeLocked(table, added, pins_.PinnedVersions(info.table()));
}

absl::StatusOr<v1::VersionInfo> VersionManager::Activate(
    absl::string_view table, uint64_t version) {
  const absl::Cleanup release = [this] { ReleaseCollectedMemory(); };
  absl::MutexLock lock(&mu_);
  ENGRAM_ASSIGN_OR_RETURN(TableState * state, FindTableLocked(table));
  return ActivateLocked(*state, version);
}

absl::StatusOr<v1::VersionInfo> VersionManager::Rollback(
    absl::string_view table, uint64_t to_version) {
  const absl::Cleanup release = [this] { ReleaseCollectedMemory(); };
  absl::MutexLock lock(&mu_);
  ENGRAM_ASSIGN_OR_RETURN(TableState * state, FindTableLocked(table));
  if (to_version == 0) {
    const auto older = state->versions.lower_bound(state->active);
    if (older == state->versions.begin()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "table '", table, "' has no retained version older than the active ",
          state->active, " to roll back to"));
    }
    to_version = std::prev(older)->first;
  } else if (to_version >= state->active) {
    return absl::FailedPreconditionError(
        absl::StrCat("version ", to_version, " is not older than table '",
                     table, "''s active version ", state->active,
                     "; activate it instead of rolling back"));
  }
  return ActivateLocked(*state, to_version);
}

absl::StatusOr<v1::VersionInfo> VersionManager::ActivateLocked(
    TableState& state, uint64_t number) {
  const std::string& name = state.base->name();
  const auto it = state.versions.find(number);
  if (it == state.versions.end()) {
    return absl::NotFoundError(absl::StrCat(
        "table '", name, "' has no version ", number,
        " (not committed, or no longer retained); see ListVersions"));
  }
  const uint64_t previous = state.active;
  if (number != previous) {
    v1::VersionInfo activated = it->second.info;
    activated.set_activated_unix_ms(NowUnixMs());
    ENGRAM_RETURN_IF_ERROR(store_->SetActive(activated));
    it->second.info = std::move(activated);
    state.active = number;
    PublishLocked(state);
    LOG(INFO) << "table '" << name << "': version " << number << " active (was "
              << previous << ")";
    VersionChange change;
    change.kind = number > previous ? v1::VersionEvent::ACTIVATED
                                    : v1::VersionEvent::ROLLED_BACK;
    change.table = name;
    change.version = number;
    change.previous_version = previous;
    change.changed_ids = std::make_shared<const std::vector<uint64_t>>(
        PatchOverlay::ChangedIds(state.versions.at(previous).table->overlay(),
                                 it->second.table->overlay()));
    Notify(change);
    CollectLocked(state);
  }
  return DescribeLocked(state, state.versions.at(number),
                        pins_.PinnedVersions(name));
}

void VersionManager::CollectLocked(TableState& state) {
  const std::string& name = state.base->name();
  const absl::flat_hash_map<uint64_t, uint32_t> pinned =
      pins_.PinnedVersions(name);
  std::vector<uint64_t> dropped;
  int newer = 0;
  for (auto it = state.versions.rbegin(); it != state.versions.rend(); ++it) {
    const uint64_t number = it->first;
    const bool keep =
        newer++ < options_.retain_versions || number == state.active ||
        number == state.base->version() || pinned.contains(number);
    if (!keep) dropped.push_back(number);
  }
  if (dropped.empty()) return;
  for (uint64_t number : dropped) {
    state.versions.erase(number);
    const absl::Status deleted = store_->DeleteVersion(name, number);
    if (!deleted.ok()) {
      LOG(WARNING) << "table '" << name << "': version " << number << ": "
                   << deleted << " (collected again at the next start)";
    }
  }
  absl::flat_hash_set<uint64_t> used;
  for (const auto& [number, version] : state.versions) {
    used.insert(version.info.patch_ids().begin(),
                version.info.patch_ids().end());
  }
  std::vector<uint64_t> unused;
  for (const auto& [id, record] : patch_records_) {
    if (record.table() == name && !used.contains(id)) unused.push_back(id);
  }
  for (uint64_t id : unused) {
    patch_records_.erase(id);
    patches_.erase(id);
    const absl::Status deleted = store_->DeletePatch(id);
    if (!deleted.ok()) {
      LOG(WARNING) << "patch " << id << ": " << deleted
                   << " (collected again at the next start)";
    }
  }
  PublishLocked(state);
  memory_to_release_.store(true, std::memory_order_relaxed);
  LOG(INFO) << "table '" << name << "': dropped " << dropped.size()
            << " old version(s) and " << unused.size() << " patch(es)";
}

void VersionManager::ReleaseCollectedMemory() {
  if (!memory_to_release_.exchange(false, std::memory_order_relaxed)) return;
  // The dropped versions and patches are freed now (or by the last lookup
  // still reading them); without this their pages would stay in the RSS
  // (malloc_tuning.h), adding up across malloc arenas.
  const absl::Time start = absl::Now();
  ReleaseFreedMemory();
  LOG(INFO) << "memory of collected versions returned to the system in "
            << absl::FormatDuration(absl::Now() - start);
}

void VersionManager::PublishLocked(const TableState& state) {
  std::vector<std::shared_ptr<const Table>> retained;
  retained.reserve(state.versions.size());
  for (const auto& [number, version] : state.versions) {
    retained.push_back(version.table);
  }
  tables_->PublishVersions(state.versions.at(state.active).table,
                           std::move(retained));
}

v1::VersionInfo VersionManager::DescribeLocked(
    const TableState& state, const Version& version,
    const absl::flat_hash_map<uint64_t, uint32_t>& pins) const {
  v1::VersionInfo info = version.info;
  info.set_active(info.version() == state.active);
  const auto pinned = pins.find(info.version());
  info.set_pins(pinned == pins.end() ? 0 : pinned->second);
  return info;
}

absl::StatusOr<v1::ListVersionsResponse> VersionManager::ListVersions(
    absl::string_view table) {
  absl::MutexLock lock(&mu_);
  ENGRAM_ASSIGN_OR_RETURN(TableState * state, FindTableLocked(table));
  const absl::flat_hash_map<uint64_t, uint32_t> pins =
      pins_.PinnedVersions(table);
  v1::ListVersionsResponse response;
  response.set_table(std::string(table));
  response.set_active_version(state->active);
  for (auto it = state->versions.rbegin(); it != state->versions.rend(); ++it) {
    *response.add_versions() = DescribeLocked(*state, it->second, pins);
  }
  for (const auto& [id, staged] : staged_) {
    if (staged->info.table() == table) *response.add_uploading() = staged->info;
  }
  std::sort(response.mutable_uploading()->begin(),
            response.mutable_uploading()->end(),
            [](const v1::PatchInfo& a, const v1::PatchInfo& b) {
              return a.patch_id() < b.patch_id();
            });
  return response;
}

absl::StatusOr<PinRegistry::Pin> VersionManager::Pin(absl::string_view table,
                                                     uint64_t version,
                                                     absl::Duration ttl) {
  // Under mu_ so that retention, which spares pinned versions, cannot drop
  // this one between finding it and pinning it.
  absl::MutexLock lock(&mu_);
  ENGRAM_ASSIGN_OR_RETURN(
      std::shared_ptr<const Table> pinned,
      version == 0 ? tables_->Get(table) : tables_->GetVersion(table, version));
  return pins_.Add(std::move(pinned), ttl);
}

absl::Status VersionManager::ReleasePin(uint64_t pin_id) {
  return pins_.Release(pin_id);
}

absl::StatusOr<std::shared_ptr<const Table>> VersionManager::Resolve(
    absl::string_view table, const v1::VersionSelector& at) {
  if (at.pin_id() != 0) {
    ENGRAM_ASSIGN_OR_RETURN(std::shared_ptr<const Table> pinned,
                            pins_.Use(at.pin_id()));
    if (pinned->name() != table) {
      return absl::InvalidArgumentError(
          absl::StrCat("pin ", at.pin_id(), " holds table '", pinned->name(),
                       "', not '", table, "'"));
    }
    if (at.version() != 0 && at.version() != pinned->version()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "pin ", at.pin_id(), " holds version ", pinned->version(),
          " of table '", table, "', not version ", at.version()));
    }
    return pinned;
  }
  if (at.version() != 0) return tables_->GetVersion(table, at.version());
  return tables_->Get(table);
}

absl::StatusOr<v1::ExplainRowsResponse> VersionManager::ExplainRows(
    absl::string_view table_name, const v1::VersionSelector& at,
    absl::string_view row_ids) {
  ENGRAM_ASSIGN_OR_RETURN(std::shared_ptr<const Table> table,
                          Resolve(table_name, at));
  ENGRAM_RETURN_IF_ERROR(ValidatePackedRowIds(row_ids));
  const PackedRowIds ids(row_ids);
  if (ids.empty()) {
    return absl::InvalidArgumentError("no row ids to explain");
  }
  if (ids.size() > kMaxExplainRows) {
    return absl::ResourceExhaustedError(
        absl::StrCat(ids.size(), " row ids to explain; at most ",
                     kMaxExplainRows, " per call"));
  }
  // The rows exactly as a lookup of this version gathers them, so that the
  // fingerprints are those of the served bytes.
  const uint32_t row_bytes = table->row_bytes();
  std::string rows(ids.size() * uint64_t{row_bytes}, '\0');
  MissingRows missing(ids.size());
  ENGRAM_RETURN_IF_ERROR(table->Lookup(ids, rows.data(), &missing));

  v1::ExplainRowsResponse response;
  response.set_table(table->name());
  response.set_version(table->version());
  const PatchOverlay* overlay = table->overlay();
  if (overlay != nullptr) {
    absl::MutexLock lock(&mu_);
    for (const auto& patch : overlay->patches()) {
      const auto record = patch_records_.find(patch->patch_id());
      v1::PatchInfo* info = response.add_patches();
      if (record != patch_records_.end()) {
        *info = record->second;
      } else {
        // Retention dropped the version since it was resolved; its rows
        // are still the ones above, only the record is gone.
        info->set_patch_id(patch->patch_id());
        info->set_table(table->name());
      }
    }
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    v1::RowSource* source = response.add_rows();
    source->set_row_id(ids[i]);
    const PatchRows* provider =
        overlay != nullptr ? overlay->Provider(ids[i]) : nullptr;
    if (provider != nullptr) source->set_patch_id(provider->patch_id());
    source->set_missing(table->reports_missing() && missing.Get(i));
    source->set_fingerprint(
        RowFingerprint(rows.data() + i * uint64_t{row_bytes}, row_bytes));
  }
  return response;
}

absl::StatusOr<uint64_t> VersionManager::Watch(absl::string_view table,
                                               Listener listener) {
  absl::MutexLock lock(&mu_);
  ENGRAM_ASSIGN_OR_RETURN(TableState * state, FindTableLocked(table));
  VersionChange current;
  current.kind = v1::VersionEvent::CURRENT;
  current.table = std::string(table);
  current.version = state->active;
  current.changed_ids = std::make_shared<const std::vector<uint64_t>>();
  absl::MutexLock watch_lock(&watch_mu_);
  const uint64_t id = next_watch_id_++;
  listener(current);
  watchers_.emplace(id,
                    std::make_pair(std::string(table), std::move(listener)));
  return id;
}

void VersionManager::Unwatch(uint64_t watch_id) {
  absl::MutexLock lock(&watch_mu_);
  watchers_.erase(watch_id);
}

void VersionManager::CloseWatches() {
  EndWatches("", absl::UnavailableError("the server is shutting down"));
}

void VersionManager::EndWatches(absl::string_view table,
                                const absl::Status& why) {
  absl::MutexLock lock(&watch_mu_);
  VersionChange end;
  end.end = why;
  end.table = std::string(table);
  end.changed_ids = std::make_shared<const std::vector<uint64_t>>();
  absl::erase_if(watchers_, [&](const auto& entry) {
    const auto& [watched_table, listener] = entry.second;
    if (!table.empty() && watched_table != table) return false;
    listener(end);
    return true;
  });
}

void VersionManager::Notify(const VersionChange& change) {
  absl::MutexLock lock(&watch_mu_);
  for (const auto& [id, watcher] : watchers_) {
    if (watcher.first == change.table) watcher.second(change);
  }
}

}  // namespace engram::server
