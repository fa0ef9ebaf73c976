// Implements EtcdTopologyStore: compare-on-revision saves and the Watch thread.
#include "control_plane/etcd_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "control_plane/file_store.h"
#include "control_plane/log.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "google/protobuf/text_format.h"

namespace mcmesh {
namespace control_plane {

std::string topologyToStoreValue(const mcmesh::v1::Topology& topology) {
  std::string text;
  google::protobuf::TextFormat::PrintToString(topology, &text);
  return text;
}

EtcdTopologyStore::EtcdTopologyStore(std::shared_ptr<EtcdClient> client)
    : client_(std::move(client)), key_(client_->config().topologyKey()) {}

EtcdTopologyStore::~EtcdTopologyStore() { stopWatching(); }

absl::StatusOr<StoredTopology> EtcdTopologyStore::read() {
  absl::StatusOr<EtcdClient::RangeResult> result = client_->get(key_);
  if (!result.ok()) {
    return absl::Status(result.status().code(), absl::StrCat("cannot read the topology from etcd: ",
                                                             result.status().message()));
  }
  if (result->kvs.empty()) {
    return absl::NotFoundError(absl::StrCat("etcd has no topology at ", key_));
  }
  absl::StatusOr<mcmesh::v1::Topology> topology = parseTextTopology(result->kvs[0].value);
  if (!topology.ok()) {
    return absl::DataLossError(
        absl::StrCat("etcd key ", key_, " is not a valid topology: ", topology.status().message()));
  }
  if (topology->version() == 0) {
    // mcmesh_cp writes versions >= 1: an empty or versionless value was put there by hand.
    return absl::DataLossError(absl::StrCat(
        "etcd key ", key_, " holds no topology (empty, or version 0, which mcmesh_cp never "
        "writes); refusing to start with an empty topology: restore it, or delete the key to "
        "start again from --bootstrap"));
  }
  return StoredTopology{*std::move(topology), result->kvs[0].mod_revision};
}

absl::StatusOr<mcmesh::v1::Topology> EtcdTopologyStore::load() {
  absl::StatusOr<StoredTopology> stored = read();
  if (!stored.ok()) {
    return stored.status();
  }
  return std::move(stored->topology);
}

absl::StatusOr<int64_t> EtcdTopologyStore::saveIfRevision(const mcmesh::v1::Topology& topology,
                                                          int64_t revision) {
  return client_->putIfModRevision(key_, topologyToStoreValue(topology), revision);
}

absl::Status EtcdTopologyStore::save(const mcmesh::v1::Topology& topology) {
  // Unconditional save (tools, tests): the key's mod revision is whatever it is now.
  return client_->put(key_, topologyToStoreValue(topology), 0);
}

void EtcdTopologyStore::watch(int64_t revision, ChangeCallback callback) {
  callback_ = std::move(callback);
  last_revision_ = revision;
  loop_.start([this] { watchLoop(); });
}

void EtcdTopologyStore::stopWatching() { loop_.stop(); }

absl::Duration EtcdTopologyStore::outOfSyncFor() const {
  const int64_t since = out_of_sync_since_us_.load();
  return since == 0 ? absl::ZeroDuration() : absl::Now() - absl::FromUnixMicros(since);
}

namespace {
// Marks the start of a period without a watch (keeps the earliest start).
void markOutOfSync(std::atomic<int64_t>& since) {
  int64_t expected = 0;
  since.compare_exchange_strong(expected, absl::ToUnixMicros(absl::Now()));
}
} // namespace

void EtcdTopologyStore::watchLoop() {
  // Short backoff: a replica that is not watching pushes nothing, and members restart quickly.
  absl::Duration backoff = absl::Milliseconds(50);
  while (true) {
    if (loop_.stopping()) {
      return;
    }
    if (watchOnce()) {
      backoff = absl::Milliseconds(50);
    }
    if (!loop_.sleepUnlessStopping(backoff)) {
      return;
    }
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
}

void EtcdTopologyStore::deliver(const std::string& value, int64_t mod_revision) {
  if (mod_revision <= last_revision_) {
    return;
  }
  last_revision_ = mod_revision;
  absl::StatusOr<mcmesh::v1::Topology> topology = parseTextTopology(value);
  if (!topology.ok()) {
    logLine(absl::StrCat(
        "etcd watch: ", key_, " at revision ", mod_revision,
        " is not a valid topology; keeping the last good one: ", topology.status().message()));
    return;
  }
  if (topology->version() == 0) {
    logLine(absl::StrCat("etcd watch: ", key_, " at revision ", mod_revision,
                         " holds no topology (empty or version 0); keeping the last good one"));
    return;
  }
  callback_(StoredTopology{*std::move(topology), mod_revision});
}

void EtcdTopologyStore::resync() {
  absl::StatusOr<EtcdClient::RangeResult> result = client_->get(key_);
  if (!result.ok()) {
    logLine(
        absl::StrCat("etcd watch: cannot re-read after compaction: ", result.status().message()));
    return;
  }
  if (!result->kvs.empty()) {
    deliver(result->kvs[0].value, result->kvs[0].mod_revision);
  }
  // Everything up to the read's revision is now known.
  last_revision_ = std::max(last_revision_, result->revision);
}

bool EtcdTopologyStore::watchOnce() {
  const EtcdClient::Endpoint endpoint = client_->current();
  std::shared_ptr<grpc::ClientContext> context = loop_.beginCall();
  if (context == nullptr) {
    return false;
  }
  absl::Status prepared = client_->prepareStream(endpoint, *context);
  if (!prepared.ok()) {
    markOutOfSync(out_of_sync_since_us_);
    logLine(absl::StrCat("etcd watch: ", prepared.message()));
    client_->rotate(endpoint.index);
    return false;
  }
  auto stream = etcdserverpb::Watch::NewStub(endpoint.channel)->Watch(context.get());
  etcdserverpb::WatchRequest request;
  etcdserverpb::WatchCreateRequest* create = request.mutable_create_request();
  create->set_key(key_);
  create->set_start_revision(last_revision_ + 1);
  bool delivered = false;
  bool resynced = false;
  if (stream->Write(request)) {
    etcdserverpb::WatchResponse response;
    while (stream->Read(&response)) {
      if (response.compact_revision() > 0) {
        logLine(absl::StrCat("etcd watch: revision ", last_revision_ + 1,
                             " was compacted (compact revision ", response.compact_revision(),
                             "); re-reading the topology"));
        resync();
        resynced = true;
        break;
      }
      if (response.canceled()) {
        logLine(absl::StrCat("etcd watch on ", endpoint.address,
                             " cancelled: ", response.cancel_reason()));
        break;
      }
      if (response.created()) {
        // In sync again: commits made meanwhile come next (the watch starts after the last one
        // seen).
        out_of_sync_since_us_.store(0);
        logLine(absl::StrCat("etcd watch on ", endpoint.address, ": watching ", key_,
                             " from revision ", last_revision_ + 1));
      }
      for (const mvccpb::Event& event : response.events()) {
        if (event.type() == mvccpb::Event::DELETE) {
          logLine(absl::StrCat("etcd watch: ", key_, " was deleted at revision ",
                               event.kv().mod_revision(), "; keeping the last good topology"));
          last_revision_ = std::max(last_revision_, event.kv().mod_revision());
          continue;
        }
        deliver(event.kv().value(), event.kv().mod_revision());
        delivered = true;
      }
    }
  }
  context->TryCancel();
  const grpc::Status status = stream->Finish();
  if (loop_.endCall()) {
    return delivered;
  }
  markOutOfSync(out_of_sync_since_us_);
  if (!resynced) {
    logLine(absl::StrCat("etcd watch on ", endpoint.address, " ended (", status.error_message(),
                         "); reconnecting from revision ", last_revision_ + 1));
    client_->rotate(endpoint.index);
  }
  return delivered || resynced;
}

} // namespace control_plane
} // namespace mcmesh
