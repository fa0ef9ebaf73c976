// renderMetrics: one family per counter; per-upstream families labelled {pool, server}.
#include "proxy/admin/metrics.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "proxy/version.h"
#include "proxy/admin/exposition.h"

namespace mcmesh::admin {
namespace {

using Type = PrometheusWriter::Type;

void requestFamilies(const Server& server, PrometheusWriter& w) {
  w.family("mcmesh_requests_total", Type::kCounter, "Client requests decoded, by command.");
  for (size_t c = 0; c < kCommandCount; ++c) {
    // Internal (read-repair's mg to servers); a client's mg counts as a get, as in memcached.
    if (static_cast<Command>(c) == Command::kMetaGet) continue;
    w.value({{"command", std::string(commandName(static_cast<Command>(c)))}},
            server.sumCommand(static_cast<Command>(c)));
  }
  std::array<uint64_t, LatencyHistogram::kBucketCount> counts{};
  uint64_t sum_us = 0;
  for (const auto& worker : server.workers()) {
    const LatencyHistogram& h = worker->counters().request_latency;
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
  w.family("mcmesh_upstream_dns_failures_total", Type::kCounter,
           "Lookups of the upstream server's name that gave no address.");
  for (const auto& [labels, report] : hosts) w.value(labels, report.dns_failures);
  // An info-style series: the address is a label, so a move shows as a new series.
  w.family("mcmesh_upstream_address_info", Type::kGauge,
           "1 for the address the upstream server's connections go to (its IP literal or what "
           "its name resolves to now); absent while a name has no address.");
  for (const auto& [labels, report] : hosts) {
    if (report.resolved.empty()) continue;
    Labels with_address = labels;
    with_address.push_back({"address", report.resolved});
    w.value(with_address, uint64_t{1});
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
  w.value({{"version", kVersionString}}, uint64_t{1});
  w.family("mcmesh_start_time_seconds", Type::kGauge, "When the process started (Unix time).");
  w.value({}, absl::ToDoubleSeconds(server.startTime() - absl::UnixEpoch()));
  w.family("mcmesh_workers", Type::kGauge, "Worker threads.");
  w.value({}, static_cast<uint64_t>(server.workers().size()));
  requestFamilies(server, w);
  for (const CounterInfo& c : kProxyCounterInfo) {
    w.family(c.family, c.type == CounterType::kGauge ? Type::kGauge : Type::kCounter, c.help);
    w.value({}, server.sumCounter(c.field));
  }
  std::vector<FilterCounterRegistry::Entry> declared = server.filterCounters().entries();
  for (size_t slot = 0; slot < declared.size(); ++slot) {
    const FilterCounterRegistry::Entry& e = declared[slot];
    w.family(absl::StrCat("mcmesh_filter_", e.filter, "_", e.name, "_total"), Type::kCounter,
             e.help.empty() ? absl::StrCat("Counter ", e.name, " of filter ", e.filter, ".")
                            : e.help);
    w.value({}, server.sumFilterCounter(slot));
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
