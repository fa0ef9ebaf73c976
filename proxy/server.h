// Server: owns the workers, the main loop and the applied topology; the process's top object.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proxy/dispatcher.h"
#include "proxy/filter_registry.h"
#include "proxy/options.h"
#include "proxy/upstream/cluster_snapshot.h"
#include "proxy/upstream/cluster_view.h"
#include "proxy/upstream/dns_client.h"
#include "proxy/upstream/health_prober.h"
#include "proxy/upstream/host_resolver.h"
#include "proxy/worker.h"

struct event;

namespace mcmesh {

/** What the control-plane subscription is doing; exported as mcmesh_control_plane_state. */
enum class ControlPlaneState { kNotConfigured = 0, kConnecting = 1, kConnected = 2 };

/** One upstream host's counters summed over workers: `stats servers`, /metrics, /topology. */
struct UpstreamReport {
  uint64_t requests = 0;
  uint64_t errors = 0;  // connect/IO errors and timeouts.
  uint64_t timeouts = 0;
  uint64_t connects = 0;
  uint64_t ejections = 0;
  uint64_t recoveries = 0;
  uint64_t connections = 0;    // open now.
  uint64_t tls_errors = 0;     // failed TLS handshakes/sessions (in errors too).
  size_t ejected_workers = 0;  // workers that have the host ejected now.
  // Where the host's connections go: its IP literal, or what its name resolves to now.
  std::string resolved;        // "10.1.2.3:11211"; empty while the name has no address.
  std::string dns_state;       // literal, pending, resolved, stale or failed.
  uint64_t dns_failures = 0;   // lookups that gave no address.
  std::string dns_error;       // the last lookup's error, if any.
};

/** Builds the cluster config the CLI describes (-s, -b and the mcmesh options). */
absl::StatusOr<upstream::ClusterConfig> clusterConfigFromOptions(const Options& options);

class Server {
 public:
  /** `registry` holds the filters this binary was built with (built-ins plus users'). */
  Server(Options options, FilterRegistry registry);
  ~Server();

  /** Creates workers and binds listeners (before daemonizing or dropping privileges). */
  absl::Status init();
  /** Starts the worker threads and runs the main loop until shutdown(); returns an exit code. */
  int run();
  /** Stops everything; safe from any thread and from signal context via the main loop. */
  void shutdown();
  /**
   * Starts a drain and returns at once (any thread): stops accepting, closes client connections
   * as they go idle, and shuts down when none is left or `max_wait` has passed.
   */
  void drain(absl::Duration max_wait);
  bool draining() const { return draining_.load(); }

  /**
   * Validates `config`, builds the snapshot and chain and installs them on every worker.
   * On error nothing changes (the control plane NACKs with the message). Thread-safe.
   */
  absl::Status applyClusterConfig(upstream::ClusterConfig config);
  /** The `stats` command's lines, summed over workers. Thread-safe. */
  StatLines report(absl::string_view args) const;
  upstream::ClusterSnapshotConstSharedPtr currentSnapshot() const;
  /** The applied filter chain's names in order (the default chain spelled out). Thread-safe. */
  std::vector<std::string> currentFilterNames() const;
  Dispatcher& mainDispatcher() { return main_; }
  const Options& options() const { return options_; }
  const std::vector<std::unique_ptr<Worker>>& workers() const { return workers_; }
  /** Sum of one counter over all workers. */
  uint64_t sumCounter(Counter ProxyCounters::*counter) const;
  uint64_t sumCommand(Command command) const;  // commands[command] over workers.
  /** Filter chains built so far (a push that changes only hosts or weights builds none). */
  uint64_t chainBuilds() const { return chain_builds_.load(); }
  uint64_t sumFilterCounter(size_t slot) const;  // a declared filter counter over workers.
  /** Worker threads (--concurrency, or one per core): known before init() for chain builds. */
  size_t workerCount() const;
  /** The counters filters declared (proxy/filter_counters.h). */
  const FilterCounterRegistry& filterCounters() const { return filter_counters_; }
  /** Per-host counters summed over workers, by address (hosts no worker has used are absent). */
  std::map<std::string, UpstreamReport> upstreamReports() const;
  /** Latest rehydration progress per primary. Thread-safe. */
  std::map<std::string, upstream::RehydrationProgress> rehydrations() const;
  /**
   * OK when a topology is applied, the proxy is not draining and some primary answered its last
   * health probe; otherwise why not. Main thread only (reads the prober's view).
   */
  absl::Status readiness() const;
  /** When the current topology was applied; InfinitePast() before the first. */
  absl::Time lastAppliedTime() const;
  uint64_t topologyApplies() const { return applies_.load(); }
  absl::Time startTime() const { return started_; }
  /** Set by the control-plane integration; kNotConfigured until then. */
  void setControlPlaneState(ControlPlaneState state) {
    control_plane_state_.store(static_cast<int>(state));
  }
  ControlPlaneState controlPlaneState() const {
    return static_cast<ControlPlaneState>(control_plane_state_.load());
  }

