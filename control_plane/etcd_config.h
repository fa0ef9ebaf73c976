// EtcdConfig: where the etcd store lives (endpoints, key prefix) and how to talk to it.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace mcmesh {
namespace control_plane {

/** Everything an EtcdClient needs. Built from --store=etcd://... plus the etcd_* flags. */
struct EtcdConfig {
  // "host:port" of each cluster member; the client uses one at a time and moves on when it fails.
  std::vector<std::string> endpoints;
  // Every key the control plane writes starts with this; always ends with '/' ("/mcmesh/").
  std::string prefix;
  // etcd user and password (etcd's auth); empty user = auth off.
  std::string user;
  std::string password;
  // TLS to etcd: on when `tls` is set; the PEMs are optional (system roots, no client cert).
  bool tls = false;
  std::string tls_ca_pem;
  std::string tls_cert_pem;
  std::string tls_key_pem;
  // Deadline of each unary call. A member that has lost its leader answers at once (we ask for
  // "hasleader"); this bounds the rest, e.g. a member that is itself cut off.
  absl::Duration request_timeout = absl::Seconds(3);

  /** @return "h1:p1,h2:p2" for messages. */
  std::string endpointList() const;
  /** @return the key of the topology: "<prefix>topology". */
  std::string topologyKey() const { return prefix + "topology"; }
  /** @return the directory of proxy status keys: "<prefix>proxies/". */
  std::string proxiesPrefix() const { return prefix + "proxies/"; }
};

/** @return true if a --store value names etcd ("etcd://..."). */
bool isEtcdUrl(absl::string_view url);

/**
 * Parses "etcd://HOST:PORT[,HOST:PORT...]/PREFIX" (PREFIX non-empty, may contain '/').
 * @return INVALID_ARGUMENT saying what is wrong.
 */
absl::StatusOr<EtcdConfig> parseEtcdUrl(absl::string_view url);

} // namespace control_plane
} // namespace mcmesh
