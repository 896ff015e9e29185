// Fuzzes the config file parser (`--config FILE` of engram-server and
// engram-worker) over flags of each type the programs use. Bad text must
// end in InvalidArgument naming the line, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/cli_flags.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051", "A string flag.");
ABSL_FLAG(uint64_t, ram_budget, 0, "A uint64 flag.");
ABSL_FLAG(int, retain_versions, 8, "An int flag.");
ABSL_FLAG(int64_t, demo_seed, 0, "An int64 flag.");
ABSL_FLAG(bool, mmap_reads, true, "A bool flag.");
ABSL_FLAG(double, hit_rate, 0.5, "A double flag.");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(10),
          "A duration flag.");

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const absl::Status status = engram::ApplyConfigText(text, "fuzz.conf");
  if (!status.ok() && status.code() != absl::StatusCode::kInvalidArgument) {
    __builtin_trap();  // The parser documents InvalidArgument only.
  }
  return 0;
}
