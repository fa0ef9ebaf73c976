// Server: worker lifecycle, topology application and the stats report.
#include "proxy/server.h"

#include <event2/event.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <future>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "proxy/version.h"
#include "proxy/log.h"
#include "proxy/upstream/evdns_client.h"

namespace mcmesh {
namespace {

// A drained connection is closed once it has had nothing in flight for this long: long enough
// that a client between two back-to-back requests is never cut off, short enough that pooled
// idle connections do not hold a rolling restart.
constexpr absl::Duration kDrainIdleGrace = absl::Milliseconds(250);
constexpr absl::Duration kDrainPollInterval = absl::Milliseconds(20);
constexpr absl::Duration kTrimInterval = absl::Seconds(2);

absl::StatusOr<upstream::HostConfig> hostFromFlag(const std::string& value) {
  // host:port[:weight]
  std::vector<absl::string_view> parts = absl::StrSplit(value, ':');
  uint32_t weight = 1;
  absl::string_view address = value;
  if (parts.size() == 3) {
    if (!absl::SimpleAtoi(parts[2], &weight) || weight == 0) {
      return absl::InvalidArgumentError(absl::StrCat("bad weight in '", value, "'"));
    }
    address = absl::string_view(value).substr(0, value.rfind(':'));
  }
  auto host = upstream::parseHostAddress(address);
  if (!host.ok()) return host.status();
  host->weight = weight;
  return host;
}

}  // namespace

absl::StatusOr<upstream::ClusterConfig> clusterConfigFromOptions(const Options& options) {
  upstream::ClusterConfig config;
  config.name = options.cluster;
  for (const auto& s : options.servers) {
    auto host = hostFromFlag(s);
    if (!host.ok()) return host.status();
    config.primaries.push_back(*host);
  }
  for (const auto& b : options.backups) {
    auto host = hostFromFlag(b);
    if (!host.ok()) return host.status();
    config.backups.push_back(*host);
  }
  if (!options.upstream_tls_ca.empty()) {
    // magent-style command line: one TLS setting for every -s and -b server.
    tls::ClientTlsSettings settings;
    settings.ca_file = options.upstream_tls_ca;
    settings.cert_file = options.upstream_tls_cert;
    settings.key_file = options.upstream_tls_key;
    settings.server_name = options.upstream_tls_server_name;
    auto context = tls::TlsContext::createClient(settings);
    if (!context.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--upstream_tls_*: ", context.status().message()));
    }
    for (auto* pool : {&config.primaries, &config.backups}) {
      for (auto& host : *pool) host.tls = *context;
    }
  }
  for (const auto& name : options.filter_chain) config.filters.push_back({name, {}});
  config.mirror_mode =
      options.mirror == "sync" ? upstream::MirrorMode::kSync : upstream::MirrorMode::kAsync;
  config.eject_policy = options.eject_policy == "rehash" ? upstream::EjectPolicy::kRehash
                                                         : upstream::EjectPolicy::kBackup;
  config.miss_failover = options.miss_failover;
  return config;
}

Server::Server(Options options, FilterRegistry registry)
    : options_(std::move(options)), registry_(std::move(registry)), started_(absl::Now()) {
  budget_.max = options_.max_connections;
}

Server::~Server() {
  shutdown();
  workers_.clear();
  for (auto* e : signal_events_) event_free(e);
}

size_t Server::workerCount() const {
  if (options_.concurrency > 0) return static_cast<size_t>(options_.concurrency);
  return std::max(1u, std::thread::hardware_concurrency());
}

absl::Status Server::init() {
  const int concurrency = static_cast<int>(workerCount());
  WorkerOptions wo;
  wo.limits.parse.max_value_bytes = options_.max_value_bytes;
  wo.limits.parse.max_keys_per_get = options_.max_keys_per_get;
  wo.limits.max_inflight = options_.max_inflight;
  wo.limits.idle_timeout = options_.idle_timeout;
  wo.limits.request_read_timeout = options_.request_read_timeout;
  wo.limits.max_output_bytes = options_.max_client_output_bytes;
  wo.pool.max_value_bytes = options_.max_value_bytes;
  budget_.max_pending_request_bytes = options_.max_pending_request_bytes;
  capConnectionsByDescriptors(concurrency);
  // One largest request must fit: a value, or a multiget line of max_keys_per_get keys.
  wo.limits.max_read_buffer =
      options_.max_value_bytes + wo.limits.parse.max_line_bytes +
      options_.max_keys_per_get * (wo.limits.parse.max_key_length + 1) + 64 * 1024;
  wo.pool.max_connections = options_.max_keepalive;
  wo.pool.request_timeout = options_.request_timeout;
  wo.pool.connect_timeout = options_.connect_timeout;
  wo.health.eject_after_failures = options_.eject_after;
  wo.health.base_backoff = options_.retry_after;
  wo.replication.miss.window = options_.miss_window;
  wo.replication.miss.budget_per_second = static_cast<double>(options_.backup_read_budget);
  for (int i = 0; i < concurrency; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, wo, budget_));
    Worker* worker = workers_.back().get();
    worker->setHostEventHandler(
        [this, worker](const std::string& address, upstream::HostEvent event) {
          onHostEvent(*worker, address, event);
        });
    if (options_.port != 0) {
      auto st = workers_.back()->listenTcp(options_.listen_host, options_.port);
      if (!st.ok()) return st;
    }
    if (options_.tls_port != 0) {
      if (client_tls_ == nullptr) {
        // Loaded once: every worker's listener shares the context (and its ticket key, so a
        // session resumes on any worker).
        auto context = tls::TlsContext::createServer(
            {options_.tls_cert, options_.tls_key, options_.tls_client_ca});
        if (!context.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("--tls_port: ", context.status().message()));
        }
        client_tls_ = *context;
      }
      auto st = workers_.back()->listenTcp(options_.listen_host, options_.tls_port, client_tls_);
      if (!st.ok()) return st;
    }
  }
  if (!options_.unix_socket.empty()) {
    auto st = workers_[0]->listenUnix(options_.unix_socket);
    if (!st.ok()) return st;
  }
  upstream::PoolOptions probe_pool = wo.pool;
  probe_pool.max_connections = 2;
  upstream::HealthOptions probe_health = wo.health;
  probe_health.readmit_primaries_by_recovery = false;  // its probes' replies say "up".
  main_cluster_ =
      std::make_unique<upstream::ClusterView>(main_, probe_pool, probe_health, wo.replication);
  upstream::ProberOptions prober_options;
  prober_options.rehydrate = options_.rehydrate;
  prober_options.rehydrate_keys_per_second = options_.rehydrate_rate;
  {
    upstream::DnsOptions dns_options;
    dns_options.resolv_conf = options_.dns_resolv_conf;
    dns_options.hosts_file = options_.dns_hosts_file;
    auto dns = upstream::EvdnsClient::create(main_.base(), dns_options);
    if (!dns.ok()) return dns.status();
    dns_ = *std::move(dns);
    upstream::ResolverOptions resolver_options;
    resolver_options.refresh_interval = options_.dns_refresh;
    resolver_ = std::make_shared<upstream::HostResolver>(
        main_, *dns_, resolver_options,
        [this](upstream::AddressTableConstSharedPtr table) { publishAddresses(std::move(table)); });
  }
  prober_ = std::make_unique<upstream::HealthProber>(
      *main_cluster_, prober_options, [this](const std::string& address, bool up) {
        logLine(up ? LogLevel::kInfo : LogLevel::kWarn,
                absl::StrCat("server ", address, up ? " is up (probe)" : " is down (probe)"));
        if (!up) resolver_->refresh(address);  // a moved server is found before the period.
        for (auto& w : workers_) {
          Worker* worker = w.get();
          worker->dispatcher().post(
              [worker, address, up] { worker->applyProbeResult(address, up); });
        }
      },
      [this](const std::string& address) {
        // The primary may have lost data: its misses are worth a backup read on every worker.
        for (auto& w : workers_) {
          Worker* worker = w.get();
          worker->dispatcher().post([worker, address] {
            worker->cluster().replication().missPolicy().openWindow(address,
                                                                    worker->dispatcher().now());
          });
        }
      });
  {
    // A topology applied before init() (bootstrap flags) is installed directly: the worker
    // threads are not running yet.
    std::lock_guard<std::mutex> lock(apply_mutex_);
    if (current_ != nullptr) {
      for (auto& w : workers_) w->applyRouting(current_, current_chain_);
      main_cluster_->setSnapshot(current_);
      resolver_->setHosts(current_->allHosts());
    }
  }
  // SIGHUP (logrotate's postrotate, systemd's ExecReload) must never kill the proxy: it is
  // handled here and logged. SIGUSR1/2, SIGALRM and SIGPIPE are ignored (runMcmesh).
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    event* e = evsignal_new(main_.base(), sig, &Server::onSignal, this);
    evsignal_add(e, nullptr);
    signal_events_.push_back(e);
  }
  return absl::OkStatus();
}

