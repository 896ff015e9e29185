#include "common/cli_flags.h"

#include <cstdio>
#include <cstdlib>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/logging.h"
#include "common/read_file.h"
#include "common/status_macros.h"

ABSL_FLAG(int, v, 0, "Verbose logging level: VLOG(n) prints when n <= --v.");

namespace engram {
namespace {

// "--data-dir=x" -> "--data_dir=x"; values and positional args untouched.
std::string NormalizeFlagName(absl::string_view arg) {
  if (!absl::StartsWith(arg, "--") || arg == "--") return std::string(arg);
  const size_t equals = arg.find('=');
  absl::string_view name = arg.substr(0, equals);
  std::string normalized = absl::StrReplaceAll(name, {{"-", "_"}});
  normalized.replace(0, 2, "--");
  if (equals != absl::string_view::npos) {
    absl::StrAppend(&normalized, arg.substr(equals));
  }
  return normalized;
}

// Finds "--config FILE" or "--config=FILE" in normalised args.
std::string FindConfigPath(const std::vector<std::string>& args) {
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--config" && i + 1 < args.size()) return args[i + 1];
    if (absl::StartsWith(args[i], "--config=")) return args[i].substr(9);
  }
  return "";
}

}  // namespace

absl::StatusOr<std::vector<int64_t>> ParseIntegerList(absl::string_view flag,
                                                      absl::string_view text) {
  std::vector<int64_t> values;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    int64_t value;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(item), &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", flag, ": '", item, "' is not an integer"));
    }
    values.push_back(value);
  }
  return values;
}

absl::Status ApplyConfigText(absl::string_view config,
                             absl::string_view source) {
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(config, '\n')) {
    ++line_number;
    absl::string_view text = line.substr(0, line.find('#'));
    text = absl::StripAsciiWhitespace(text);
    if (text.empty()) continue;
    absl::ConsumePrefix(&text, "--");
    const size_t equals = text.find('=');
    if (equals == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", line_number,
                       ": expected 'name = value', got '", line, "'"));
    }
    const std::string name = absl::StrReplaceAll(
        absl::StripAsciiWhitespace(text.substr(0, equals)), {{"-", "_"}});
    const absl::string_view value =
        absl::StripAsciiWhitespace(text.substr(equals + 1));
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr || name == "config") {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ":", line_number, ": unknown setting '", name, "'"));
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ":", line_number, ": bad value for '", name, "': ", error));
    }
  }
  return absl::OkStatus();
}

absl::Status ApplyConfigFile(const std::string& path) {
  ENGRAM_ASSIGN_OR_RETURN(const std::string config,
                          ReadFileToString(path, "config "));
  return ApplyConfigText(config, path);
}

std::vector<std::string> ParseCommandLine(int argc, char** argv,
                                          absl::string_view usage,
                                          bool config_flag) {
  absl::SetProgramUsageMessage(usage);
  std::vector<std::string> normalized;
  normalized.reserve(argc);
  bool after_double_dash = false;
  for (int i = 0; i < argc; ++i) {
    normalized.push_back(after_double_dash ? std::string(argv[i])
                                           : NormalizeFlagName(argv[i]));
    after_double_dash = after_double_dash || normalized.back() == "--";
  }
  if (config_flag) {
    const std::string config_path = FindConfigPath(normalized);
    if (!config_path.empty()) {
      if (absl::Status status = ApplyConfigFile(config_path); !status.ok()) {
        std::fprintf(stderr, "%s\n", std::string(status.message()).c_str());
        std::exit(2);
      }
    }
  }
  std::vector<char*> pointers;
  for (std::string& arg : normalized) pointers.push_back(arg.data());
  std::vector<char*> positional = absl::ParseCommandLine(
      static_cast<int>(pointers.size()), pointers.data());
  logging_internal::SetVerbosity(absl::GetFlag(FLAGS_v));
  return std::vector<std::string>(positional.begin() + 1, positional.end());
}

}  // namespace engram
