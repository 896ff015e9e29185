// A progress display for long CLI operations (imports, uploads): a bar with
// rate and ETA redrawn in place on a terminal, or a plain line every few
// seconds when stderr is a file or pipe (CI logs).
//
//   ProgressBar progress("import layer_1", total_bytes);
//   progress.Update(done_bytes);   // as often as convenient
//   progress.Finish();
#ifndef ENGRAM_CLI_PROGRESS_BAR_H_
#define ENGRAM_CLI_PROGRESS_BAR_H_

#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace engram::cli {

class ProgressBar {
 public:
  // `lines`: a plain line per redraw even on a terminal, for bars that
  // concurrent tasks draw at once (redrawn in place, they would overwrite
  // each other).
  ProgressBar(std::string label, uint64_t total_bytes, bool lines = false);

  // Records `done_bytes` and redraws when it is time to.
  void Update(uint64_t done_bytes);
  // Draws the final state and ends the line.
  void Finish();

  // The text of one progress line (for tests): label, percent, MB/s, ETA.
  static std::string Render(const std::string& label, uint64_t done,
                            uint64_t total, absl::Duration elapsed, int width);

 private:
  void Draw();

  const std::string label_;
  const uint64_t total_;
  const bool terminal_;
  const absl::Time start_;
  absl::Time last_draw_ = absl::InfinitePast();
  uint64_t done_ = 0;
};

}  // namespace engram::cli

#endif  // ENGRAM_CLI_PROGRESS_BAR_H_
