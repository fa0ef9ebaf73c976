// AdminServiceImpl: the operator API (topology and filter changes, GetTopology, ListProxies), auth.
#pragma once

#include <string>

#include "api/mcmesh/v1/admin.grpc.pb.h"
#include "control_plane/proxy_directory.h"
#include "control_plane/topology_service.h"

namespace mcmesh {
namespace control_plane {

/**
 * Thin gRPC adapter over TopologyService and a ProxyDirectory. When `token` is non-empty every call
 * must carry metadata "authorization: Bearer <token>" or is refused with UNAUTHENTICATED (the
 * token is compared in constant time and never logged).
 */
class AdminServiceImpl final : public mcmesh::v1::AdminService::Service {
public:
  AdminServiceImpl(TopologyService& topology, ProxyDirectory& proxies, std::string token);

  grpc::Status CreateCluster(grpc::ServerContext* context,
                             const mcmesh::v1::CreateClusterRequest* request,
                             mcmesh::v1::TopologyChangeResponse* response) override;
  grpc::Status AddNode(grpc::ServerContext* context, const mcmesh::v1::AddNodeRequest* request,
                       mcmesh::v1::TopologyChangeResponse* response) override;
  grpc::Status DrainNode(grpc::ServerContext* context, const mcmesh::v1::DrainNodeRequest* request,
                         mcmesh::v1::TopologyChangeResponse* response) override;
  grpc::Status RemoveNode(grpc::ServerContext* context,
                          const mcmesh::v1::RemoveNodeRequest* request,
                          mcmesh::v1::TopologyChangeResponse* response) override;
  grpc::Status SetWeight(grpc::ServerContext* context, const mcmesh::v1::SetWeightRequest* request,
                         mcmesh::v1::TopologyChangeResponse* response) override;
  grpc::Status SetBackup(grpc::ServerContext* context, const mcmesh::v1::SetBackupRequest* request,
                         mcmesh::v1::TopologyChangeResponse* response) override;
  grpc::Status SetFilters(grpc::ServerContext* context,
                          const mcmesh::v1::SetFiltersRequest* request,
                          mcmesh::v1::SetFiltersResponse* response) override;
  grpc::Status GetTopology(grpc::ServerContext* context,
                           const mcmesh::v1::GetTopologyRequest* request,
                           mcmesh::v1::GetTopologyResponse* response) override;
  grpc::Status ListProxies(grpc::ServerContext* context,
                           const mcmesh::v1::ListProxiesRequest* request,
                           mcmesh::v1::ListProxiesResponse* response) override;
  grpc::Status ResetEpoch(grpc::ServerContext* context,
                          const mcmesh::v1::ResetEpochRequest* request,
                          mcmesh::v1::TopologyChangeResponse* response) override;

private:
  // OK when no token is configured or the call carries the right one.
  grpc::Status authenticate(grpc::ServerContext* context, const char* method) const;

  TopologyService& topology_;
  ProxyDirectory& proxies_;
  const std::string token_;
};

} // namespace control_plane
} // namespace mcmesh
