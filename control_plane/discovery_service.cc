// Implements DiscoveryServiceImpl: one reader (handler) thread and one writer thread per stream.
#include "control_plane/discovery_service.h"

#include <map>
#include <string>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "control_plane/log.h"

namespace mcmesh {
namespace control_plane {

using mcmesh::v1::DiscoveryRequest;
using mcmesh::v1::DiscoveryResponse;

// State shared by a stream's reader and writer threads and by shutdown().
struct DiscoveryServiceImpl::Stream {
  grpc::ServerContext* context;
  std::string proxy_id;
  std::string label; // "proxy <id> (cluster <c>)" for logs.
  uint64_t stream_id = 0;
  uint64_t generation = 0;

  absl::Mutex mutex;
  TopologyConstSharedPtr latest ABSL_GUARDED_BY(mutex);
  // The snapshot most recently handed to Write().
  TopologyConstSharedPtr sent ABSL_GUARDED_BY(mutex);
  bool done ABSL_GUARDED_BY(mutex) = false;
  // Nonces of recent responses -> the version each carried (bounded).
  std::map<uint64_t, uint64_t> sent_nonces ABSL_GUARDED_BY(mutex);

  // Keeps the newest snapshot; the subscriber and the initial read may race.
  void offer(const TopologyConstSharedPtr& topology) {
    absl::MutexLock lock(&mutex);
    if (latest == nullptr || topology->version() > latest->version()) {
      latest = topology;
    }
  }
  // The writer has something to do: stop, or send a snapshot it has not sent. Version 0 means
  // "nothing ever written" and is never sent.
  bool hasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex) {
    return done || (latest != nullptr && latest != sent && latest->version() != 0);
  }
  void finish() {
    absl::MutexLock lock(&mutex);
    done = true;
  }
};

namespace {

constexpr size_t kMaxRememberedNonces = 16;

std::string nonceString(uint64_t stream_id, uint64_t n) { return absl::StrCat(stream_id, "-", n); }

} // namespace

DiscoveryServiceImpl::DiscoveryServiceImpl(TopologyService& topology, ProxyRegistry& registry)
    : topology_(topology), registry_(registry) {}

DiscoveryServiceImpl::~DiscoveryServiceImpl() { shutdown(); }

void DiscoveryServiceImpl::shutdown() {
  absl::MutexLock lock(&mutex_);
  shutting_down_ = true;
  for (Stream* stream : streams_) {
    stream->finish();
    stream->context->TryCancel();
  }
}

void DiscoveryServiceImpl::setServing(bool serving, const std::string& reason) {
  absl::MutexLock lock(&mutex_);
  if (serving) {
    not_serving_reason_.clear();
    return;
  }
  not_serving_reason_ = reason.empty() ? "not serving" : reason;
  for (Stream* stream : streams_) {
    stream->finish();
    stream->context->TryCancel();
  }
}

grpc::Status DiscoveryServiceImpl::StreamTopology(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<DiscoveryResponse, DiscoveryRequest>* grpc_stream) {
  DiscoveryRequest request;
  if (!grpc_stream->Read(&request)) {
    return grpc::Status::OK; // The proxy went away before saying who it is.
  }
  if (request.proxy_id().empty() || request.cluster().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "the first DiscoveryRequest must set proxy_id and cluster");
  }

