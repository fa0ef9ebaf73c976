// FilterRegistry: chain building and filter config helpers.
#include "proxy/filter_registry.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace mcmesh {

absl::Status FilterRegistry::add(std::string name, FilterFactoryBuilder builder, bool terminal) {
  if (entries_.count(name) != 0) {
    return absl::AlreadyExistsError(absl::StrCat("filter '", name, "' is already registered"));
  }
  entries_.emplace(std::move(name), Entry{std::move(builder), terminal, nullptr});
  return absl::OkStatus();
}

absl::Status FilterRegistry::addSettings(std::string name, SettingsTranslator translator) {
  if (entries_.count(name) != 0) {
    return absl::AlreadyExistsError(absl::StrCat("filter '", name, "' is already registered"));
  }
  entries_.emplace(std::move(name), Entry{nullptr, false, std::move(translator)});
  return absl::OkStatus();
}

bool FilterRegistry::has(absl::string_view name) const { return entries_.find(name) != entries_.end(); }

std::vector<std::string> FilterRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& e : entries_) out.push_back(e.first);
  return out;
}

std::vector<upstream::FilterSpec> FilterRegistry::defaultChain() {
  return {{"stats", {}}, {"ketama_router", {}}};
}

absl::StatusOr<FilterChainConstSharedPtr> FilterRegistry::buildChain(
    const std::vector<upstream::FilterSpec>& specs, const FilterContext& context) const {
  const std::vector<upstream::FilterSpec> effective = specs.empty() ? defaultChain() : specs;
  auto chain = std::make_shared<FilterChain>();
  FilterConfigMap terminal_settings;  // from settings entries, for the terminal filter.
  for (size_t i = 0; i < effective.size(); ++i) {
    const auto& spec = effective[i];
    if (spec.name == "decode") continue;  // the codec is connection-level; accepted for clarity.
    auto it = entries_.find(spec.name);
    if (it == entries_.end()) {
      return absl::InvalidArgumentError(absl::StrCat("unknown filter '", spec.name,
                                                     "' (known: ", absl::StrJoin(names(), ", "),
                                                     ")"));
    }
    bool last = i + 1 == effective.size();
    if (it->second.settings) {
      if (last) {
        return absl::InvalidArgumentError(
            absl::StrCat("chain must end with a router; '", spec.name, "' is not one"));
      }
      auto translated = it->second.settings(spec.config);
      if (!translated.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("filter '", spec.name, "': ", translated.status().message()));
      }
      for (auto& [key, value] : *translated) terminal_settings[key] = value;
      continue;
    }
    if (it->second.terminal != last) {
      return absl::InvalidArgumentError(
          it->second.terminal
              ? absl::StrCat("terminal filter '", spec.name,
                             "' must be last in the chain (nothing may run after the router)")
              : absl::StrCat("chain must end with a router; '", spec.name, "' is not one"));
    }
    FilterConfigMap config = spec.config;
    if (last) {
      for (auto& [key, value] : terminal_settings) config.emplace(key, value);
    }
    auto factory = it->second.builder(config, context);
    if (!factory.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("filter '", spec.name, "': ", factory.status().message()));
    }
    chain->names.push_back(spec.name);
    chain->factories.push_back(std::move(*factory));
  }
  if (chain->factories.empty()) return absl::InvalidArgumentError("filter chain is empty");
  return FilterChainConstSharedPtr(std::move(chain));
}

absl::StatusOr<uint64_t> configUint(const FilterConfigMap& config, absl::string_view key,
                                    uint64_t default_value) {
  auto it = config.find(std::string(key));
  if (it == config.end()) return default_value;
  uint64_t value = 0;
  if (!absl::SimpleAtoi(it->second, &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("option '", key, "' must be a non-negative integer, got '", it->second, "'"));
  }
  return value;
}

absl::StatusOr<bool> configBool(const FilterConfigMap& config, absl::string_view key,
                                bool default_value) {
  auto it = config.find(std::string(key));
  if (it == config.end()) return default_value;
  bool value = false;
  if (!absl::SimpleAtob(it->second, &value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("option '", key, "' must be true or false, got '", it->second, "'"));
  }
  return value;
}

}  // namespace mcmesh
