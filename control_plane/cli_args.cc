// Implements CliArgs.
#include "control_plane/cli_args.h"

#include "absl/strings/str_cat.h"

namespace mcmesh {
namespace control_plane {

CliArgs::CliArgs(std::set<std::string> value_flags, std::set<std::string> bool_flags)
    : value_flags_(std::move(value_flags)), bool_flags_(std::move(bool_flags)) {}

absl::Status CliArgs::parse(int argc, char** argv) {
  bool flags_done = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (flags_done || arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
      if (arg == "--") {
        flags_done = true;
        continue;
      }
      positional_.push_back(arg);
      continue;
    }
    const size_t eq = arg.find('=');
    const std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    if (value_flags_.count(name) > 0) {
      if (eq != std::string::npos) {
        values_.emplace(name, arg.substr(eq + 1));
      } else if (i + 1 < argc) {
        values_.emplace(name, argv[++i]);
      } else {
        return absl::InvalidArgumentError(absl::StrCat("flag --", name, " needs a value"));
      }
    } else if (bool_flags_.count(name) > 0) {
      const std::string value = eq == std::string::npos ? "true" : arg.substr(eq + 1);
      if (value != "true" && value != "false") {
        return absl::InvalidArgumentError(absl::StrCat("flag --", name, " is true or false"));
      }
      values_.emplace(name, value);
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
    }
  }
  return absl::OkStatus();
}

std::string CliArgs::get(const std::string& name, const std::string& fallback) const {
  auto range = values_.equal_range(name);
  if (range.first == range.second) {
    return fallback;
  }
  return std::prev(range.second)->second;
}

bool CliArgs::flag(const std::string& name) const { return get(name, "false") == "true"; }

std::vector<std::string> CliArgs::all(const std::string& name) const {
  std::vector<std::string> result;
  auto range = values_.equal_range(name);
  for (auto it = range.first; it != range.second; ++it) {
    result.push_back(it->second);
  }
  return result;
}

} // namespace control_plane
} // namespace mcmesh