  Stream stream;
  stream.context = context;
  stream.proxy_id = request.proxy_id();
  stream.label = absl::StrCat("proxy ", request.proxy_id(), " (cluster ", request.cluster(), ")");
  {
    absl::MutexLock lock(&mutex_);
    if (shutting_down_) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "control plane is shutting down");
    }
    if (!not_serving_reason_.empty()) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, not_serving_reason_);
    }
    stream.stream_id = next_stream_id_++;
    streams_.insert(&stream);
  }
  const uint64_t subscription =
      topology_.subscribe([&stream](const TopologyConstSharedPtr& t) { stream.offer(t); });
  stream.offer(topology_.snapshot());
  stream.generation = registry_.connected(request.proxy_id(), request.cluster(), context->peer(),
                                          request.version_info());
  logLine(absl::StrCat(stream.label, " subscribed from ", context->peer(), " (applied version ",
                       request.version_info(), ")"));

  std::thread writer([this, &stream, grpc_stream] {
    uint64_t nonce_counter = 0;
    while (true) {
      TopologyConstSharedPtr next;
      {
        absl::MutexLock lock(&stream.mutex);
        stream.mutex.Await(absl::Condition(&stream, &Stream::hasWork));
        if (stream.done) {
          return;
        }
        next = stream.latest;
        stream.sent = next;
        ++nonce_counter;
        stream.sent_nonces[nonce_counter] = next->version();
        while (stream.sent_nonces.size() > kMaxRememberedNonces) {
          stream.sent_nonces.erase(stream.sent_nonces.begin());
        }
      }
      DiscoveryResponse response;
      *response.mutable_topology() = *next;
      response.set_version(next->version());
      response.set_nonce(nonceString(stream.stream_id, nonce_counter));
      // Recorded and logged before the write: the ACK may arrive before Write() returns.
      registry_.sent(stream.proxy_id, stream.generation, next->version());
      logLine(absl::StrCat("push version ", next->version(), " to ", stream.label, " nonce ",
                           response.nonce()));
      if (!grpc_stream->Write(response)) {
        logLine(absl::StrCat(stream.label, ": write failed, closing stream"));
        stream.finish();
        stream.context->TryCancel(); // Wakes the reader blocked in Read().
        return;
      }
    }
  });

  while (grpc_stream->Read(&request)) {
    uint64_t nonce_version = 0;
    bool known_nonce = false;
    {
      absl::MutexLock lock(&stream.mutex);
      const std::string prefix = absl::StrCat(stream.stream_id, "-");
      uint64_t n = 0;
      if (request.response_nonce().rfind(prefix, 0) == 0 &&
          absl::SimpleAtoi(request.response_nonce().substr(prefix.size()), &n)) {
        auto it = stream.sent_nonces.find(n);
        if (it != stream.sent_nonces.end()) {
          known_nonce = true;
          nonce_version = it->second;
        }
      }
    }
    if (request.response_nonce().empty()) {
      continue; // Not an answer to a response (e.g. a repeated hello); nothing to record.
    }
    if (!known_nonce) {
      logLine(absl::StrCat(stream.label, ": ignoring reply to unknown nonce ",
                           request.response_nonce()));
      continue;
    }
    if (request.error_detail().empty()) {
      if (request.version_info() != nonce_version) {
        logLine(absl::StrCat(stream.label, ": ACK of nonce ", request.response_nonce(),
                             " names version ", request.version_info(), ", expected ",
                             nonce_version));
      }
      registry_.acked(stream.proxy_id, stream.generation, request.version_info());
      logLine(absl::StrCat("ACK version ", request.version_info(), " from ", stream.label));
    } else {
      registry_.nacked(stream.proxy_id, stream.generation, request.version_info(), nonce_version,
                       request.error_detail());
      logLine(absl::StrCat("NACK version ", nonce_version, " from ", stream.label,
                           " (still on version ", request.version_info(),
                           "): ", request.error_detail()));
    }
  }

  stream.finish();
  // The reader is done (proxy closed, cancelled or shutdown): also unblock a writer stuck in a
  // flow-controlled Write() to a proxy that stopped reading, so the join below cannot hang.
  context->TryCancel();
  writer.join();
  topology_.unsubscribe(subscription);
  registry_.disconnected(stream.proxy_id, stream.generation);
  bool shutting_down = false;
  std::string not_serving;
  {
    absl::MutexLock lock(&mutex_);
    streams_.erase(&stream);
    shutting_down = shutting_down_;
    not_serving = not_serving_reason_;
  }
  logLine(absl::StrCat(stream.label, " disconnected"));
  if (shutting_down) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "control plane is shutting down");
  }
  if (!not_serving.empty()) {
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, not_serving);
  }
  return grpc::Status::OK;
}

} // namespace control_plane
} // namespace mcmesh
