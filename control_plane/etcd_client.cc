// Implements EtcdClient: endpoint rotation, auth token, and the KV / Lease calls as gRPC.
#include "control_plane/etcd_client.h"

#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace mcmesh {
namespace control_plane {
namespace {

using etcdserverpb::Compare;

// A failed call leaves the member usable again? UNAVAILABLE covers "connection refused", "no
// leader" and etcd's own "request timed out": all say "try another member".
bool tryAnotherMember(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE;
}

bool badToken(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
         absl::StrContains(status.error_message(), "invalid auth token");
}

std::string rangeEnd(const std::string& prefix) {
  // The smallest key greater than every key with this prefix (etcd's "prefix" range).
  std::string end = prefix;
  while (!end.empty()) {
    unsigned char last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0'); // Everything.
}

EtcdClient::RangeResult toRangeResult(const etcdserverpb::RangeResponse& response) {
  EtcdClient::RangeResult result;
  result.revision = response.header().revision();
  for (const mvccpb::KeyValue& kv : response.kvs()) {
    result.kvs.push_back({kv.key(), kv.value(), kv.mod_revision(), kv.lease()});
  }
  return result;
}

} // namespace

EtcdClient::EtcdClient(EtcdConfig config) : config_(std::move(config)) {
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (config_.tls) {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = config_.tls_ca_pem;
    ssl.pem_cert_chain = config_.tls_cert_pem;
    ssl.pem_private_key = config_.tls_key_pem;
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  // Notice a member that vanished without closing the connection; etcd accepts pings every 5 s.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // A member that comes back is retried quickly.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  absl::MutexLock lock(&mutex_);
  for (const std::string& endpoint : config_.endpoints) {
    channels_.push_back(grpc::CreateCustomChannel(endpoint, credentials, args));
  }
}

EtcdClient::Endpoint EtcdClient::current() {
  absl::MutexLock lock(&mutex_);
  return {current_, config_.endpoints[current_], channels_[current_]};
}

void EtcdClient::rotate(size_t failed_index) {
  absl::MutexLock lock(&mutex_);
  if (current_ == failed_index) {
    current_ = (current_ + 1) % channels_.size();
  }
}

void EtcdClient::addMetadata(grpc::ClientContext& context) {
  // etcd's name for "refuse if you have no leader" (rpctypes.MetadataRequireLeaderKey).
  context.AddMetadata("hasleader", "true");
  absl::MutexLock lock(&mutex_);
  if (!token_.empty()) {
    context.AddMetadata("token", token_);
  }
}

absl::Status EtcdClient::ensureToken(const Endpoint& endpoint) {
  if (config_.user.empty()) {
    return absl::OkStatus();
  }
  {
    absl::MutexLock lock(&mutex_);
    if (!token_.empty()) {
      return absl::OkStatus();
    }
  }
  etcdserverpb::AuthenticateRequest request;
  request.set_name(config_.user);
  request.set_password(config_.password);
  etcdserverpb::AuthenticateResponse response;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + config_.request_timeout));
  grpc::Status status =
      etcdserverpb::Auth::NewStub(endpoint.channel)->Authenticate(&context, request, &response);
  if (!status.ok()) {
    const std::string message =
        absl::StrCat("etcd authentication as \"", config_.user, "\" failed on ", endpoint.address,
                     ": ", status.error_message());
    return tryAnotherMember(status) ? absl::UnavailableError(message)
                                    : absl::PermissionDeniedError(message);
  }
  absl::MutexLock lock(&mutex_);
  token_ = response.token();
  return absl::OkStatus();
}

absl::Status EtcdClient::prepareStream(const Endpoint& endpoint, grpc::ClientContext& context) {
  absl::Status auth = ensureToken(endpoint);
  if (!auth.ok()) {
    return auth;
  }
  addMetadata(context);
  return absl::OkStatus();
}

template <class Attempt> absl::Status EtcdClient::call(const char* what, const Attempt& attempt) {
  std::string last = "no etcd endpoint";
  // What a running member said (e.g. "etcdserver: no leader") says more than a refused
  // connection to a stopped one: report that if there was one.
  std::string member_said;
  bool reauthenticated = false;
  for (size_t tries = 0; tries < config_.endpoints.size(); ++tries) {
    const Endpoint endpoint = current();
    absl::Status auth = ensureToken(endpoint);
    if (!auth.ok()) {
      if (!absl::IsUnavailable(auth)) {
        return auth;
      }
      last = std::string(auth.message());
      rotate(endpoint.index);
      continue;
    }
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + config_.request_timeout));
    addMetadata(context);
    const grpc::Status status = attempt(endpoint.channel, context);
    if (status.ok()) {
      return absl::OkStatus();
    }
    if (badToken(status) && !config_.user.empty() && !reauthenticated) {
      reauthenticated = true;
      absl::MutexLock lock(&mutex_);
      token_.clear();
      --tries; // The same member again, with a fresh token.
      continue;
    }
    const std::string message =
        absl::StrCat("etcd ", what, " failed on ", endpoint.address, ": ", status.error_message());
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
      // The member may be cut off; start elsewhere next time. Not retried: the time is spent,
      // and a write may still commit later, so the caller must not claim it failed.
      rotate(endpoint.index);
      return absl::DeadlineExceededError(absl::StrCat(
          message, " (no answer within ", absl::FormatDuration(config_.request_timeout), ")"));
    }
    if (!tryAnotherMember(status)) {
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()), message);
    }
    last = message;
    if (absl::StartsWith(status.error_message(), "etcdserver:")) {
      member_said = message;
    }
    rotate(endpoint.index);
  }
  const std::string& reason = member_said.empty() ? last : member_said;
  return absl::UnavailableError(absl::StrCat(
      "no etcd member of ", config_.endpointList(), " could serve the call (",
      absl::StrContains(reason, "no leader") ? "etcd has no leader: quorum lost or an election "
                                               "is under way"
                                             : "etcd unreachable or without quorum",
      "); ", reason));
}

