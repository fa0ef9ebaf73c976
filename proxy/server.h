// Server: owns the workers, the main loop and the applied topology; the process's top object.
#pragma once

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
#include "proxy/upstream/health_prober.h"
#include "proxy/worker.h"

struct event;

namespace mcmesh {

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
  /** Stops accepting, waits for in-flight requests to finish (bounded), then shuts down. */
  void drain(absl::Duration max_wait);

  /**
   * Validates `config`, builds the snapshot and chain and installs them on every worker.
   * On error nothing changes (the control plane NACKs with the message). Thread-safe.
   */
  absl::Status applyClusterConfig(upstream::ClusterConfig config);
  /** The `stats` command's lines, summed over workers. Thread-safe. */
  StatLines report(absl::string_view args) const;
  upstream::ClusterSnapshotConstSharedPtr currentSnapshot() const;
  Dispatcher& mainDispatcher() { return main_; }
  const Options& options() const { return options_; }
  const std::vector<std::unique_ptr<Worker>>& workers() const { return workers_; }
  /** Sum of one counter over all workers. */
  uint64_t sumCounter(Counter ProxyCounters::*counter) const;

 private:
  static void onSignal(int, short, void* arg);

  Options options_;
  FilterRegistry registry_;
  Dispatcher main_;
  ConnectionBudget budget_;
  std::vector<std::unique_ptr<Worker>> workers_;
  mutable std::mutex apply_mutex_;  // serializes applies and guards current_.
  upstream::ClusterSnapshotConstSharedPtr current_;
  FilterChainConstSharedPtr current_chain_;
  std::vector<event*> signal_events_;
  // The main thread's own upstream view, for probes and rehydration (never the data path).
  std::unique_ptr<upstream::ClusterView> main_cluster_;
  std::unique_ptr<upstream::HealthProber> prober_;
  absl::Time started_;
};

}  // namespace mcmesh