 private:
  static void onSignal(int, short, void* arg);
  // SIGHUP: logged and ignored. SIGTERM/SIGINT: drain for --drain_timeout_s; a second SIGINT
  // exits at once.
  void handleSignal(int sig);
  // Lowers the -n cap so client connections leave descriptors for upstreams (see .cc).
  void capConnectionsByDescriptors(int concurrency);
  void beginDrain(absl::Duration max_wait);  // main thread.
  void checkDrain();
  // Runs on `worker`'s thread when it ejects or recovers a host: logs process-level transitions.
  void onHostEvent(Worker& worker, const std::string& address, upstream::HostEvent event);
  // Main thread: hands the resolver's new table to every worker and the main cluster view.
  void publishAddresses(upstream::AddressTableConstSharedPtr table);

  Options options_;
  FilterRegistry registry_;
  FilterCounterRegistry filter_counters_;  // before the chains that hold its counters.
  std::atomic<uint64_t> chain_builds_{0};
  Dispatcher main_;
  ConnectionBudget budget_;
  std::vector<std::unique_ptr<Worker>> workers_;
  tls::TlsContextConstSharedPtr client_tls_;  // the --tls_port listeners' certificates.
  mutable std::mutex apply_mutex_;  // serializes applies and guards current_.
  upstream::ClusterSnapshotConstSharedPtr current_;
  FilterChainConstSharedPtr current_chain_;
  std::vector<event*> signal_events_;
  // The main thread's own upstream view, for probes and rehydration (never the data path).
  std::unique_ptr<upstream::ClusterView> main_cluster_;
  std::unique_ptr<upstream::HealthProber> prober_;
  // Names of upstream hosts, looked up on the main loop (declared in this order: the resolver
  // cancels its lookups before the client goes). Shared so that callbacks posted to the main
  // loop hold it weakly: run() frees it before a last loop turn.
  upstream::DnsClientPtr dns_;
  std::shared_ptr<upstream::HostResolver> resolver_;
  mutable std::mutex addresses_mutex_;
  upstream::AddressTableConstSharedPtr addresses_;  // the latest published; for reports.
  absl::Time started_;
  absl::Time last_applied_ = absl::InfinitePast();  // guarded by apply_mutex_.
  std::atomic<uint64_t> applies_{0};
  std::atomic<int> control_plane_state_{0};
  std::atomic<bool> draining_{false};
  absl::Time drain_deadline_;  // main thread.
  bool finishing_ = false;     // past drain_deadline_: connections close once answered.
  absl::Time finish_deadline_;
  TimerPtr drain_timer_;       // declared after main_: freed before its loop.
  TimerPtr trim_timer_;        // gives free heap memory back to the system (malloc_trim).
  // Which workers have each host ejected now, from their host events (rare; read by stats).
  mutable std::mutex ejected_mutex_;
  std::map<std::string, std::vector<bool>> ejected_;
};

}  // namespace mcmesh
