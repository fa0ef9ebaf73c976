// Implements parseEtcdUrl and EtcdConfig's key helpers.
#include "control_plane/etcd_config.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace mcmesh {
namespace control_plane {

namespace {
constexpr absl::string_view kScheme = "etcd://";
} // namespace

std::string EtcdConfig::endpointList() const { return absl::StrJoin(endpoints, ","); }

bool isEtcdUrl(absl::string_view url) { return absl::StartsWith(url, kScheme); }

absl::StatusOr<EtcdConfig> parseEtcdUrl(absl::string_view url) {
  const std::string usage = "want etcd://HOST:PORT[,HOST:PORT...]/PREFIX";
  if (!absl::ConsumePrefix(&url, kScheme)) {
    return absl::InvalidArgumentError(absl::StrCat("\"", url, "\" is not an etcd URL: ", usage));
  }
  const size_t slash = url.find('/');
  if (slash == absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("etcd URL has no key prefix: ", usage));
  }
  EtcdConfig config;
  for (absl::string_view endpoint : absl::StrSplit(url.substr(0, slash), ',')) {
    const size_t colon = endpoint.rfind(':');
    int port = 0;
    if (colon == absl::string_view::npos || colon == 0 ||
        !absl::SimpleAtoi(endpoint.substr(colon + 1), &port) || port <= 0 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad etcd endpoint \"", endpoint, "\": ", usage));
    }
    config.endpoints.emplace_back(endpoint);
  }
  absl::string_view prefix = absl::StripSuffix(url.substr(slash), "/");
  if (prefix.size() <= 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd URL needs a non-empty key prefix (e.g. /mcmesh): ", usage));
  }
  config.prefix = absl::StrCat(prefix, "/");
  return config;
}

} // namespace control_plane
} // namespace mcmesh
