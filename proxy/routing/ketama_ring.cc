// Implements KetamaRing following twemproxy's nc_ketama.c (build, dispatch) and nc_conf.c (names).
#include "proxy/routing/ketama_ring.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "proxy/routing/md5.h"

namespace mcmesh::ketama {
namespace {

constexpr uint32_t kPointsPerServer = 160;
constexpr uint32_t kPointsPerHash = 4;
constexpr int kDefaultKetamaPort = 11211;
// nutcracker formats "<name>-<k>" into char[86] with snprintf, so 85 bytes at most; longer
// names would be truncated there and then hashed past the terminator, so we refuse them.
constexpr size_t kMaxPointNameLength = 85;

uint32_t digestWord(const Md5Digest& digest, uint32_t word) {
  const size_t i = (word & 3) * 4;  // Wraps, so a bad alignment can never read past the digest.
  return static_cast<uint32_t>(digest[i]) | static_cast<uint32_t>(digest[i + 1]) << 8 |
         static_cast<uint32_t>(digest[i + 2]) << 16 | static_cast<uint32_t>(digest[i + 3]) << 24;
}

/**
 * floorf(pct * 160 / 4 * n + 1e-10) * 4, evaluated in single precision step by step exactly as
 * nc_ketama.c does. The float rounding is part of the contract: with 25 equal servers it yields
 * 156 points each, not 160, and a double-precision version would disagree with nutcracker.
 */
uint32_t pointsForServer(uint32_t weight, uint32_t total_weight, size_t server_count) {
  const float pct = static_cast<float>(weight) / static_cast<float>(total_weight);
  const float scaled =
      pct * static_cast<float>(kPointsPerServer) / 4.0f * static_cast<float>(server_count);
  const float with_epsilon = static_cast<float>(static_cast<double>(scaled) + 0.0000000001);
  return static_cast<uint32_t>(std::floor(with_epsilon)) * kPointsPerHash;
}

}  // namespace

std::string ketamaServerName(const RingServer& server) {
  if (!server.name.empty()) {
    return server.name;
  }
  if (server.port == kDefaultKetamaPort) {
    return server.host;
  }
  return absl::StrCat(server.host, ":", server.port);
}

uint32_t ketamaHash(absl::string_view key, uint32_t alignment) {
  return digestWord(md5Digest(key), alignment);
}

uint32_t md5Hash(absl::string_view key) { return digestWord(md5Digest(key), 0); }

absl::StatusOr<KetamaRing> KetamaRing::build(const std::vector<RingServer>& servers) {
  if (servers.empty()) {
    return absl::InvalidArgumentError("ketama: no servers");
  }
  uint64_t total_weight = 0;
  for (const RingServer& server : servers) {
    if (server.weight == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("ketama: server ", ketamaServerName(server), " has zero weight"));
    }
    if (server.host.empty() && server.name.empty()) {
      return absl::InvalidArgumentError("ketama: server without host or name");
    }
    total_weight += server.weight;
  }
  if (total_weight > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError("ketama: total weight exceeds 2^32-1");
  }

  std::vector<Point> continuum;
  continuum.reserve(servers.size() * kPointsPerServer);
  for (size_t index = 0; index < servers.size(); ++index) {
    const std::string name = ketamaServerName(servers[index]);
    const uint32_t hashes = pointsForServer(servers[index].weight,
                                            static_cast<uint32_t>(total_weight), servers.size()) /
                            kPointsPerHash;
    if (hashes > 0 && name.size() + 1 + absl::StrCat(hashes - 1).size() > kMaxPointNameLength) {
      return absl::InvalidArgumentError(
          absl::StrCat("ketama: server name too long for nutcracker compatibility: ", name));
    }
    for (uint32_t k = 0; k < hashes; ++k) {
      const Md5Digest digest = md5Digest(absl::StrCat(name, "-", k));
      for (uint32_t word = 0; word < kPointsPerHash; ++word) {
        continuum.push_back({digestWord(digest, word), static_cast<uint32_t>(index)});
      }
    }
  }
  // Stable, so equal values keep server order: what glibc's merge-sort qsort gives nutcracker.
  std::stable_sort(continuum.begin(), continuum.end(),
                   [](const Point& a, const Point& b) { return a.value < b.value; });
  return KetamaRing(servers.size(), std::move(continuum));
}

size_t KetamaRing::serverIndexFor(absl::string_view key) const {
  // nutcracker skips hashing for one server and hashes an empty key to 0 (server_pool_hash).
  if (server_count_ == 1) {
    return 0;
  }
  return serverIndexForHash(key.empty() ? 0 : md5Hash(key));
}

size_t KetamaRing::serverIndexForHash(uint32_t hash) const {
  // build() guarantees a non-empty continuum: the heaviest server always gets points.
  auto it = std::lower_bound(continuum_.begin(), continuum_.end(), hash,
                             [](const Point& point, uint32_t h) { return point.value < h; });
  if (it == continuum_.end()) {
    it = continuum_.begin();
  }
  return it->server_index;
}

}  // namespace mcmesh::ketama
