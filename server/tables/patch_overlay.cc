#include "server/tables/patch_overlay.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace engram::server {
namespace {

// Filter bits per patched id; more buys fewer false probes for memory.
constexpr uint64_t kFilterBitsPerId = 8;
// 2^27 bits = 16 MiB: beyond ~16M patched ids the filter saturates slowly
// rather than growing without bound.
constexpr int kMaxFilterBitsLog2 = 27;

}  // namespace

absl::StatusOr<std::shared_ptr<const PatchRows>> PatchRows::Create(
    uint64_t patch_id, std::vector<PatchChunk> chunks, uint32_t row_bytes) {
  size_t count = 0;
  for (const PatchChunk& chunk : chunks) {
    const uint64_t ids = chunk.ids.size() / kPackedRowIdBytes;
    if (chunk.ids.size() % kPackedRowIdBytes != 0 ||
        chunk.rows.size() != ids * row_bytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("patch ", patch_id, ": a chunk of ", chunk.ids.size(),
                       " bytes of row ids has ", chunk.rows.size(),
                       " bytes of rows; ", row_bytes, " B per id expected"));
    }
    count += ids;
  }
  std::shared_ptr<PatchRows> patch(
      new PatchRows(patch_id, row_bytes, std::move(chunks)));
  std::vector<uint64_t>& sorted = patch->sorted_ids_;
  sorted.reserve(count);
  patch->ForEachRow([&](uint64_t id, const char*) { sorted.push_back(id); });
  std::sort(sorted.begin(), sorted.end());
  const auto duplicate = std::adjacent_find(sorted.begin(), sorted.end());
  if (duplicate != sorted.end()) {
    const uint64_t id = *duplicate;
    std::vector<size_t> positions;
    size_t position = 0;
    patch->ForEachRow([&](uint64_t each, const char*) {
      if (each == id) positions.push_back(position);
      ++position;
    });
    return absl::InvalidArgumentError(absl::StrCat(
        "row id ", id, " appears twice in patch ", patch_id, " (positions ",
        positions[0], " and ", positions[1], "); a patch names each row once"));
  }
  return std::shared_ptr<const PatchRows>(std::move(patch));
}

bool PatchRows::Contains(uint64_t id) const {
  return std::binary_search(sorted_ids_.begin(), sorted_ids_.end(), id);
}

std::shared_ptr<const PatchOverlay> PatchOverlay::Create(
    std::vector<std::shared_ptr<const PatchRows>> patches) {
  return std::shared_ptr<const PatchOverlay>(
      new PatchOverlay(std::move(patches)));
}

PatchOverlay::PatchOverlay(
    std::vector<std::shared_ptr<const PatchRows>> patches)
    : patches_(std::move(patches)),
      row_bytes_(patches_.empty() ? 0 : patches_.front()->row_bytes()) {
  uint64_t ids = 0;
  for (const auto& patch : patches_) ids += patch->size();
  const int filter_bits_log2 = std::clamp(
      static_cast<int>(
          std::bit_width(std::max<uint64_t>(ids, 1) * kFilterBitsPerId - 1)),
      6, kMaxFilterBitsLog2);
  filter_shift_ = 64 - filter_bits_log2;
  filter_.assign((uint64_t{1} << filter_bits_log2) / 64, 0);
  const int slots_log2 =
      static_cast<int>(std::bit_width(std::max<uint64_t>(ids, 1) * 2 - 1));
  slot_shift_ = 64 - slots_log2;
  slot_mask_ = (size_t{1} << slots_log2) - 1;
  slots_.assign(size_t{1} << slots_log2, Slot{kEmpty, nullptr});
  // Bottom first, so that a higher patch's row replaces a lower one's.
  for (const auto& patch : patches_) {
    patch->ForEachRow([&](uint64_t id, const char* row) {
      const uint64_t bit = Hash(id) >> filter_shift_;
      filter_[bit / 64] |= uint64_t{1} << (bit % 64);
      size_t slot = Home(id);
      while (slots_[slot].id != kEmpty && slots_[slot].id != id) {
        slot = (slot + 1) & slot_mask_;
      }
      slots_[slot] = Slot{id, row};
    });
  }
}

const char* PatchOverlay::Probe(uint64_t id) const {
  for (size_t slot = Home(id);; slot = (slot + 1) & slot_mask_) {
    if (slots_[slot].id == id) return slots_[slot].row;
    if (slots_[slot].id == kEmpty) return nullptr;
  }
}

const char* PatchOverlay::Find(uint64_t id) const {
  return MayHave(id) ? Probe(id) : nullptr;
}

const PatchRows* PatchOverlay::Provider(uint64_t id) const {
  for (auto patch = patches_.rbegin(); patch != patches_.rend(); ++patch) {
    if ((*patch)->Contains(id)) return patch->get();
  }
  return nullptr;
}

void PatchOverlay::Apply(const PackedRowIds& ids, char* out,
                         MissingRows* missing) const {
  // In groups: first the filter picks the candidates and their slots are
  // prefetched, then they are probed, so that the cache misses of a group
  // overlap instead of following one another.
  constexpr size_t kGroup = 32;
  size_t candidates[kGroup];
  for (size_t first = 0; first < ids.size(); first += kGroup) {
    const size_t end = std::min(ids.size(), first + kGroup);
    size_t count = 0;
    for (size_t i = first; i < end; ++i) {
      const uint64_t id = ids[i];
      if (!MayHave(id)) continue;
      __builtin_prefetch(&slots_[Home(id)]);
      candidates[count++] = i;
    }
    for (size_t c = 0; c < count; ++c) {
      const size_t i = candidates[c];
      const char* row = Probe(ids[i]);
      if (row == nullptr) continue;
      std::memcpy(out + i * uint64_t{row_bytes_}, row, row_bytes_);
      if (missing != nullptr) missing->Clear(i);
    }
  }
}

std::vector<std::shared_ptr<const PatchRows>> PatchOverlay::WithoutShadowed(
    std::vector<std::shared_ptr<const PatchRows>> patches) {
  absl::flat_hash_set<uint64_t> above;
  std::vector<std::shared_ptr<const PatchRows>> kept;
  // Top first: a patch stays if some row of it is not replaced above.
  for (auto it = patches.rbegin(); it != patches.rend(); ++it) {
    bool provides = false;
    (*it)->ForEachRow(
        [&](uint64_t id, const char*) { provides |= above.insert(id).second; });
    if (provides) kept.push_back(std::move(*it));
  }
  std::reverse(kept.begin(), kept.end());
  return kept;
}

std::vector<uint64_t> PatchOverlay::ChangedIds(const PatchOverlay* a,
                                               const PatchOverlay* b) {
  static const std::vector<std::shared_ptr<const PatchRows>> kNone;
  const auto& left = a == nullptr ? kNone : a->patches();
  const auto& right = b == nullptr ? kNone : b->patches();
  size_t common = 0;
  while (common < left.size() && common < right.size() &&
         left[common] == right[common]) {
    ++common;
  }
  std::vector<uint64_t> changed;
  for (const auto* side : {&left, &right}) {
    for (size_t i = common; i < side->size(); ++i) {
      const absl::Span<const uint64_t> ids = (*side)[i]->sorted_ids();
      changed.insert(changed.end(), ids.begin(), ids.end());
    }
  }
  std::sort(changed.begin(), changed.end());
  changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
  return changed;
}

}  // namespace engram::server
