// EtcdProxyDirectory: every replica's proxies, kept in etcd under a lease per replica.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "control_plane/etcd_client.h"
#include "control_plane/proxy_directory.h"
#include "control_plane/proxy_registry.h"

namespace mcmesh {
namespace control_plane {

/**
 * Publishes this replica's ProxyRegistry to etcd and lists everyone's from there, so
 * ListProxies on any replica shows every proxy. Each replica holds one lease (TTL `ttl`, kept
 * alive every ttl/3) and writes "<prefix>proxies/<proxy id>" = ProxyStatus (binary) attached to
 * it, at most every `interval` and only for entries that changed. When the replica dies its
 * lease expires and its entries disappear; a proxy that moved to another replica is rewritten by
 * that replica under its own lease. A replica writes "disconnected" for a proxy only while the
 * key is still under its own lease, so a proxy's old replica never overwrites the new one.
 *
 * If etcd cannot be reached, listProxies() falls back to this replica's own proxies.
 */
class EtcdProxyDirectory : public ProxyDirectory {
public:
  EtcdProxyDirectory(std::shared_ptr<EtcdClient> client, ProxyRegistry& registry,
                     std::string replica, absl::Duration ttl,
                     absl::Duration interval = absl::Milliseconds(200));
  ~EtcdProxyDirectory() override;

  /** Starts the publishing thread. */
  void start();
  /** Stops it (the lease then expires on its own). Idempotent. */
  void stop();

  // ProxyDirectory
  std::vector<mcmesh::v1::ProxyStatus> listProxies() override;

private:
  void run();
  // One round: keep the lease alive (or get a new one), then write changed entries.
  void publishOnce();

  const std::shared_ptr<EtcdClient> client_;
  ProxyRegistry& registry_;
  const std::string replica_;
  const absl::Duration ttl_;
  const absl::Duration interval_;

  // Used by the publishing thread only.
  int64_t lease_ = 0;
  absl::Time last_keepalive_;
  std::map<std::string, std::string> written_; // proxy id -> bytes last written
  bool logged_failure_ = false;

  absl::Mutex mutex_;
  bool stopping_ ABSL_GUARDED_BY(mutex_) = false;
  std::thread thread_;
};

} // namespace control_plane
} // namespace mcmesh