absl::StatusOr<EtcdClient::RangeResult> EtcdClient::get(const std::string& key) {
  etcdserverpb::RangeRequest request;
  request.set_key(key);
  etcdserverpb::RangeResponse response;
  absl::Status status =
      call("get", [&](const std::shared_ptr<grpc::Channel>& channel, grpc::ClientContext& context) {
        return etcdserverpb::KV::NewStub(channel)->Range(&context, request, &response);
      });
  if (!status.ok()) {
    return status;
  }
  return toRangeResult(response);
}

absl::StatusOr<EtcdClient::RangeResult> EtcdClient::getPrefix(const std::string& prefix) {
  etcdserverpb::RangeRequest request;
  request.set_key(prefix);
  request.set_range_end(rangeEnd(prefix));
  etcdserverpb::RangeResponse response;
  absl::Status status = call(
      "range", [&](const std::shared_ptr<grpc::Channel>& channel, grpc::ClientContext& context) {
        return etcdserverpb::KV::NewStub(channel)->Range(&context, request, &response);
      });
  if (!status.ok()) {
    return status;
  }
  return toRangeResult(response);
}

absl::StatusOr<int64_t> EtcdClient::putIfModRevision(const std::string& key,
                                                     const std::string& value,
                                                     int64_t mod_revision) {
  etcdserverpb::TxnRequest request;
  Compare* compare = request.add_compare();
  compare->set_key(key);
  compare->set_result(Compare::EQUAL);
  compare->set_target(Compare::MOD);
  compare->set_mod_revision(mod_revision); // An absent key has mod revision 0.
  etcdserverpb::PutRequest* put = request.add_success()->mutable_request_put();
  put->set_key(key);
  put->set_value(value);
  etcdserverpb::TxnResponse response;
  absl::Status status = call("transaction", [&](const std::shared_ptr<grpc::Channel>& channel,
                                                grpc::ClientContext& context) {
    return etcdserverpb::KV::NewStub(channel)->Txn(&context, request, &response);
  });
  if (!status.ok()) {
    return status;
  }
  if (!response.succeeded()) {
    return absl::AbortedError(absl::StrCat("etcd key ", key, " changed after revision ",
                                           mod_revision, " (now at store revision ",
                                           response.header().revision(), ")"));
  }
  return response.header().revision();
}

