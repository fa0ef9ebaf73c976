// Placement: where a key's request goes given the topology and health. The ring says who owns a
// key; health says whether the owner can take it now. With EjectPolicy::kBackup (magent's) an
// ejected primary's keys go to the backup; with kRehash (twemproxy's auto_eject) they go to the
// owner on a ring of the primaries still available.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "proxy/replication/upstreams.h"
#include "proxy/routing/ketama_ring.h"

namespace mcmesh::replication {

class Placement {
 public:
  /**
   * @return the primary to send `key` to now: its owner if available, the rehashed owner under
   *         kRehash, or null (the backup's turn) under kBackup.
   */
  const upstream::HostConfig* routeFor(Upstreams& upstreams, absl::string_view key);
  /**
   * routeFor(request.keys[0]) for a single-key request, decided once per request, key and
   * topology: the answer is recorded on the request (Request::route) and returned as is while
   * the topology and the key are the same, even if health changed since, so every filter and the
   * router agree on where the request goes. Null for a request without exactly one key (a
   * multi-key get places each key with routeFor).
   */
  const upstream::HostConfig* routeOf(Upstreams& upstreams, Request& request);

 private:
  const upstream::HostConfig* rehashedPrimaryFor(Upstreams& upstreams, absl::string_view key);

  // Rebuilt only when the set of ejected primaries (or the snapshot) changes, never per request.
  const upstream::ClusterSnapshot* rehash_snapshot_ = nullptr;
  std::string rehash_excluded_;
  std::vector<upstream::HostConfig> rehash_hosts_;
  std::unique_ptr<ketama::KetamaRing> rehash_ring_;
};

}  // namespace mcmesh::replication
