// Knowledge patches as lookups see them.
//
//   PatchRows: one committed patch, a set of rows (row id -> bytes), each id
//     once, held in memory.
//   PatchOverlay: the ordered stack of patches a version lays over its base
//     table; a row resolves to the topmost patch that has it. The overlay
//     indexes the whole stack in one hash table, so a lookup costs one probe
//     per row however many patches are stacked.
//
//   ENGRAM_ASSIGN_OR_RETURN(auto patch,
//                           PatchRows::Create(7, std::move(chunks), 128));
//   auto overlay = PatchOverlay::Create({older_patch, patch});
//   base.Gather(ids, out);
//   overlay->Apply(ids, out, missing);  // patched rows overwrite base rows
//
// Both are immutable once built. Patches are shared by every version that
// stacks them; each overlay's index costs about 32 bytes per patched row of
// its stack.
#ifndef ENGRAM_SERVER_TABLES_PATCH_OVERLAY_H_
#define ENGRAM_SERVER_TABLES_PATCH_OVERLAY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/packed_row_ids.h"
#include "server/storage/row_store.h"

namespace engram::server {

// Ids (packed) and their rows, as one message brought them.
struct PatchChunk {
  std::string ids;
  std::string rows;
};

class PatchRows {
 public:
  // A patch of `chunks` (ids in any order), rows of `row_bytes`, kept in
  // the buffers they arrived in. InvalidArgument naming the first id that
  // appears twice (each row id may appear once in a patch), or for a chunk
  // whose rows are not row_bytes per id.
  static absl::StatusOr<std::shared_ptr<const PatchRows>> Create(
      uint64_t patch_id, std::vector<PatchChunk> chunks, uint32_t row_bytes);

  uint64_t patch_id() const { return patch_id_; }
  uint32_t row_bytes() const { return row_bytes_; }
  size_t size() const { return sorted_ids_.size(); }
  const std::vector<PatchChunk>& chunks() const { return chunks_; }

  // Calls fn(id, row) for every row, in upload order.
  template <typename Fn>
  void ForEachRow(Fn fn) const {
    for (const PatchChunk& chunk : chunks_) {
      const PackedRowIds ids(chunk.ids);
      for (size_t i = 0; i < ids.size(); ++i) {
        fn(ids[i], chunk.rows.data() + i * uint64_t{row_bytes_});
      }
    }
  }

  // The patch's ids, increasing.
  absl::Span<const uint64_t> sorted_ids() const { return sorted_ids_; }
  // Whether the patch has row `id` (a binary search of sorted_ids()).
  bool Contains(uint64_t id) const;

 private:
  PatchRows(uint64_t patch_id, uint32_t row_bytes,
            std::vector<PatchChunk> chunks)
      : patch_id_(patch_id),
        row_bytes_(row_bytes),
        chunks_(std::move(chunks)) {}

  const uint64_t patch_id_;
  const uint32_t row_bytes_;
  const std::vector<PatchChunk> chunks_;
  std::vector<uint64_t> sorted_ids_;
};

class PatchOverlay {
 public:
  // `patches` bottom first. REQUIRES: all of one row_bytes.
  static std::shared_ptr<const PatchOverlay> Create(
      std::vector<std::shared_ptr<const PatchRows>> patches);

  const std::vector<std::shared_ptr<const PatchRows>>& patches() const {
    return patches_;
  }

  // The topmost patch's row of `id`, or null when no patch has it.
  const char* Find(uint64_t id) const;

  // The topmost patch that has `id`, or null. For tools that say where a
  // row comes from (ExplainRows), not for lookups: it searches each patch
  // in turn rather than the index, so that the index stays rows only.
  const PatchRows* Provider(uint64_t id) const;

  // Overwrites, in `out` (ids.size() rows, in order), each row some patch
  // has with the topmost patch's bytes, and clears its position in
  // `missing` (if not null): a patch may add rows a sparse base lacks.
  void Apply(const PackedRowIds& ids, char* out, MissingRows* missing) const;

  // `patches` (bottom first) without those whose every row a patch above
  // them replaces: they change no lookup, and a version that stacked them
  // would hold them (and index their rows) for ever, however often the
  // same rows are patched again.
  static std::vector<std::shared_ptr<const PatchRows>> WithoutShadowed(
      std::vector<std::shared_ptr<const PatchRows>> patches);

  // Ids whose rows may differ between versions with overlays `a` and `b`
  // over the same base: those named by the patches above their common
  // prefix. Increasing, each once.
  static std::vector<uint64_t> ChangedIds(const PatchOverlay* a,
                                          const PatchOverlay* b);

 private:
  // Open addressing with linear probing, at most half full.
  struct Slot {
    uint64_t id;
    const char* row;
  };
  static constexpr uint64_t kEmpty = ~uint64_t{0};

  explicit PatchOverlay(std::vector<std::shared_ptr<const PatchRows>> patches);

  static uint64_t Hash(uint64_t id) { return id * 0x9E3779B97F4A7C15ull; }
  bool MayHave(uint64_t id) const {
    const uint64_t bit = Hash(id) >> filter_shift_;
    return (filter_[bit / 64] >> (bit % 64)) & 1;
  }
  size_t Home(uint64_t id) const { return Hash(id) >> slot_shift_; }
  const char* Probe(uint64_t id) const;

  const std::vector<std::shared_ptr<const PatchRows>> patches_;
  const uint32_t row_bytes_;
  // One bit per hash of every patched id (about 8 bits per id, a few per
  // cent false positives), so that the rows no patch has, most of a
  // lookup, cost a bit test in a small array rather than a probe into the
  // large one.
  int filter_shift_ = 63;
  std::vector<uint64_t> filter_;
  // id -> the topmost patch's row.
  int slot_shift_ = 63;
  size_t slot_mask_ = 0;
  std::vector<Slot> slots_;
};

}  // namespace engram::server

#endif  // ENGRAM_SERVER_TABLES_PATCH_OVERLAY_H_
