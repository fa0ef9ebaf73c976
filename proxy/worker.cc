// Worker: accept, connection ownership, routing-state swaps, thread lifecycle.
#include "proxy/worker.h"

#include <arpa/inet.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "proxy/log.h"

namespace mcmesh {
namespace {
// Out of descriptors, accept() fails at once for as long as the backlog holds a connection.
constexpr absl::Duration kAcceptPause = absl::Milliseconds(100);
constexpr absl::Duration kAcceptLogInterval = absl::Seconds(1);
constexpr absl::Duration kSweepInterval = absl::Seconds(1);
}  // namespace

Worker::Worker(size_t index, WorkerOptions options, ConnectionBudget& budget)
    : index_(index), options_(std::move(options)), budget_(budget),
      cluster_(dispatcher_, options_.pool, options_.health, options_.replication) {
  accept_resume_timer_ = dispatcher_.createTimer([this] {
    for (auto* l : listeners_) evconnlistener_enable(l);
  });
  sweep_timer_ = dispatcher_.createTimer([this] {
    sweepSlowRequests();
    sweep_timer_->enable(std::min(kSweepInterval, options_.limits.request_read_timeout / 2));
  });
}

void Worker::addListener(evconnlistener* listener) {
  evconnlistener_set_error_cb(listener, &Worker::onAcceptError);
  listeners_.push_back(listener);
}

void Worker::onAcceptError(evconnlistener*, void* arg) {
  int error = EVUTIL_SOCKET_ERROR();
  auto* self = static_cast<Worker*>(arg);
  self->cluster_.counters().accept_errors.inc();
  ++self->accept_errors_since_log_;
  for (auto* l : self->listeners_) evconnlistener_disable(l);
  self->accept_resume_timer_->enable(kAcceptPause);
  absl::Time now = self->dispatcher_.now();
  if (now - self->accept_error_logged_at_ >= kAcceptLogInterval) {
    logLine(LogLevel::kWarn,
            absl::StrCat("accept failed: ", evutil_socket_error_to_string(error), " (",
                         self->accept_errors_since_log_,
                         " time(s) since the last such line; worker ", self->index_,
                         "); not accepting for ",
                         absl::FormatDuration(kAcceptPause), " at a time"));
    self->accept_error_logged_at_ = now;
    self->accept_errors_since_log_ = 0;
  }
}

void Worker::sweepSlowRequests() {
  absl::Time cutoff = dispatcher_.now() - options_.limits.request_read_timeout;
  std::vector<ClientConnection*> slow;
  for (const auto& entry : connections_) {
    if (entry.first->incompleteSince(cutoff)) slow.push_back(entry.first);
  }
  for (ClientConnection* c : slow) {
    cluster_.counters().slow_requests_closed.inc();
    c->close();  // close() erases from connections_.
  }
  // Clients that stopped reading with more than the output cap unsent: their replies hold
  // memory and their requests hold upstream slots. Same limit as an unfinished request.
  std::vector<ClientConnection*> stalled;
  size_t stalled_bytes = 0;
  for (const auto& entry : connections_) {
    size_t unsent = entry.first->stalledOutputSince(dispatcher_.now(), cutoff);
    if (unsent == 0) continue;
    stalled.push_back(entry.first);
    stalled_bytes += unsent;
  }
  for (ClientConnection* c : stalled) {
    cluster_.counters().output_stalls_closed.inc();
    c->close();
  }
  if (!stalled.empty()) {
    logLine(LogLevel::kWarn,
            absl::StrCat("closed ", stalled.size(), " client connection(s) that read nothing for ",
                         absl::FormatDuration(options_.limits.request_read_timeout), " with ",
                         stalled_bytes, " reply bytes unsent (worker ", index_, ")"));
  }
}

void Worker::finishDrain() {
  std::vector<ClientConnection*> all;
  for (const auto& entry : connections_) all.push_back(entry.first);
  for (ClientConnection* c : all) c->closeWhenAnswered();
}

Worker::~Worker() {
  stop();
  for (auto* l : listeners_) evconnlistener_free(l);
  // Order matters: requests first (they cancel upstream work), then pools (their failure
  // callbacks touch the cluster's counters), each time freeing what was deferred.
  connections_.clear();
  request_pool_.clear();
  dispatcher_.clearDeferred();
  cluster_.shutdown();
  dispatcher_.clearDeferred();
}

absl::Status Worker::listenTcp(const std::string& host, int port,
                               tls::TlsContextConstSharedPtr tls) {
  sockaddr_storage addr{};
  int addr_len = sizeof(addr);
  std::string target = host.find(':') != std::string::npos ? absl::StrCat("[", host, "]:", port)
                                                           : absl::StrCat(host, ":", port);
  if (evutil_parse_sockaddr_port(target.c_str(), reinterpret_cast<sockaddr*>(&addr),
                                 &addr_len) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad listen address '", host, "'"));
  }
  evconnlistener* l = evconnlistener_new_bind(
      dispatcher_.base(), &Worker::onAccept, this,
      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT, 1024,
      reinterpret_cast<sockaddr*>(&addr), addr_len);
  if (l == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", target, ": ", std::strerror(errno)));
  }
  if (tls != nullptr) tls_listeners_.emplace(l, std::move(tls));
  addListener(l);
  return absl::OkStatus();
}

absl::Status Worker::listenUnix(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("unix socket path too long: ", path));
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  ::unlink(path.c_str());  // a stale socket from a previous run would make bind fail.
  evconnlistener* l = evconnlistener_new_bind(dispatcher_.base(), &Worker::onAccept, this,
                                              LEV_OPT_CLOSE_ON_FREE, 1024,
                                              reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  if (l == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on unix socket ", path, ": ", std::strerror(errno)));
  }
  addListener(l);
  return absl::OkStatus();
}

void Worker::start() {
  if (options_.limits.request_read_timeout > absl::ZeroDuration()) {
    sweep_timer_->enable(std::min(kSweepInterval, options_.limits.request_read_timeout / 2));
  }
  thread_ = std::thread([this] { dispatcher_.run(); });
}

void Worker::beginDrain(absl::Duration idle_grace) {
  if (drain_timer_ != nullptr) return;
  for (auto* l : listeners_) evconnlistener_free(l);
  listeners_.clear();
  tls_listeners_.clear();
  drain_timer_ = dispatcher_.createTimer([this, idle_grace] {
    absl::Time cutoff = dispatcher_.now() - idle_grace;
    std::vector<ClientConnection*> idle;
    for (const auto& entry : connections_) {
      if (entry.first->idleSince(cutoff)) idle.push_back(entry.first);
    }
    for (ClientConnection* c : idle) c->close();  // close() erases from connections_.
    drain_timer_->enable(idle_grace / 2);
  });
  drain_timer_->enable(absl::ZeroDuration());
}

void Worker::stop() {
  if (!thread_.joinable()) return;
  dispatcher_.exit();
  thread_.join();
}

void Worker::applyRouting(upstream::ClusterSnapshotConstSharedPtr snapshot,
                          FilterChainConstSharedPtr chain) {
  cluster_.setSnapshot(std::move(snapshot));
  chain_ = std::move(chain);
}

void Worker::onAccept(evconnlistener* listener, int fd, ::sockaddr* addr, int, void* arg) {
  auto* self = static_cast<Worker*>(arg);
  char host[INET6_ADDRSTRLEN] = "unix";
  int port = 0;
  if (addr->sa_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(addr);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    port = ntohs(in->sin_port);
  } else if (addr->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    port = ntohs(in6->sin6_port);
  }
  auto tls = self->tls_listeners_.find(listener);
  self->acceptSocket(fd, absl::StrCat(host, ":", port),
                     tls == self->tls_listeners_.end() ? nullptr : tls->second);
}

void Worker::acceptSocket(int fd, std::string peer, const tls::TlsContextConstSharedPtr& tls) {
  evutil_make_socket_nonblocking(fd);
  if (budget_.open.fetch_add(1) >= budget_.max) {
    budget_.open.fetch_sub(1);
    cluster_.counters().rejected_connections.inc();
    static const char kTooMany[] = "SERVER_ERROR too many connections\r\n";
    // Best effort on a fresh socket whose send buffer is empty; never block.
    (void)!::send(fd, kTooMany, sizeof(kTooMany) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    ::close(fd);
    return;
  }
  cluster_.counters().curr_connections.inc();
  cluster_.counters().total_connections.inc();
  auto connection = std::make_unique<ClientConnection>(*this, fd, std::move(peer));
  ClientConnection* raw = connection.get();
  connections_.emplace(raw, std::move(connection));
  if (tls != nullptr) raw->startTls(tls);
}

void Worker::onConnectionClosed(ClientConnection& connection) {
  auto it = connections_.find(&connection);
  if (it == connections_.end()) return;
  budget_.open.fetch_sub(1);
  cluster_.counters().curr_connections.dec();
  dispatcher_.deferredDelete(std::move(it->second));
  connections_.erase(it);
}

}  // namespace mcmesh
