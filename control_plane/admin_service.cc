// Implements AdminServiceImpl: bearer-token check, then one TopologyService call per RPC.
#include "control_plane/admin_service.h"

#include "absl/strings/str_cat.h"
#include "control_plane/log.h"

namespace mcmesh {
namespace control_plane {
namespace {

grpc::Status toGrpc(const absl::Status& status) {
  if (status.ok()) {
    return grpc::Status::OK;
  }
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

// Trailing metadata telling clients that the control plane answered (as opposed to a transport
// failure on the way to it): mcmeshctl then says "the store is unavailable", not "cannot reach".
constexpr char kAnsweredKey[] = "mcmesh-answered-by";

// Response is TopologyChangeResponse or SetFiltersResponse (same fields).
template <class Response>
grpc::Status answer(grpc::ServerContext* context,
                    const absl::StatusOr<TopologyConstSharedPtr>& result, Response* response) {
  if (!result.ok()) {
    context->AddTrailingMetadata(kAnsweredKey, "mcmesh_cp");
    return toGrpc(result.status());
  }
  response->set_version((*result)->version());
  *response->mutable_topology() = **result;
  return grpc::Status::OK;
}

// Compares without an early exit, so timing does not reveal how much of a guess was right
// (only its length).
bool constantTimeEquals(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) {
    return false;
  }
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

} // namespace

AdminServiceImpl::AdminServiceImpl(TopologyService& topology, ProxyDirectory& proxies,
                                   std::string token)
    : topology_(topology), proxies_(proxies), token_(std::move(token)) {}

grpc::Status AdminServiceImpl::authenticate(grpc::ServerContext* context,
                                            const char* method) const {
  if (token_.empty()) {
    return grpc::Status::OK;
  }
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  if (it != metadata.end()) {
    const std::string value(it->second.data(), it->second.size());
    if (constantTimeEquals(value, absl::StrCat("Bearer ", token_))) {
      return grpc::Status::OK;
    }
  }
  logLine(absl::StrCat("refused ", method, " from ", context->peer(),
                       it == metadata.end() ? ": no bearer token" : ": wrong bearer token"));
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      "admin calls need metadata \"authorization: Bearer <token>\" with the "
                      "control plane's token");
}

grpc::Status AdminServiceImpl::CreateCluster(grpc::ServerContext* context,
                                             const mcmesh::v1::CreateClusterRequest* request,
                                             mcmesh::v1::TopologyChangeResponse* response) {
  grpc::Status auth = authenticate(context, "CreateCluster");
  if (!auth.ok()) {
    return auth;
  }
  return answer(context, topology_.createCluster(request->cluster()), response);
}

grpc::Status AdminServiceImpl::AddNode(grpc::ServerContext* context,
                                       const mcmesh::v1::AddNodeRequest* request,
                                       mcmesh::v1::TopologyChangeResponse* response) {
  grpc::Status auth = authenticate(context, "AddNode");
  if (!auth.ok()) {
    return auth;
  }
  return answer(
      context,
      topology_.addNode(request->cluster(), request->pool(), request->address(), request->weight()),
      response);
}

grpc::Status AdminServiceImpl::DrainNode(grpc::ServerContext* context,
                                         const mcmesh::v1::DrainNodeRequest* request,
                                         mcmesh::v1::TopologyChangeResponse* response) {
  grpc::Status auth = authenticate(context, "DrainNode");
  if (!auth.ok()) {
    return auth;
  }
  return answer(context,
                topology_.drainNode(request->cluster(), request->pool(), request->address()),
                response);
}

grpc::Status AdminServiceImpl::RemoveNode(grpc::ServerContext* context,
                                          const mcmesh::v1::RemoveNodeRequest* request,
                                          mcmesh::v1::TopologyChangeResponse* response) {
  grpc::Status auth = authenticate(context, "RemoveNode");
  if (!auth.ok()) {
    return auth;
  }
  return answer(context,
                topology_.removeNode(request->cluster(), request->pool(), request->address()),
                response);
}

grpc::Status AdminServiceImpl::SetWeight(grpc::ServerContext* context,
                                         const mcmesh::v1::SetWeightRequest* request,
                                         mcmesh::v1::TopologyChangeResponse* response) {
  grpc::Status auth = authenticate(context, "SetWeight");
  if (!auth.ok()) {
    return auth;
  }
  return answer(context,
                topology_.setWeight(request->cluster(), request->pool(), request->address(),
                                    request->weight()),
                response);
}

grpc::Status AdminServiceImpl::SetBackup(grpc::ServerContext* context,
                                         const mcmesh::v1::SetBackupRequest* request,
                                         mcmesh::v1::TopologyChangeResponse* response) {
  grpc::Status auth = authenticate(context, "SetBackup");
  if (!auth.ok()) {
    return auth;
  }
  return answer(context, topology_.setBackup(request->cluster(), request->backup()), response);
}

grpc::Status AdminServiceImpl::SetFilters(grpc::ServerContext* context,
                                          const mcmesh::v1::SetFiltersRequest* request,
                                          mcmesh::v1::SetFiltersResponse* response) {
  grpc::Status auth = authenticate(context, "SetFilters");
  if (!auth.ok()) {
    return auth;
  }
  return answer(context, topology_.setFilters(request->cluster(), request->filters()), response);
}

grpc::Status AdminServiceImpl::ResetEpoch(grpc::ServerContext* context,
                                          const mcmesh::v1::ResetEpochRequest* request,
                                          mcmesh::v1::TopologyChangeResponse* response) {
  grpc::Status auth = authenticate(context, "ResetEpoch");
  if (!auth.ok()) {
    return auth;
  }
  return answer(context, topology_.resetEpoch(request->epoch()), response);
}

grpc::Status AdminServiceImpl::GetTopology(grpc::ServerContext* context,
                                           const mcmesh::v1::GetTopologyRequest*,
                                           mcmesh::v1::GetTopologyResponse* response) {
  grpc::Status auth = authenticate(context, "GetTopology");
  if (!auth.ok()) {
    return auth;
  }
  *response->mutable_topology() = *topology_.snapshot();
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::ListProxies(grpc::ServerContext* context,
                                           const mcmesh::v1::ListProxiesRequest*,
                                           mcmesh::v1::ListProxiesResponse* response) {
  grpc::Status auth = authenticate(context, "ListProxies");
  if (!auth.ok()) {
    return auth;
  }
  for (mcmesh::v1::ProxyStatus& status : proxies_.listProxies()) {
    *response->add_proxies() = std::move(status);
  }
  return grpc::Status::OK;
}

} // namespace control_plane
} // namespace mcmesh
