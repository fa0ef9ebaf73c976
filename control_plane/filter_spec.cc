// Implements parseFilterSpec/formatFilterSpec.
#include "control_plane/filter_spec.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "control_plane/validator.h"

namespace mcmesh {
namespace control_plane {

absl::StatusOr<mcmesh::v1::FilterConfig> parseFilterSpec(absl::string_view spec) {
  const size_t colon = spec.find(':');
  const absl::string_view name = spec.substr(0, colon);
  if (name.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("filter \"", spec, "\" has no name"));
  }
  if (!isFilterName(name)) {
    // "stats,ketama_router" is what --filter_chain takes; here filters are separate arguments.
    if (name.find(',') != absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "filter name \"", name, "\" has a ','; give each filter as its own argument"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("filter name \"", name, "\" is not an identifier (want [a-z0-9_]+)"));
  }
  mcmesh::v1::FilterConfig filter;
  filter.set_name(std::string(name));
  if (colon == absl::string_view::npos) {
    return filter;
  }
  const absl::string_view options = spec.substr(colon + 1);
  if (options.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("filter \"", spec, "\" has a ':' but no options (want key=value,...)"));
  }
  auto& config = *filter.mutable_config();
  for (absl::string_view option : absl::StrSplit(options, ',')) {
    const size_t eq = option.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("option \"", option, "\" of filter \"", name, "\" is not key=value"));
    }
    const std::string key(option.substr(0, eq));
    if (key.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("option \"", option, "\" of filter \"", name, "\" has no key"));
    }
    // A map would keep only the last value; a repeated key is almost certainly a typo.
    if (!config.insert({key, std::string(option.substr(eq + 1))}).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("option \"", key, "\" of filter \"", name, "\" is given twice"));
    }
  }
  return filter;
}

std::string formatFilterSpec(const mcmesh::v1::FilterConfig& filter) {
  if (filter.config().empty()) {
    return filter.name();
  }
  const std::map<std::string, std::string> sorted(filter.config().begin(), filter.config().end());
  return absl::StrCat(filter.name(), ":", absl::StrJoin(sorted, ",", absl::PairFormatter("=")));
}

} // namespace control_plane
} // namespace mcmesh
