// EtcdClient: the few etcd v3 calls the control plane needs, over several endpoints.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "control_plane/etcd_config.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"

namespace mcmesh {
namespace control_plane {

/**
 * Talks to one etcd member at a time (the "current endpoint") and moves to the next when a call
 * finds it unreachable or leaderless, so a dead member or a lost leader costs one retry, not an
 * outage. Every call carries "hasleader: true": a member cut off from its leader refuses at once
 * (UNAVAILABLE "etcdserver: no leader") instead of letting the call hang, and Watch streams are
 * cancelled when their member loses the leader. With a user configured it authenticates and
 * re-authenticates when etcd rejects the token. Thread-safe.
 *
 * Errors: UNAVAILABLE when no member could serve the call (etcd down, no quorum): nothing was
 * done; DEADLINE_EXCEEDED when a member took the call but did not answer in time: a write may
 * still commit later; ABORTED when a compare-and-put lost the race; other codes as etcd said.
 */
class EtcdClient {
public:
  struct KeyValue {
    std::string key;
    std::string value;
    int64_t mod_revision = 0;
    int64_t lease = 0;
  };
  struct RangeResult {
    std::vector<KeyValue> kvs;
    // The store's revision when it answered: watching from revision + 1 misses nothing.
    int64_t revision = 0;
  };

  explicit EtcdClient(EtcdConfig config);

  const EtcdConfig& config() const { return config_; }

  /** Linearizable read of one key (kvs empty if absent). */
  absl::StatusOr<RangeResult> get(const std::string& key);
  /** Linearizable read of every key starting with prefix. */
  absl::StatusOr<RangeResult> getPrefix(const std::string& prefix);
  /**
   * One Txn: put key=value if the key's mod revision is still `mod_revision` (0: only if the key
   * does not exist). @return the revision the put created; ABORTED if the key moved on.
   */
  absl::StatusOr<int64_t> putIfModRevision(const std::string& key, const std::string& value,
                                           int64_t mod_revision);
  /** Put, attached to `lease` (0 = no lease). */
  absl::Status put(const std::string& key, const std::string& value, int64_t lease);
  /** Put only if the key is attached to `lease` now; ABORTED otherwise (an absent key has none). */
  absl::Status putIfLease(const std::string& key, const std::string& value, int64_t lease);
  /** @return a new lease id with this TTL. */
  absl::StatusOr<int64_t> grantLease(int64_t ttl_seconds);
  /** Refreshes a lease. @return its TTL; NOT_FOUND if it already expired. */
  absl::StatusOr<int64_t> keepAlive(int64_t lease);

  // For streaming callers (Watch), which manage their own stream.
  struct Endpoint {
    size_t index = 0;
    std::string address;
    std::shared_ptr<grpc::Channel> channel;
  };
  /** @return the current endpoint. */
  Endpoint current();
  /** Adds the auth token (if any) and "hasleader"; no deadline. */
  absl::Status prepareStream(const Endpoint& endpoint, grpc::ClientContext& context);
  /** The endpoint failed: later calls start at the next one (no-op if someone already moved). */
  void rotate(size_t failed_index);

private:
  // Runs `attempt` against the current endpoint, moving on and retrying while members are
  // unreachable or leaderless (each endpoint at most once), re-authenticating once if needed.
  template <class Attempt> absl::Status call(const char* what, const Attempt& attempt);
  // Fetches a token on this endpoint if auth is on and none is cached.
  absl::Status ensureToken(const Endpoint& endpoint);
  void addMetadata(grpc::ClientContext& context);

  const EtcdConfig config_;
  absl::Mutex mutex_;
  size_t current_ ABSL_GUARDED_BY(mutex_) = 0;
  std::vector<std::shared_ptr<grpc::Channel>> channels_ ABSL_GUARDED_BY(mutex_);
  std::string token_ ABSL_GUARDED_BY(mutex_);
};

using EtcdClientPtr = std::unique_ptr<EtcdClient>;

} // namespace control_plane
} // namespace mcmesh
