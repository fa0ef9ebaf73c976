// ProxyDirectory: where ListProxies reads the proxies' status from.
#pragma once

#include <vector>

#include "api/mcmesh/v1/admin.pb.h"

namespace mcmesh {
namespace control_plane {

/**
 * Answers "which proxies are there and where do they stand". One control plane alone knows its
 * own proxies (ProxyRegistry); replicas sharing an etcd store list everyone's from etcd
 * (EtcdProxyDirectory).
 */
class ProxyDirectory {
public:
  virtual ~ProxyDirectory() = default;
  /** @return every known proxy, sorted by id. */
  virtual std::vector<mcmesh::v1::ProxyStatus> listProxies() = 0;
};

} // namespace control_plane
} // namespace mcmesh
