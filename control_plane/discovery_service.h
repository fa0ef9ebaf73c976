// DiscoveryServiceImpl: the server side of the proxies' topology stream (push, ACK/NACK).
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "api/mcmesh/v1/discovery.grpc.pb.h"
#include "control_plane/proxy_registry.h"
#include "control_plane/topology_service.h"

namespace mcmesh {
namespace control_plane {

/**
 * Sync-API implementation of StreamTopology. Per stream, the gRPC handler thread reads requests
 * (ACK/NACK) and a writer thread pushes snapshots: it waits until the TopologyService publishes a
 * version it has not sent, then writes it with a fresh nonce. A topology at version 0 (nothing
 * ever written) is not sent. shutdown() cancels every open stream so server shutdown never hangs.
 */
class DiscoveryServiceImpl final : public mcmesh::v1::DiscoveryService::Service {
public:
  DiscoveryServiceImpl(TopologyService& topology, ProxyRegistry& registry);
  ~DiscoveryServiceImpl() override;

  grpc::Status StreamTopology(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<mcmesh::v1::DiscoveryResponse, mcmesh::v1::DiscoveryRequest>* stream)
      override;

  /** Cancels all open streams and refuses new ones (UNAVAILABLE). Idempotent. */
  void shutdown();

  /**
   * Stops (false) or resumes (true) serving proxies without shutting down: when stopping, open
   * streams are cancelled and new ones refused with UNAVAILABLE and `reason`, so proxies move to
   * another control-plane replica. Used while this replica has lost its store.
   */
  void setServing(bool serving, const std::string& reason);

private:
  struct Stream;

  TopologyService& topology_;
  ProxyRegistry& registry_;
  absl::Mutex mutex_;
  bool shutting_down_ ABSL_GUARDED_BY(mutex_) = false;
  // Non-empty while not serving (setServing(false)): why, for the refused proxies.
  std::string not_serving_reason_ ABSL_GUARDED_BY(mutex_);
  std::set<Stream*> streams_ ABSL_GUARDED_BY(mutex_);
  uint64_t next_stream_id_ ABSL_GUARDED_BY(mutex_) = 1;
};

} // namespace control_plane
} // namespace mcmesh
