// DiscoveryClient: the proxy's side of the topology stream (subscribe, apply, ACK/NACK, retry).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "api/mcmesh/v1/discovery.grpc.pb.h"
#include "api/mcmesh/v1/topology.pb.h"
#include "control_plane/stream_loop.h"
#include "grpcpp/client_context.h"
#include "grpcpp/security/credentials.h"

namespace mcmesh {
namespace control_plane {

struct DiscoveryClientOptions {
  // Channel credentials; null means plaintext (grpc::InsecureChannelCredentials()).
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // Reconnect backoff: doubles from initial to max (with +-20% jitter); reset after a stream
  // delivered a snapshot.
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  // Where to write one line per connect, apply, NACK and disconnect; null = stderr.
  std::function<void(absl::string_view)> log;
};

/**
 * Subscribes a proxy to the control plane and keeps it subscribed. Runs one thread: open the
 * stream, send {proxy_id, cluster, applied version}, then for each snapshot call `apply` and
 * answer ACK (apply returned OK) or NACK with apply's message (the proxy keeps its last good
 * topology). A snapshot identical to the last applied one is ACKed without calling `apply` again
 * (e.g. after a reconnect). A snapshot older than the applied one by (epoch, version) is NACKed
 * without calling `apply` (checkSnapshotOrder): versions never go backwards unless the control
 * plane raised the epoch (a deliberate reset). When the stream breaks it reconnects with
 * exponential backoff.
 * `target` may list several control-plane replicas ("a:18000,b:18000,c:18000"): when the stream
 * to one breaks, the client moves straight on to the next (backing off only after a whole round
 * without a snapshot), keeping the last applied topology meanwhile.
 * `apply` runs on the client's thread; the proxy validates (validateTopology, filter names) and
 * posts the new snapshot to its workers from there.
 */
class DiscoveryClient {
public:
  using ApplyFn = std::function<absl::Status(const mcmesh::v1::Topology&)>;

  DiscoveryClient(std::string target, std::string proxy_id, std::string cluster, ApplyFn apply);
  DiscoveryClient(std::string target, std::string proxy_id, std::string cluster, ApplyFn apply,
                  DiscoveryClientOptions options);
  ~DiscoveryClient();

  /** Starts the thread; call once. */
  void start();
  /** Cancels the stream and joins the thread; returns promptly. Idempotent. */
  void stop();
  /** @return true while a stream is open and has delivered at least one snapshot. */
  bool connected() const { return connected_.load(); }
  /** @return the version of the last snapshot `apply` accepted (0 = none). */
  uint64_t appliedVersion() const { return applied_version_.load(); }
  /** @return the epoch of that snapshot (0 = none, or never reset). */
  uint64_t appliedEpoch() const { return applied_epoch_.load(); }

private:
  void run();
  // One stream to `target`, from open to close. @return true if it delivered a snapshot.
  // wait_for_ready: wait for the channel to connect (one target) instead of failing fast (several
  // targets, where failing fast means trying the next one).
  bool runStream(mcmesh::v1::DiscoveryService::Stub& stub, const std::string& target,
                 bool wait_for_ready);
  void log(absl::string_view line) const;

  const std::string target_;
  // target_ split at commas.
  const std::vector<std::string> targets_;
  const std::string proxy_id_;
  const std::string cluster_;
  const ApplyFn apply_;
  const DiscoveryClientOptions options_;

  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> applied_version_{0};
  // The epoch of that snapshot (Topology.epoch), the first half of the order checked.
  std::atomic<uint64_t> applied_epoch_{0};
  // Serialized form of the last applied topology, to skip re-applying an identical snapshot.
  std::string applied_bytes_;

  StreamLoop loop_;
};

using DiscoveryClientPtr = std::unique_ptr<DiscoveryClient>;

} // namespace control_plane
} // namespace mcmesh
