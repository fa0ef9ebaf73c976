// Implements DiscoveryClient: stream loop, ACK/NACK replies, backoff and prompt cancellation.
#include "control_plane/discovery_client.h"

#include <unistd.h>

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "control_plane/snapshot_order.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/support/channel_arguments.h"

namespace mcmesh {
namespace control_plane {

using mcmesh::v1::DiscoveryRequest;
using mcmesh::v1::DiscoveryResponse;

DiscoveryClient::DiscoveryClient(std::string target, std::string proxy_id, std::string cluster,
                                 ApplyFn apply)
    : DiscoveryClient(std::move(target), std::move(proxy_id), std::move(cluster), std::move(apply),
                      DiscoveryClientOptions()) {}

DiscoveryClient::DiscoveryClient(std::string target, std::string proxy_id, std::string cluster,
                                 ApplyFn apply, DiscoveryClientOptions options)
    : target_(std::move(target)), targets_(absl::StrSplit(target_, ',', absl::SkipWhitespace())),
      proxy_id_(std::move(proxy_id)), cluster_(std::move(cluster)), apply_(std::move(apply)),
      options_(std::move(options)) {}

DiscoveryClient::~DiscoveryClient() { stop(); }

void DiscoveryClient::start() {
  loop_.start([this] { run(); });
}

void DiscoveryClient::stop() { loop_.stop(); }

void DiscoveryClient::log(absl::string_view line) const {
  if (options_.log) {
    options_.log(line);
    return;
  }
  const std::string text = absl::StrCat("discovery-client ", proxy_id_, ": ", line, "\n");
  const ssize_t ignored = ::write(STDERR_FILENO, text.data(), text.size());
  (void)ignored;
}

void DiscoveryClient::run() {
  grpc::ChannelArguments args;
  // Our loop owns the retry policy; keep gRPC's own reconnect backoff in the same range so a
  // restarted control plane is seen quickly.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
              static_cast<int>(options_.initial_backoff.count()));
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
              static_cast<int>(options_.initial_backoff.count()));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, static_cast<int>(options_.max_backoff.count()));
  // Detect a control plane that vanished without closing the connection.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      options_.credentials != nullptr ? options_.credentials : grpc::InsecureChannelCredentials();
  std::vector<std::unique_ptr<mcmesh::v1::DiscoveryService::Stub>> stubs;
  for (const std::string& target : targets_) {
    stubs.push_back(mcmesh::v1::DiscoveryService::NewStub(
        grpc::CreateCustomChannel(target, credentials, args)));
  }
  if (stubs.empty()) {
    log("no control plane address given");
    return;
  }

  std::mt19937 random(std::random_device{}());
  std::chrono::milliseconds backoff = options_.initial_backoff;
  size_t index = 0;
  size_t failed_in_a_row = 0;
  while (true) {
    if (loop_.stopping()) {
      return;
    }
    const bool got_snapshot = runStream(*stubs[index], targets_[index], stubs.size() == 1);
    if (got_snapshot) {
      backoff = options_.initial_backoff;
      failed_in_a_row = 0;
    } else {
      ++failed_in_a_row;
    }
    if (stubs.size() > 1) {
      // Another replica serves the same topology: try it at once, unless every one has just
      // failed, in which case back off before the next round.
      index = (index + 1) % stubs.size();
      if (failed_in_a_row < stubs.size()) {
        continue;
      }
      failed_in_a_row = 0;
    }
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    const auto delay = std::chrono::milliseconds(
        static_cast<int64_t>(static_cast<double>(backoff.count()) * jitter(random)));
    if (!loop_.sleepUnlessStopping(absl::FromChrono(delay))) {
      return;
    }
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

bool DiscoveryClient::runStream(mcmesh::v1::DiscoveryService::Stub& stub, const std::string& target,
                                bool wait_for_ready) {
  std::shared_ptr<grpc::ClientContext> context = loop_.beginCall();
  if (context == nullptr) {
    return false;
  }
  // With one target, wait for the channel to (re)connect instead of failing fast while it is in
  // TRANSIENT_FAILURE: a restarted control plane is then picked up as soon as gRPC's reconnect
  // attempt succeeds. stop() cancels the context, so this never blocks shutdown.
  context->set_wait_for_ready(wait_for_ready);
  auto stream = stub.StreamTopology(context.get());

  DiscoveryRequest hello;
  hello.set_proxy_id(proxy_id_);
  hello.set_cluster(cluster_);
  hello.set_version_info(applied_version_.load());
  bool got_snapshot = false;
  if (stream->Write(hello)) {
    DiscoveryResponse response;
    while (stream->Read(&response)) {
      if (!got_snapshot) {
        log(absl::StrCat("subscribed to ", target, " for cluster ", cluster_));
      }
      got_snapshot = true;
      connected_.store(true);

      DiscoveryRequest reply;
      reply.set_proxy_id(proxy_id_);
      reply.set_cluster(cluster_);
      reply.set_response_nonce(response.nonce());
      std::string bytes;
      response.topology().SerializeToString(&bytes);
      const SnapshotId running{applied_epoch_.load(), applied_version_.load()};
      const SnapshotId offered{response.topology().epoch(), response.version()};
      absl::Status applied = absl::OkStatus();
      if (bytes != applied_bytes_ || running.version != offered.version) {
        // Refuse to go backwards before building anything (checkSnapshotOrder explains why).
        const bool same_id = running.epoch == offered.epoch && running.version == offered.version;
        applied = checkSnapshotOrder(running, offered, same_id);
        if (applied.ok()) {
          applied = apply_(response.topology());
        }
      }
      if (applied.ok()) {
        applied_bytes_ = std::move(bytes);
        applied_epoch_.store(offered.epoch);
        applied_version_.store(response.version());
        reply.set_version_info(response.version());
        log(absl::StrCat("applied version ", response.version()));
      } else {
        reply.set_version_info(applied_version_.load());
        reply.set_error_detail(applied.message().empty() ? applied.ToString()
                                                         : std::string(applied.message()));
        log(absl::StrCat("NACK version ", response.version(), " (keeping version ",
                         applied_version_.load(), "): ", applied.message()));
      }
      if (!stream->Write(reply)) {
        break;
      }
    }
  }
  stream->WritesDone();
  const grpc::Status status = stream->Finish();
  connected_.store(false);
  if (loop_.endCall()) {
    return got_snapshot;
  }
  log(absl::StrCat("stream to ", target, " ended: ", status.error_code(), " ",
                   status.error_message(),
                   targets_.size() > 1 ? "; trying the next control plane" : "; reconnecting"));
  return got_snapshot;
}

} // namespace control_plane
} // namespace mcmesh
