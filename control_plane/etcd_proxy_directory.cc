// Implements EtcdProxyDirectory: lease upkeep, change-only writes, listing with a local fallback.
#include "control_plane/etcd_proxy_directory.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "control_plane/log.h"

namespace mcmesh {
namespace control_plane {

EtcdProxyDirectory::EtcdProxyDirectory(std::shared_ptr<EtcdClient> client, ProxyRegistry& registry,
                                       std::string replica, absl::Duration ttl,
                                       absl::Duration interval)
    : client_(std::move(client)), registry_(registry), replica_(std::move(replica)), ttl_(ttl),
      interval_(interval) {}

EtcdProxyDirectory::~EtcdProxyDirectory() { stop(); }

void EtcdProxyDirectory::start() {
  thread_ = std::thread([this] { run(); });
}

void EtcdProxyDirectory::stop() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

void EtcdProxyDirectory::run() {
  while (true) {
    {
      absl::MutexLock lock(&mutex_);
      mutex_.AwaitWithTimeout(absl::Condition(&stopping_), interval_);
      if (stopping_) {
        return;
      }
    }
    publishOnce();
  }
}

void EtcdProxyDirectory::publishOnce() {
  auto fail = [this](const absl::Status& status) {
    if (!logged_failure_) {
      logLine(absl::StrCat("cannot publish proxy status to etcd (will keep trying): ",
                           status.message()));
      logged_failure_ = true;
    }
  };
  if (lease_ == 0) {
    absl::StatusOr<int64_t> lease =
        client_->grantLease(std::max<int64_t>(1, absl::ToInt64Seconds(ttl_)));
    if (!lease.ok()) {
      fail(lease.status());
      return;
    }
    lease_ = *lease;
    last_keepalive_ = absl::Now();
    written_.clear(); // Keys under an expired lease are gone: write everything again.
    logLine(absl::StrCat("proxy status lease ", lease_, " (TTL ", absl::FormatDuration(ttl_), ")"));
  } else if (absl::Now() - last_keepalive_ >= ttl_ / 3) {
    absl::StatusOr<int64_t> ttl = client_->keepAlive(lease_);
    if (absl::IsNotFound(ttl.status())) {
      logLine(absl::StrCat("proxy status lease ", lease_, " expired; taking a new one"));
      lease_ = 0;
      return;
    }
    if (!ttl.ok()) {
      fail(ttl.status());
      return;
    }
    last_keepalive_ = absl::Now();
  }
  for (mcmesh::v1::ProxyStatus& status : registry_.list()) {
    status.set_control_plane(replica_);
    std::string bytes;
    status.SerializeToString(&bytes);
    auto it = written_.find(status.id());
    if (it != written_.end() && it->second == bytes) {
      continue;
    }
    const std::string key = client_->config().proxiesPrefix() + status.id();
    absl::Status written = status.connected() ? client_->put(key, bytes, lease_)
                                              : client_->putIfLease(key, bytes, lease_);
    if (!written.ok() && !absl::IsAborted(written)) {
      fail(written);
      return;
    }
    // ABORTED: the proxy is another replica's now; nothing to write until it changes here.
    written_[status.id()] = std::move(bytes);
  }
  if (logged_failure_) {
    logLine("publishing proxy status to etcd again");
    logged_failure_ = false;
  }
}

std::vector<mcmesh::v1::ProxyStatus> EtcdProxyDirectory::listProxies() {
  absl::StatusOr<EtcdClient::RangeResult> result =
      client_->getPrefix(client_->config().proxiesPrefix());
  if (!result.ok()) {
    logLine(absl::StrCat("ListProxies: etcd unavailable, listing this replica's proxies only: ",
                         result.status().message()));
    std::vector<mcmesh::v1::ProxyStatus> local = registry_.list();
    for (mcmesh::v1::ProxyStatus& status : local) {
      status.set_control_plane(replica_);
    }
    return local;
  }
  std::vector<mcmesh::v1::ProxyStatus> proxies;
  for (const EtcdClient::KeyValue& kv : result->kvs) {
    mcmesh::v1::ProxyStatus status;
    if (status.ParseFromString(kv.value)) {
      proxies.push_back(std::move(status));
    }
  }
  std::sort(proxies.begin(), proxies.end(),
            [](const mcmesh::v1::ProxyStatus& a, const mcmesh::v1::ProxyStatus& b) {
              return a.id() < b.id();
            });
  return proxies;
}

} // namespace control_plane
} // namespace mcmesh
