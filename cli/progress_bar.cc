#include "cli/progress_bar.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace engram::cli {
namespace {

// How often to redraw: smooth on a terminal, sparse in a log.
constexpr absl::Duration kTerminalInterval = absl::Milliseconds(100);
constexpr absl::Duration kLogInterval = absl::Seconds(5);
constexpr int kBarWidth = 30;

}  // namespace

ProgressBar::ProgressBar(std::string label, uint64_t total_bytes, bool lines)
    : label_(std::move(label)),
      total_(total_bytes),
      terminal_(!lines && isatty(STDERR_FILENO) == 1),
      start_(absl::Now()) {}

std::string ProgressBar::Render(const std::string& label, uint64_t done,
                                uint64_t total, absl::Duration elapsed,
                                int width) {
  const double fraction =
      total == 0 ? 1.0 : std::min(1.0, static_cast<double>(done) / total);
  const int filled = static_cast<int>(fraction * width);
  const double seconds = std::max(1e-6, absl::ToDoubleSeconds(elapsed));
  const double rate = done / seconds;
  std::string eta = "--";
  if (rate > 0 && done < total) {
    eta = absl::StrFormat("%.0fs", (total - done) / rate);
  } else if (done >= total) {
    eta = "0s";
  }
  return absl::StrFormat("%s [%s%s] %5.1f%% %.1f/%.1f MB %.1f MB/s ETA %s",
                         label, std::string(filled, '='),
                         std::string(width - filled, ' '), fraction * 100,
                         done / 1e6, total / 1e6, rate / 1e6, eta);
}

void ProgressBar::Update(uint64_t done_bytes) {
  done_ = done_bytes;
  const absl::Time now = absl::Now();
  if (now - last_draw_ < (terminal_ ? kTerminalInterval : kLogInterval)) return;
  last_draw_ = now;
  Draw();
}

void ProgressBar::Finish() {
  Draw();
  if (terminal_) std::fputc('\n', stderr);
}

void ProgressBar::Draw() {
  const std::string line =
      Render(label_, done_, total_, absl::Now() - start_, kBarWidth);
  std::fprintf(stderr, terminal_ ? "\r%s" : "%s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace engram::cli
