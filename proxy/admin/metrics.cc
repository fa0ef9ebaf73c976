// renderMetrics: one family per counter; per-upstream families labelled {pool, server}.
#include "proxy/admin/metrics.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "filters/ketama_router/router_filter.h"
#include "proxy/admin/exposition.h"

namespace mcmesh::admin {
namespace {

using Type = PrometheusWriter::Type;

// A family backed by one ProxyCounters field summed over workers.
struct CounterFamily {
  const char* name;
  Type type;
  Counter ProxyCounters::*counter;
  const char* help;
};

// Order is exposition order. Gauges are the Counters that go down as well as up.
const CounterFamily kCounterFamilies[] = {
    {"mcmesh_get_hits_total", Type::kCounter, &ProxyCounters::get_hits,
     "Keys found by retrieval commands (get, gets, gat, gats)."},
    {"mcmesh_get_misses_total", Type::kCounter, &ProxyCounters::get_misses,
     "Keys not found by retrieval commands."},
    {"mcmesh_protocol_errors_total", Type::kCounter, &ProxyCounters::protocol_errors,
     "Malformed client input answered with ERROR or CLIENT_ERROR."},
    {"mcmesh_server_errors_total", Type::kCounter, &ProxyCounters::server_errors,
     "SERVER_ERROR replies sent to clients (including upstream failures)."},
    {"mcmesh_values_too_large_total", Type::kCounter, &ProxyCounters::values_too_large,
     "Values refused for exceeding --max_value_bytes."},
    {"mcmesh_client_connections", Type::kGauge, &ProxyCounters::curr_connections,
     "Client connections open now."},
    {"mcmesh_client_connections_total", Type::kCounter, &ProxyCounters::total_connections,
     "Client connections accepted."},
    {"mcmesh_client_connections_rejected_total", Type::kCounter,
     &ProxyCounters::rejected_connections, "Client connections refused over the -n limit."},
    {"mcmesh_client_connections_idle_closed_total", Type::kCounter, &ProxyCounters::idle_closed,
     "Client connections closed by --idle_timeout_s."},
    {"mcmesh_client_read_buffer_overflows_total", Type::kCounter,
     &ProxyCounters::read_buffer_overflows,
     "Client connections closed because a request exceeded the read buffer cap."},
    {"mcmesh_client_inflight_limit_pauses_total", Type::kCounter,
     &ProxyCounters::inflight_limit_pauses,
     "Times reading from a client paused at --max_inflight pipelined requests."},
    {"mcmesh_tls_client_errors_total", Type::kCounter, &ProxyCounters::tls_client_errors,
     "TLS client connections closed by a failed handshake or TLS error."},
    {"mcmesh_tls_client_resumed_total", Type::kCounter, &ProxyCounters::tls_client_resumed,
     "TLS client handshakes that resumed a session (ticket or cache)."},
    {"mcmesh_accept_errors_total", Type::kCounter, &ProxyCounters::accept_errors,
     "accept() failures (out of descriptors); accepting pauses 100 ms after each."},
    {"mcmesh_client_slow_requests_closed_total", Type::kCounter,
     &ProxyCounters::slow_requests_closed,
     "Client connections closed: a request incomplete past --request_read_timeout_s."},
    {"mcmesh_client_pending_bytes_refusals_total", Type::kCounter,
     &ProxyCounters::pending_bytes_refusals,
     "Client connections refused: unfinished requests over --max_pending_request_bytes."},
    {"mcmesh_client_output_limit_pauses_total", Type::kCounter,
     &ProxyCounters::output_limit_pauses,
     "Times reading from a client paused at --max_client_output_bytes of unsent replies."},
    {"mcmesh_client_output_overflows_total", Type::kCounter, &ProxyCounters::output_overflows,
     "Retrieval replies refused (SERVER_ERROR): the client was far over its output cap."},
    {"mcmesh_client_output_stalls_closed_total", Type::kCounter,
     &ProxyCounters::output_stalls_closed,
     "Client connections closed: over the output cap and reading nothing for "
     "--request_read_timeout_s."},
    {"mcmesh_failover_reads_total", Type::kCounter, &ProxyCounters::failover_reads,
     "Keys re-read from the backup because the primary was down or missed."},
    {"mcmesh_failover_writes_total", Type::kCounter, &ProxyCounters::failover_writes,
     "Writes sent to the backup because the primary was down."},
    {"mcmesh_backup_hits_total", Type::kCounter, &ProxyCounters::backup_hits,
     "Keys served from the backup pool."},
    {"mcmesh_repairs_done_total", Type::kCounter, &ProxyCounters::repairs_done,
     "Items copied back to a primary after a backup hit (read-repair)."},
    {"mcmesh_repairs_failed_total", Type::kCounter, &ProxyCounters::repairs_failed,
     "Read-repairs that failed."},
    {"mcmesh_warm_copies_total", Type::kCounter, &ProxyCounters::warm_copies,
     "Items copied from a previous owner during a warm-up window after a topology change."},
    {"mcmesh_warm_invalidations_total", Type::kCounter, &ProxyCounters::warm_invalidations,
     "Previous-owner copies deleted by writes during a warm-up window."},
    {"mcmesh_dirty_invalidations_total", Type::kCounter, &ProxyCounters::dirty_invalidations,
     "Stale primary copies deleted after the primary recovered."},
    {"mcmesh_copies_lost_race_total", Type::kCounter, &ProxyCounters::copies_lost_race,
     "Copies abandoned because a client write reached the target first (the safe outcome)."},
    {"mcmesh_copies_busy_total", Type::kCounter, &ProxyCounters::copies_busy,
     "Copies skipped because another copier held the key's lease."},
    {"mcmesh_placeholders_hidden_total", Type::kCounter, &ProxyCounters::placeholders_hidden,
     "Lease placeholders read from a primary and answered as misses."},
    {"mcmesh_backup_reads_skipped_total", Type::kCounter, &ProxyCounters::backup_reads_skipped,
     "Primary misses not read from the backup (outside a restart window and over budget)."},
    {"mcmesh_journal_appends_total", Type::kCounter, &ProxyCounters::journal_appends,
     "Keys recorded in a primary's dirty journal on the backup (failover writes)."},
    {"mcmesh_journal_errors_total", Type::kCounter, &ProxyCounters::journal_errors,
     "Dirty-journal appends the backup refused."},
    {"mcmesh_delete_fence_hits_total", Type::kCounter, &ProxyCounters::delete_fence_hits,
     "Second primary deletes that removed a copy made during the delete."},
    {"mcmesh_mirror_sent_total", Type::kCounter, &ProxyCounters::mirror_sent,
     "Writes mirrored to the backup pool."},
    {"mcmesh_mirror_errors_total", Type::kCounter, &ProxyCounters::mirror_errors,
     "Mirrored writes the backup failed or refused."},
    {"mcmesh_mirror_dropped_total", Type::kCounter, &ProxyCounters::mirror_dropped,
     "Asynchronous mirror writes dropped because the queue was full."},
    {"mcmesh_mirror_inflight", Type::kGauge, &ProxyCounters::mirror_inflight,
     "Asynchronous mirror writes awaiting the backup's reply (queue depth)."},
};

void requestFamilies(const Server& server, PrometheusWriter& w) {
  w.family("mcmesh_requests_total", Type::kCounter, "Client requests decoded, by command.");
  for (size_t c = 0; c < kCommandCount; ++c) {
    uint64_t sum = 0;
    for (const auto& worker : server.workers()) {
      sum += worker->cluster().counters().commands[c].value();
    }
    w.value({{"command", std::string(commandName(static_cast<Command>(c)))}}, sum);
  }
  std::array<uint64_t, LatencyHistogram::kBucketCount> counts{};
  uint64_t sum_us = 0;
  for (const auto& worker : server.workers()) {
    const LatencyHistogram& h = worker->cluster().counters().request_latency;
    for (size_t i = 0; i < counts.size(); ++i) counts[i] += h.bucket(i);
    sum_us += h.sumMicros();
  }
  std::array<double, LatencyHistogram::kBoundsUs.size()> bounds;
  for (size_t i = 0; i < bounds.size(); ++i) bounds[i] = LatencyHistogram::kBoundsUs[i] / 1e6;
  w.family("mcmesh_request_duration_seconds", Type::kHistogram,
           "Time from decoding a client request to its reply being ready, in seconds.");
  w.histogram({}, bounds, counts, sum_us / 1e6);
}

void upstreamFamilies(const Server& server, PrometheusWriter& w) {
  upstream::ClusterSnapshotConstSharedPtr snapshot = server.currentSnapshot();
  std::map<std::string, UpstreamReport> reports = server.upstreamReports();
  // (labels, report) per listed host, primaries first; an address listed twice is shown once.
  std::vector<std::pair<Labels, UpstreamReport>> hosts;
  if (snapshot != nullptr) {
    std::set<std::pair<std::string, std::string>> seen;
    for (const char* pool : {"primary", "backup"}) {
      const auto& list = std::string(pool) == "primary" ? snapshot->config().primaries
                                                        : snapshot->config().backups;
      for (const auto& h : list) {
        if (!seen.insert({pool, h.address}).second) continue;
        hosts.push_back({{{"pool", pool}, {"server", h.address}}, reports[h.address]});
      }
    }
  }
  struct UpstreamFamily {
    const char* name;
    Type type;
    uint64_t UpstreamReport::*field;
    const char* help;
  };
  static const UpstreamFamily kFamilies[] = {
      {"mcmesh_upstream_requests_total", Type::kCounter, &UpstreamReport::requests,
       "Requests sent to the upstream server."},
      {"mcmesh_upstream_errors_total", Type::kCounter, &UpstreamReport::errors,
       "Connect errors, IO errors and timeouts talking to the upstream server."},
      {"mcmesh_upstream_timeouts_total", Type::kCounter, &UpstreamReport::timeouts,
       "Requests or connects to the upstream server that timed out."},
      {"mcmesh_upstream_ejections_total", Type::kCounter, &UpstreamReport::ejections,
       "Times a worker ejected the upstream server (including re-ejections after a failed retry)."},
      {"mcmesh_upstream_recoveries_total", Type::kCounter, &UpstreamReport::recoveries,
       "Times a worker readmitted the upstream server after an ejection."},
      {"mcmesh_upstream_connects_total", Type::kCounter, &UpstreamReport::connects,
       "Connections opened to the upstream server."},
      {"mcmesh_upstream_connections", Type::kGauge, &UpstreamReport::connections,
       "Connections open to the upstream server now."},
  };
  for (const auto& f : kFamilies) {
    w.family(f.name, f.type, f.help);
    for (const auto& [labels, report] : hosts) w.value(labels, report.*(f.field));
  }
  w.family("mcmesh_upstream_ejected_workers", Type::kGauge,
           "Workers that have the upstream server ejected now.");
  for (const auto& [labels, report] : hosts) {
    w.value(labels, static_cast<uint64_t>(report.ejected_workers));
  }
  w.family("mcmesh_upstream_up", Type::kGauge,
           "1 if no worker has the upstream server ejected, else 0.");
  for (const auto& [labels, report] : hosts) {
    w.value(labels, static_cast<uint64_t>(report.ejected_workers == 0 ? 1 : 0));
  }
}

void rehydrationFamilies(const Server& server, PrometheusWriter& w) {
  std::map<std::string, upstream::RehydrationProgress> progress = server.rehydrations();
  struct Field {
    const char* name;
    uint64_t upstream::RehydrationProgress::*field;
    const char* help;
  };
  static const Field kFields[] = {
      {"mcmesh_rehydration_listed_keys", &upstream::RehydrationProgress::total,
       "Keys on the backups that the latest rehydration of this primary found to copy."},
      {"mcmesh_rehydration_copied_keys", &upstream::RehydrationProgress::copied,
       "Keys the latest rehydration stored on this primary."},
      {"mcmesh_rehydration_skipped_keys", &upstream::RehydrationProgress::skipped,
       "Keys the latest rehydration left alone: already there, gone, or a client write won."},
      {"mcmesh_rehydration_failed_keys", &upstream::RehydrationProgress::failed,
       "Keys the latest rehydration of this primary failed to copy."},
  };
  for (const auto& f : kFields) {
    w.family(f.name, Type::kGauge, f.help);
    for (const auto& [primary, p] : progress) w.value({{"primary", primary}}, p.*(f.field));
  }
  w.family("mcmesh_rehydration_in_progress", Type::kGauge,
           "1 while a rehydration of this primary is running.");
  for (const auto& [primary, p] : progress) {
    w.value({{"primary", primary}}, static_cast<uint64_t>(p.done ? 0 : 1));
  }
}

}  // namespace

std::string renderMetrics(const Server& server) {
  PrometheusWriter w;
  w.family("mcmesh_info", Type::kGauge, "Always 1; the labels describe this build.");
  w.value({{"version", router::kVersionString}}, uint64_t{1});
  w.family("mcmesh_start_time_seconds", Type::kGauge, "When the process started (Unix time).");
  w.value({}, absl::ToDoubleSeconds(server.startTime() - absl::UnixEpoch()));
  w.family("mcmesh_workers", Type::kGauge, "Worker threads.");
  w.value({}, static_cast<uint64_t>(server.workers().size()));
  requestFamilies(server, w);
  for (const auto& f : kCounterFamilies) {
    w.family(f.name, f.type, f.help);
    w.value({}, server.sumCounter(f.counter));
  }
  upstreamFamilies(server, w);
  rehydrationFamilies(server, w);

  upstream::ClusterSnapshotConstSharedPtr snapshot = server.currentSnapshot();
  w.family("mcmesh_topology_version", Type::kGauge,
           "Version of the applied topology (0 for command-line servers or none).");
  w.value({}, snapshot != nullptr ? snapshot->version() : uint64_t{0});
  w.family("mcmesh_topology_last_update_timestamp_seconds", Type::kGauge,
           "When the applied topology was installed (Unix time; 0 before the first).");
  absl::Time applied = server.lastAppliedTime();
  w.value({}, applied == absl::InfinitePast() ? 0.0
                                              : absl::ToDoubleSeconds(applied - absl::UnixEpoch()));
  w.family("mcmesh_topology_updates_total", Type::kCounter, "Topologies applied.");
  w.value({}, server.topologyApplies());
  w.family("mcmesh_control_plane_state", Type::kGauge,
           "Control-plane subscription: 0 not configured, 1 connecting, 2 connected.");
  w.value({}, static_cast<uint64_t>(server.controlPlaneState()));
  w.family("mcmesh_draining", Type::kGauge, "1 after POST /drain, until the process exits.");
  w.value({}, static_cast<uint64_t>(server.draining() ? 1 : 0));
  return w.text();
}

}  // namespace mcmesh::admin
