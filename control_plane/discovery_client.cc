// Implements DiscoveryClient: stream loop, ACK/NACK replies, backoff and prompt cancellation.
#include "control_plane/discovery_client.h"

#include <unistd.h>

#include <algorithm>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
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
    : target_(std::move(target)), proxy_id_(std::move(proxy_id)), cluster_(std::move(cluster)),
      apply_(std::move(apply)), options_(std::move(options)) {}

DiscoveryClient::~DiscoveryClient() { stop(); }

void DiscoveryClient::start() {
  thread_ = std::thread([this] { run(); });
}

void DiscoveryClient::stop() {
  {
    absl::MutexLock lock(&mutex_);
    stopping_ = true;
    if (context_ != nullptr) {
      context_->TryCancel();
    }
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

void DiscoveryClient::log(absl::string_view line) const {
  if (options_.log) {
    options_.log(line);
    return;
  }
  const std::string text = absl::StrCat("discovery-client ", proxy_id_, ": ", line, "\n");
  const ssize_t ignored = ::write(STDERR_FILENO, text.data(), text.size());
  (void)ignored;
}

bool DiscoveryClient::sleepUnlessStopping(std::chrono::milliseconds delay) {
  absl::MutexLock lock(&mutex_);
  mutex_.AwaitWithTimeout(absl::Condition(&stopping_), absl::FromChrono(delay));
  return !stopping_;
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
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(target_, credentials, args);
  std::unique_ptr<mcmesh::v1::DiscoveryService::Stub> stub =
      mcmesh::v1::DiscoveryService::NewStub(channel);

  std::mt19937 random(std::random_device{}());
  std::chrono::milliseconds backoff = options_.initial_backoff;
  while (true) {
    {
      absl::MutexLock lock(&mutex_);
      if (stopping_) {
        return;
      }
    }
    if (runStream(*stub)) {
      backoff = options_.initial_backoff;
    }
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    const auto delay = std::chrono::milliseconds(
        static_cast<int64_t>(static_cast<double>(backoff.count()) * jitter(random)));
    if (!sleepUnlessStopping(delay)) {
      return;
    }
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

bool DiscoveryClient::runStream(mcmesh::v1::DiscoveryService::Stub& stub) {
  auto context = std::make_shared<grpc::ClientContext>();
  {
    absl::MutexLock lock(&mutex_);
    if (stopping_) {
      return false;
    }
    context_ = context;
  }
  // Wait for the channel to (re)connect instead of failing fast while it is in
  // TRANSIENT_FAILURE: a restarted control plane is then picked up as soon as gRPC's reconnect
  // attempt succeeds. stop() cancels the context, so this never blocks shutdown.
  context->set_wait_for_ready(true);
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
        log(absl::StrCat("subscribed to ", target_, " for cluster ", cluster_));
      }
      got_snapshot = true;
      connected_.store(true);

      DiscoveryRequest reply;
      reply.set_proxy_id(proxy_id_);
      reply.set_cluster(cluster_);
      reply.set_response_nonce(response.nonce());
      std::string bytes;
      response.topology().SerializeToString(&bytes);
      absl::Status applied = absl::OkStatus();
      if (bytes != applied_bytes_ || applied_version_.load() != response.version()) {
        applied = apply_(response.topology());
      }
      if (applied.ok()) {
        applied_bytes_ = std::move(bytes);
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
  {
    absl::MutexLock lock(&mutex_);
    context_.reset();
    if (stopping_) {
      return got_snapshot;
    }
  }
  log(absl::StrCat("stream to ", target_, " ended: ", status.error_code(), " ",
                   status.error_message(), "; reconnecting"));
  return got_snapshot;
}

} // namespace control_plane
} // namespace mcmesh
