// Command-line parsing shared by the project's programs, on Abseil flags.
//
//   int main(int argc, char** argv) {
//     std::vector<std::string> args = engram::ParseCommandLine(
//         argc, argv, "usage: engramctl [flags] COMMAND ...",
//         /*config_flag=*/false);
//
// On top of absl::ParseCommandLine it
//   - accepts dashes in flag names (--data-dir is --data_dir), the form the
//     documentation uses;
//   - with config_flag, reads `--config FILE` first: one `name = value` (or
//     `--name=value`) per line, '#' starts a comment; values there are
//     defaults that the command line overrides;
//   - applies --v to VLOG.
// Bad flags or config lines print a message and exit(2).
// Returns the positional arguments, the program name excluded.
#ifndef ENGRAM_COMMON_CLI_FLAGS_H_
#define ENGRAM_COMMON_CLI_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace engram {

std::vector<std::string> ParseCommandLine(int argc, char** argv,
                                          absl::string_view usage,
                                          bool config_flag);

// Parses a flag's comma-separated integers ("1,15"). InvalidArgument naming
// `flag` and the bad item otherwise.
absl::StatusOr<std::vector<int64_t>> ParseIntegerList(absl::string_view flag,
                                                      absl::string_view text);

// Applies the settings of config text (format above) to the flags; errors
// name `source` (the file) and the line. InvalidArgument for unknown flags
// or bad values.
absl::Status ApplyConfigText(absl::string_view config,
                             absl::string_view source);

// Applies the settings of a config file (format above) to the flags.
// InvalidArgument naming the line for unknown flags or bad values; NotFound
// if the file cannot be read.
absl::Status ApplyConfigFile(const std::string& path);

}  // namespace engram

#endif  // ENGRAM_COMMON_CLI_FLAGS_H_
