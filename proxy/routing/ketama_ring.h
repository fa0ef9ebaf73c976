// Owns the twemproxy-compatible ketama continuum (distribution: ketama, hash: md5); pure, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace mcmesh::ketama {

// One ring member, as a nutcracker `servers:` entry "host:port:weight [name]" describes it.
struct RingServer {
  std::string host;  // As written in the config: nutcracker hashes the text, not the address.
  int port = 0;
  uint32_t weight = 1;
  std::string name;  // Optional nutcracker "name" field; when set it alone names the points.
};

/**
 * The text nutcracker hashes for a server's points (src/nc_conf.c, conf_add_server): the "name"
 * field if given; else "host" when the port is 11211 (libmemcached compatibility); else
 * "host:port". Points are then "<this>-<k>".
 */
std::string ketamaServerName(const RingServer& server);

// Word `alignment` (0..3, little-endian) of md5(key): one continuum point (nc_ketama.c).
uint32_t ketamaHash(absl::string_view key, uint32_t alignment);

// twemproxy's `hash: md5` key hash (hash_md5): the first four digest bytes, little-endian.
uint32_t md5Hash(absl::string_view key);

/**
 * An immutable continuum, built once per topology snapshot and shared read-only by workers.
 * Health is deliberately not in here (unlike twemproxy): ejecting a host is the caller's view,
 * so a flapping host never rebuilds rings.
 */
class KetamaRing {
 public:
  struct Point {
    uint32_t value;
    uint32_t server_index;  // Index into the vector passed to build().
  };

  /**
   * Builds the continuum exactly as nutcracker does with every server live.
   * @return INVALID_ARGUMENT for an empty list, a zero weight (nutcracker refuses those, and
   *         counting one would shift every other server's share), a total weight above 2^32-1,
   *         a missing host and name, or a point name longer than nutcracker's 85-byte buffer.
   */
  static absl::StatusOr<KetamaRing> build(const std::vector<RingServer>& servers);

  // @return the owner of key, as an index into the servers vector passed to build().
  size_t serverIndexFor(absl::string_view key) const;

  // The owner of a precomputed md5Hash(): first point >= hash, wrapping to the first point.
  size_t serverIndexForHash(uint32_t hash) const;

  size_t serverCount() const { return server_count_; }

  // Sorted by value; exposed for tests and diagnostics (points per server, spread).
  const std::vector<Point>& continuum() const { return continuum_; }

 private:
  KetamaRing(size_t server_count, std::vector<Point> continuum)
      : server_count_(server_count), continuum_(std::move(continuum)) {}

  size_t server_count_;
  std::vector<Point> continuum_;
};

}  // namespace mcmesh::ketama