void Server::capConnectionsByDescriptors(int concurrency) {
  // Each client connection costs a descriptor. Out of descriptors, accept() spins and upstream
  // connects fail (which used to eject healthy servers), so client connections stop short of
  // the limit: what is open now (stdio, the loops' internals) and a reserve for upstream
  // connections (per worker: one per server slot), the admin endpoint, the control plane and
  // the probes stay free.
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return;
  uint64_t open_now = 0;
  for (int fd = 0; fd < 1024 && fd < static_cast<int>(limit.rlim_cur); ++fd) {
    open_now += fcntl(fd, F_GETFD) != -1;
  }
  uint64_t reserve = options_.reserved_fds >= 0
                         ? static_cast<uint64_t>(options_.reserved_fds)
                         : std::max<uint64_t>(32, limit.rlim_cur / 8) +
                               static_cast<uint64_t>(concurrency) * 16;
  uint64_t per_worker_loop = 8;  // epoll, eventfd, listener, signal pipe...
  // An explicit --reserved_fds is taken as the whole margin (0 lets clients take everything).
  uint64_t used = open_now + reserve +
                  (options_.reserved_fds >= 0 ? 0 : static_cast<uint64_t>(concurrency) *
                                                         per_worker_loop);
  if (limit.rlim_cur < used + budget_.max && limit.rlim_cur < limit.rlim_max) {
    // As memcached does for -c: raise the soft limit towards the hard one when -n needs it.
    rlimit raised = limit;
    raised.rlim_cur = std::min<rlim_t>(limit.rlim_max, used + budget_.max);
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  uint64_t allowed = limit.rlim_cur > used ? limit.rlim_cur - used : 1;
  if (allowed < budget_.max) {
    logLine(LogLevel::kInfo,
            absl::StrCat("-n ", budget_.max, " exceeds what the descriptor limit allows (",
                         limit.rlim_cur, ", ", reserve,
                         " kept for upstreams and admin): client connections capped at ",
                         allowed));
    budget_.max = allowed;
  }
}

void Server::onSignal(int sig, short, void* arg) {
  static_cast<Server*>(arg)->handleSignal(sig);
}

void Server::handleSignal(int sig) {
  const char* name = sig == SIGHUP ? "SIGHUP" : sig == SIGINT ? "SIGINT" : "SIGTERM";
  if (sig == SIGHUP) {
    // Logs go to stderr (the supervisor owns that file), so there is nothing to reopen; the
    // topology comes from flags, --config at start-up or the control plane.
    logLine(LogLevel::kInfo, absl::StrCat("signal ", sig, " (", name,
                                          "): ignored (logs go to stderr: nothing to reopen)"));
    return;
  }
  if (!draining()) {
    logLine(LogLevel::kInfo,
            absl::StrCat("signal ", sig, " (", name, "): draining (up to ",
                         absl::FormatDuration(options_.drain_timeout),
                         "; SIGINT again exits at once)"));
    drain(options_.drain_timeout);
    return;
  }
  if (sig == SIGINT) {
    logLine(LogLevel::kWarn, absl::StrCat("signal ", sig, " (", name,
                                          ") during a drain: exiting now"));
    shutdown();
    return;
  }
  logLine(LogLevel::kInfo, absl::StrCat("signal ", sig, " (", name, "): already draining"));
}

int Server::run() {
  // glibc keeps freed memory in its heaps: after a burst of big replies (slow readers, huge
  // multi-gets) RSS stayed gigabytes above its baseline for good. Giving free pages back every
  // few seconds, on the main thread, returns it without making every big buffer an mmap (a
  // fixed mmap threshold made each 512 KiB value cost ~128 page faults: 5x slower).
  trim_timer_ = main_.createTimer([this] {
    malloc_trim(0);
    trim_timer_->enable(kTrimInterval);
  });
  trim_timer_->enable(kTrimInterval);
  for (auto& w : workers_) w->start();
  prober_->start();
  logLine(LogLevel::kInfo,
          absl::StrCat("mcmesh ", kVersionString, " listening on ", options_.listen_host,
                       ":", options_.port, " with ", workers_.size(), " worker(s)"));
  main_.run();
  for (auto& w : workers_) w->stop();
  prober_.reset();
  // Lookups in flight are cancelled, and evdns frees them in callbacks it defers to a loop turn:
  // one non-blocking turn here, before the evdns base goes, or they leak at exit.
  {
    std::lock_guard<std::mutex> lock(apply_mutex_);  // applyClusterConfig reads resolver_.
    resolver_.reset();
  }
  event_base_loop(main_.base(), EVLOOP_NONBLOCK);
  dns_.reset();
  main_cluster_->shutdown();
  main_.clearDeferred();
  return 0;
}

void Server::shutdown() { main_.exit(); }

void Server::drain(absl::Duration max_wait) {
  // Set here, not on the main loop, so /ready turns 503 as soon as the drain is asked for.
  if (draining_.exchange(true)) return;
  main_.post([this, max_wait] { beginDrain(max_wait); });
}

void Server::beginDrain(absl::Duration max_wait) {
  drain_deadline_ = absl::Now() + max_wait;
  logLine(LogLevel::kInfo,
          absl::StrCat("drain: stopped accepting; waiting up to ", absl::FormatDuration(max_wait),
                       " for ", budget_.open.load(), " client connection(s) to finish"));
  for (auto& w : workers_) {
    Worker* worker = w.get();
    worker->dispatcher().post([worker] { worker->beginDrain(kDrainIdleGrace); });
  }
  drain_timer_ = main_.createTimer([this] { checkDrain(); });
  drain_timer_->enable(kDrainPollInterval);
}

void Server::checkDrain() {
  uint64_t open = budget_.open.load();
  if (open == 0) {
    logLine(LogLevel::kInfo, "drain: all client connections closed; exiting");
    shutdown();
    return;
  }
  if (finishing_ && absl::Now() >= finish_deadline_) {
    logLine(LogLevel::kWarn, absl::StrCat("drain: ", open,
                                          " connection(s) still waiting for replies; exiting"));
    shutdown();
    return;
  }
  if (!finishing_ && absl::Now() >= drain_deadline_) {
    // Busy clients never go idle: stop reading from every connection, let the requests already
    // read get their replies (bounded by the upstream timeouts), then close.
    logLine(LogLevel::kWarn, absl::StrCat("drain: deadline passed with ", open,
                                          " client connection(s) open; closing them once their "
                                          "in-flight requests are answered"));
    finishing_ = true;
    finish_deadline_ =
        absl::Now() + std::max(absl::Seconds(1), 4 * options_.request_timeout);
    for (auto& w : workers_) {
      Worker* worker = w.get();
      worker->dispatcher().post([worker] { worker->finishDrain(); });
    }
  }
  drain_timer_->enable(kDrainPollInterval);
}

void Server::publishAddresses(upstream::AddressTableConstSharedPtr table) {
  {
    std::lock_guard<std::mutex> lock(addresses_mutex_);
    addresses_ = table;
  }
  main_cluster_->setAddresses(table);
  for (auto& w : workers_) {
    Worker* worker = w.get();
    worker->dispatcher().post([worker, table] { worker->applyAddresses(table); });
  }
}

void Server::onHostEvent(Worker& worker, const std::string& address, upstream::HostEvent event) {
  bool ejected = event == upstream::HostEvent::kEjected;
  if (ejected && resolver_ != nullptr) {
    // Connections failed: if the name moved, find out now rather than at the next period.
    std::weak_ptr<upstream::HostResolver> weak = resolver_;
    main_.post([weak, address] {
      if (auto resolver = weak.lock()) resolver->refresh(address);
    });
  }
  uint32_t failures = 0;
  absl::Time retry_at;
  worker.forEachHost([&](const std::string& a, const upstream::HostState& h) {
    if (a != address) return;
    failures = h.health.consecutiveFailures();
    retry_at = h.health.retryAt();
  });
  bool was_ejected = false;
  size_t others = 0;  // other workers with the host ejected.
  {
    std::lock_guard<std::mutex> lock(ejected_mutex_);
    std::vector<bool>& by_worker = ejected_[address];
    by_worker.resize(workers_.size());
    was_ejected = by_worker[worker.index()];
    by_worker[worker.index()] = ejected;
    for (size_t i = 0; i < by_worker.size(); ++i) others += i != worker.index() && by_worker[i];
  }
  // One INFO line per process-level transition; per-worker repeats and re-ejections of a
  // half-open host (its retry failed) are DEBUG, so a dead host does not flood the log.
  std::string where = absl::StrCat("worker ", worker.index());
  if (ejected && !was_ejected && others == 0) {
    logLine(LogLevel::kInfo,
            absl::StrCat("upstream ", address, " ejected after ", failures,
                         " consecutive failure(s) (", where, "); retry in ",
                         absl::FormatDuration(retry_at - worker.dispatcher().now())));
  } else if (!ejected && others == 0) {
    logLine(LogLevel::kInfo, absl::StrCat("upstream ", address, " recovered (", where, ")"));
  } else if (ejected && was_ejected) {
    logLine(LogLevel::kDebug,
            absl::StrCat("upstream ", address, " still failing after ", failures,
                         " consecutive failure(s) (", where, "); retry in ",
                         absl::FormatDuration(retry_at - worker.dispatcher().now())));
  } else {
    logLine(LogLevel::kDebug, absl::StrCat("upstream ", address,
                                           ejected ? " ejected" : " recovered", " (", where,
                                           "); ejected on ", others, " other worker(s)"));
  }
}

namespace {

// What a chain's builders may read: the filter specs and the cluster-wide settings that
// FilterContext::cluster carries (hosts and weights are the snapshot's, not the chain's).
bool sameChainInputs(const upstream::ClusterConfig& a, const upstream::ClusterConfig& b) {
  if (a.filters.size() != b.filters.size()) return false;
  for (size_t i = 0; i < a.filters.size(); ++i) {
    if (a.filters[i].name != b.filters[i].name || a.filters[i].config != b.filters[i].config) {
      return false;
    }
  }
  return a.name == b.name && a.mirror_mode == b.mirror_mode &&
         a.eject_policy == b.eject_policy && a.miss_failover == b.miss_failover &&
         a.warmup_window == b.warmup_window;
}

}  // namespace

absl::Status Server::applyClusterConfig(upstream::ClusterConfig config) {
  std::lock_guard<std::mutex> lock(apply_mutex_);
  // A push that changes only hosts or weights keeps the chain: filters' state (rate-limit
  // buckets, caches) lives as long as its chain, and rebuilding every filter for a weight change
  // would reset it.
  absl::StatusOr<FilterChainConstSharedPtr> chain = current_chain_;
  if (current_chain_ == nullptr || current_ == nullptr ||
      !sameChainInputs(current_->config(), config)) {
    FilterContext context;
    context.cluster = config;
    context.stats_reporter = [this](absl::string_view args) { return report(args); };
    context.counters = &filter_counters_;
    context.workers = workerCount();
    chain = registry_.buildChain(config.filters, context);
    if (!chain.ok()) return chain.status();
    chain_builds_.fetch_add(1);
  }
  uint64_t version = config.version;
  std::string name = config.name;
  absl::Time now = absl::Now();
  auto snapshot = upstream::ClusterSnapshot::create(std::move(config), current_, now);
  if (!snapshot.ok()) return snapshot.status();
  current_ = *snapshot;
  current_chain_ = *chain;
  last_applied_ = now;
  applies_.fetch_add(1);
  {
    // Hosts that left the topology lose their health state on the workers; forget it here too.
    std::lock_guard<std::mutex> ejected_lock(ejected_mutex_);
    for (auto it = ejected_.begin(); it != ejected_.end();) {
      bool listed = false;
      for (const upstream::HostConfig* h : current_->allHosts()) listed |= h->address == it->first;
      it = listed ? std::next(it) : ejected_.erase(it);
    }
  }
  for (auto& w : workers_) {
    Worker* worker = w.get();
    upstream::ClusterSnapshotConstSharedPtr s = *snapshot;
    FilterChainConstSharedPtr c = *chain;
    worker->dispatcher().post([worker, s, c] { worker->applyRouting(s, c); });
  }
  if (main_cluster_ != nullptr) {
    upstream::ClusterView* view = main_cluster_.get();
    std::weak_ptr<upstream::HostResolver> weak = resolver_;
    upstream::ClusterSnapshotConstSharedPtr s = *snapshot;
    main_.post([view, weak, s] {
      view->setSnapshot(s);
      if (auto resolver = weak.lock()) resolver->setHosts(s->allHosts());
    });
  }
  logLine(LogLevel::kInfo, absl::StrCat("topology applied: cluster ", name, " version ", version,
                                        ", ", current_->config().primaries.size(), " primaries, ",
                                        current_->config().backups.size(), " backups"));
  return absl::OkStatus();
}

upstream::ClusterSnapshotConstSharedPtr Server::currentSnapshot() const {
  std::lock_guard<std::mutex> lock(apply_mutex_);
  return current_;
}

std::vector<std::string> Server::currentFilterNames() const {
  std::lock_guard<std::mutex> lock(apply_mutex_);
  return current_chain_ != nullptr ? current_chain_->names : std::vector<std::string>{};
}

absl::Time Server::lastAppliedTime() const {
  std::lock_guard<std::mutex> lock(apply_mutex_);
  return last_applied_;
}

std::map<std::string, UpstreamReport> Server::upstreamReports() const {
  std::map<std::string, UpstreamReport> reports;
  for (const auto& w : workers_) {
    w->forEachHost([&reports](const std::string& address, const upstream::HostState& h) {
      UpstreamReport& r = reports[address];
      r.requests += h.stats.requests.value();
      r.errors += h.stats.errors.value();
      r.timeouts += h.stats.timeouts.value();
      r.connects += h.stats.connects.value();
      r.ejections += h.stats.ejections.value();
      r.recoveries += h.stats.recoveries.value();
      r.connections += h.stats.active_connections.value();
      r.tls_errors += h.stats.tls_errors.value();
    });
  }
  {
    std::lock_guard<std::mutex> lock(ejected_mutex_);
    for (const auto& [address, by_worker] : ejected_) {
      auto it = reports.find(address);
      if (it == reports.end()) continue;
      for (bool e : by_worker) it->second.ejected_workers += e;
    }
  }
  // Every listed host, used or not, says where its connections go.
  upstream::ClusterSnapshotConstSharedPtr snapshot = currentSnapshot();
  if (snapshot == nullptr) return reports;
  upstream::AddressTableConstSharedPtr table;
  {
    std::lock_guard<std::mutex> lock(addresses_mutex_);
    table = addresses_;
  }
  for (const upstream::HostConfig* h : snapshot->allHosts()) {
    UpstreamReport& r = reports[h->address];
    auto literal = upstream::HostAddress::fromLiteral(h->host, h->port);
    const upstream::HostAddress* named = nullptr;
    if (!literal.ok() && table != nullptr) {
      auto it = table->find(h->address);
      if (it != table->end()) named = &it->second;
    }
    const upstream::HostAddress& a =
        literal.ok() ? *literal : named != nullptr ? *named : upstream::HostAddress{};
    r.resolved = a.text;
    r.dns_state = a.stateName();
    r.dns_failures = a.failures;
    r.dns_error = a.error;
  }
  return reports;
}

std::map<std::string, upstream::RehydrationProgress> Server::rehydrations() const {
  if (prober_ == nullptr) return {};
  return prober_->rehydrations();
}

absl::Status Server::readiness() const {
  if (draining_.load()) return absl::UnavailableError("draining");
  upstream::ClusterSnapshotConstSharedPtr snapshot = currentSnapshot();
  if (snapshot == nullptr) return absl::UnavailableError("no topology applied");
  if (main_cluster_ == nullptr) return absl::UnavailableError("not started");
  // The prober's `stats` probes run through main_cluster_: a host whose last probe succeeded
  // has answered at least once and has no consecutive failure there.
  std::vector<std::string> reasons;
  for (const auto& primary : snapshot->config().primaries) {
    std::string why = "not probed yet";
    main_cluster_->forEachHost([&](const std::string& address, const upstream::HostState& h) {
      if (address != primary.address) return;
      if (h.stats.requests.value() > h.stats.errors.value() && !h.health.ejected() &&
          h.health.consecutiveFailures() == 0) {
        why.clear();
      } else {
        why = absl::StrCat(h.health.consecutiveFailures(), " consecutive probe failure(s)");
      }
    });
    if (why.empty()) return absl::OkStatus();
    reasons.push_back(absl::StrCat(primary.address, ": ", why));
  }
  return absl::UnavailableError(
      absl::StrCat("no primary is reachable (", absl::StrJoin(reasons, "; "), ")"));
}

uint64_t Server::sumCommand(Command command) const {
  uint64_t sum = 0;
  const size_t c = static_cast<size_t>(command);
  for (const auto& w : workers_) sum += w->counters().commands[c].value();
  return sum;
}

uint64_t Server::sumFilterCounter(size_t slot) const {
  uint64_t sum = 0;
  for (const auto& w : workers_) sum += w->counters().filter[slot].value();
  return sum;
}

uint64_t Server::sumCounter(Counter ProxyCounters::*counter) const {
  uint64_t sum = 0;
  for (const auto& w : workers_) sum += (w->counters().*counter).value();
  return sum;
}

StatLines Server::report(absl::string_view args) const {
  StatLines lines;
  auto add = [&lines](std::string name, auto value) {
    lines.emplace_back(std::move(name), absl::StrCat(value));
  };
  upstream::ClusterSnapshotConstSharedPtr snapshot = currentSnapshot();
  bool all = args.empty();
  if (all || args == "proxy") {
    add("pid", getpid());
    add("uptime", absl::ToInt64Seconds(absl::Now() - started_));
    add("time", absl::ToUnixSeconds(absl::Now()));
    add("version", kVersionString);
    add("threads", workers_.size());
    for (const CounterInfo& c : kProxyCounterInfo) add(c.stat_name, sumCounter(c.field));
    for (size_t c = 0; c < kCommandCount; ++c) {
      // Internal (read-repair's mg to servers); a client's mg counts as a get, as in memcached.
      if (static_cast<Command>(c) == Command::kMetaGet) continue;
      add(absl::StrCat("cmd_", commandName(static_cast<Command>(c))),
          sumCommand(static_cast<Command>(c)));
    }
    std::vector<FilterCounterRegistry::Entry> declared = filter_counters_.entries();
    for (size_t slot = 0; slot < declared.size(); ++slot) {
      add(absl::StrCat(declared[slot].filter, "_", declared[slot].name), sumFilterCounter(slot));
    }
    {
      // The backup's share of upstream requests, in percent: what miss-failover and mirroring
      // cost the backup pool (one backup usually stands behind many primaries).
      uint64_t backup = 0, all = 0;
      for (const auto& w : workers_) {
        w->forEachHost([&](const std::string& address, const upstream::HostState& h) {
          const uint64_t n = h.stats.requests.value();
          all += n;
          if (snapshot != nullptr && snapshot->isBackup(address)) backup += n;
        });
      }
      add("backup_request_share_pct", all == 0 ? 0 : backup * 100 / all);
    }
    add("topology_version", snapshot ? snapshot->version() : 0);
    absl::Time applied = lastAppliedTime();
    add("topology_applied_time",
        applied == absl::InfinitePast() ? 0 : absl::ToUnixSeconds(applied));
    add("control_plane_state", static_cast<int>(controlPlaneState()));
    for (const auto& [primary, p] : rehydrations()) {
      add(absl::StrCat("rehydrate:", primary),
          absl::StrCat(p.done ? "done" : (p.listing ? "listing" : "copying"), " copied=",
                       p.copied, " skipped=", p.skipped, " total=", p.total,
                       " failed=", p.failed));
    }
  }
  if ((all || args == "servers") && snapshot != nullptr) {
    // magent's `stats` listed its pools; we list every server with its state and counters
    // (the same sums /metrics exports).
    std::map<std::string, UpstreamReport> sums = upstreamReports();
    int index = 0;
    for (const auto* pool : {&snapshot->config().primaries, &snapshot->config().backups}) {
      bool primary = pool == &snapshot->config().primaries;
      for (const auto& h : *pool) {
        const UpstreamReport& s = sums[h.address];
        add(absl::StrCat(primary ? "primary_" : "backup_", ++index),
            absl::StrCat(h.address, " weight=", h.weight,
                         h.state == upstream::NodeState::kDraining ? " state=draining"
                                                                   : " state=active",
                         " requests=", s.requests, " errors=", s.errors,
                         " timeouts=", s.timeouts, " ejections=", s.ejections,
                         " connections=", s.connections, " ejected_workers=", s.ejected_workers,
                         " resolved=", s.resolved.empty() ? "-" : s.resolved, " dns=", s.dns_state,
                         " dns_failures=", s.dns_failures,
                         h.tls != nullptr ? " tls=on tls_errors=" : "",
                         h.tls != nullptr ? absl::StrCat(s.tls_errors) : ""));
      }
    }
  }
  return lines;
}

}  // namespace mcmesh
