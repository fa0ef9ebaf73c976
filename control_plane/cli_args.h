// CliArgs: minimal "--name=value" / "--name value" / "--flag" parsing for the two binaries.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace mcmesh {
namespace control_plane {

/**
 * Splits argv into known flags and positional arguments. Value flags accept "--name=value" and
 * "--name value"; boolean flags accept "--name" (and "--name=true/false"). Flags may appear
 * anywhere; "--" ends flag parsing. Unknown flags are an error (so typos do not pass silently).
 * Used instead of absl flags because Debian's abseil ships no libabsl_flags.
 */
class CliArgs {
public:
  CliArgs(std::set<std::string> value_flags, std::set<std::string> bool_flags);

  /** @return INVALID_ARGUMENT naming the bad argument. */
  absl::Status parse(int argc, char** argv);

  bool has(const std::string& name) const { return values_.count(name) > 0; }
  /** @return the last value given for a flag, or fallback. */
  std::string get(const std::string& name, const std::string& fallback = "") const;
  /** @return true if a boolean flag was set (and not to false). */
  bool flag(const std::string& name) const;
  /** @return every value given for a repeatable flag, in order. */
  std::vector<std::string> all(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

private:
  const std::set<std::string> value_flags_;
  const std::set<std::string> bool_flags_;
  std::multimap<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

} // namespace control_plane
} // namespace mcmesh