absl::Status EtcdClient::put(const std::string& key, const std::string& value, int64_t lease) {
  etcdserverpb::PutRequest request;
  request.set_key(key);
  request.set_value(value);
  request.set_lease(lease);
  etcdserverpb::PutResponse response;
  return call("put",
              [&](const std::shared_ptr<grpc::Channel>& channel, grpc::ClientContext& context) {
                return etcdserverpb::KV::NewStub(channel)->Put(&context, request, &response);
              });
}

absl::Status EtcdClient::putIfLease(const std::string& key, const std::string& value,
                                    int64_t lease) {
  etcdserverpb::TxnRequest request;
  Compare* compare = request.add_compare();
  compare->set_key(key);
  compare->set_result(Compare::EQUAL);
  compare->set_target(Compare::LEASE);
  compare->set_lease(lease);
  etcdserverpb::PutRequest* put = request.add_success()->mutable_request_put();
  put->set_key(key);
  put->set_value(value);
  put->set_lease(lease);
  etcdserverpb::TxnResponse response;
  absl::Status status = call("transaction", [&](const std::shared_ptr<grpc::Channel>& channel,
                                                grpc::ClientContext& context) {
    return etcdserverpb::KV::NewStub(channel)->Txn(&context, request, &response);
  });
  if (status.ok() && !response.succeeded()) {
    return absl::AbortedError(absl::StrCat("etcd key ", key, " is not held by lease ", lease));
  }
  return status;
}

absl::StatusOr<int64_t> EtcdClient::grantLease(int64_t ttl_seconds) {
  etcdserverpb::LeaseGrantRequest request;
  request.set_ttl(ttl_seconds);
  etcdserverpb::LeaseGrantResponse response;
  absl::Status status = call("lease grant", [&](const std::shared_ptr<grpc::Channel>& channel,
                                                grpc::ClientContext& context) {
    return etcdserverpb::Lease::NewStub(channel)->LeaseGrant(&context, request, &response);
  });
  if (!status.ok()) {
    return status;
  }
  if (!response.error().empty()) {
    return absl::InternalError(absl::StrCat("etcd lease grant: ", response.error()));
  }
  return response.id();
}

absl::StatusOr<int64_t> EtcdClient::keepAlive(int64_t lease) {
  etcdserverpb::LeaseKeepAliveResponse response;
  absl::Status status = call("lease keep-alive", [&](const std::shared_ptr<grpc::Channel>& channel,
                                                     grpc::ClientContext& context) {
    // LeaseKeepAlive is a stream; one request and one answer is one refresh.
    auto stream = etcdserverpb::Lease::NewStub(channel)->LeaseKeepAlive(&context);
    etcdserverpb::LeaseKeepAliveRequest request;
    request.set_id(lease);
    if (stream->Write(request) && stream->Read(&response)) {
      stream->WritesDone();
      context.TryCancel();
      stream->Finish();
      return grpc::Status::OK;
    }
    stream->WritesDone();
    grpc::Status finished = stream->Finish();
    return finished.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "keep-alive stream closed")
                         : finished;
  });
  if (!status.ok()) {
    return status;
  }
  if (response.ttl() <= 0) {
    return absl::NotFoundError(absl::StrCat("etcd lease ", lease, " expired"));
  }
  return response.ttl();
}

} // namespace control_plane
} // namespace mcmesh
