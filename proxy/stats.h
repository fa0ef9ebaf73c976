// ProxyCounters: the plain per-worker counters every filter and the core increment.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>

#include "proxy/message.h"

namespace mcmesh {

// A counter written by one thread (its worker) and read by any: relaxed atomics make the reads
// race-free without a locked read-modify-write on the data path.
class Counter {
 public:
  void inc(uint64_t n = 1) { value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  void dec(uint64_t n = 1) { value_.store(value_.load(std::memory_order_relaxed) - n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

constexpr size_t kCommandCount = static_cast<size_t>(Command::kMetaGet) + 1;
// Slots for counters that filters declare (proxy/filter_counters.h): 2 KiB per worker.
constexpr size_t kMaxFilterCounters = 256;

// A fixed-bucket latency histogram, cheap enough to observe on every request: a binary search
// over 13 bounds and two relaxed stores, no lock, no allocation. Buckets are per-bucket counts
// (not cumulative); exposition sums them. Written by one thread, read by any (like Counter).
class LatencyHistogram {
 public:
  // Upper bounds in microseconds (Prometheus `le`); one more bucket catches everything above.
  static constexpr std::array<uint64_t, 13> kBoundsUs = {
      100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000};
  static constexpr size_t kBucketCount = kBoundsUs.size() + 1;

  void observe(uint64_t micros) {
    size_t i = std::lower_bound(kBoundsUs.begin(), kBoundsUs.end(), micros) - kBoundsUs.begin();
    buckets_[i].inc();
    sum_us_.inc(micros);
  }
  /** Observations in bucket `i` alone (i == kBoundsUs.size() is the +Inf overflow bucket). */
  uint64_t bucket(size_t i) const { return buckets_[i].value(); }
  uint64_t sumMicros() const { return sum_us_.value(); }

 private:
  std::array<Counter, kBucketCount> buckets_;
  Counter sum_us_;
};

// Every proxy-wide counter, listed once: X(field, type, Prometheus family, help). The `stats`
// name is the field's name. ProxyCounters, the `stats` reply (Server::report) and /metrics
// (admin/metrics.cc) are all generated from this list, so a new counter is one line here.
// Gauges are the counters that go down as well as up.
#define MCMESH_PROXY_COUNTERS(X)                                                            \
  X(get_hits, Counter, "mcmesh_get_hits_total",                                             \
    "Keys found by retrieval commands (get, gets, gat, gats).")                             \
  X(get_misses, Counter, "mcmesh_get_misses_total",                                         \
    "Keys not found by retrieval commands.")                                                \
  X(protocol_errors, Counter, "mcmesh_protocol_errors_total",                               \
    "Malformed client input answered with ERROR or CLIENT_ERROR.")                          \
  X(server_errors, Counter, "mcmesh_server_errors_total",                                   \
    "SERVER_ERROR replies sent to clients (including upstream failures).")                  \
  X(curr_connections, Gauge, "mcmesh_client_connections",                                   \
    "Client connections open now.")                                                         \
  X(total_connections, Counter, "mcmesh_client_connections_total",                          \
    "Client connections accepted.")                                                         \
  X(rejected_connections, Counter, "mcmesh_client_connections_rejected_total",              \
    "Client connections refused over the -n limit.")                                        \
  X(idle_closed, Counter, "mcmesh_client_connections_idle_closed_total",                    \
    "Client connections closed by --idle_timeout_s.")                                       \
  X(read_buffer_overflows, Counter, "mcmesh_client_read_buffer_overflows_total",            \
    "Client connections closed because a request exceeded the read buffer cap.")            \
  X(inflight_limit_pauses, Counter, "mcmesh_client_inflight_limit_pauses_total",            \
    "Times reading from a client paused at --max_inflight pipelined requests.")             \
  X(values_too_large, Counter, "mcmesh_values_too_large_total",                             \
    "Values refused for exceeding --max_value_bytes.")                                      \
  X(accept_errors, Counter, "mcmesh_accept_errors_total",                                   \
    "accept() failures (out of descriptors); accepting pauses 100 ms after each.")          \
  X(slow_requests_closed, Counter, "mcmesh_client_slow_requests_closed_total",              \
    "Client connections closed: a request incomplete past --request_read_timeout_s.")       \
  X(pending_bytes_refusals, Counter, "mcmesh_client_pending_bytes_refusals_total",          \
    "Client connections refused: unfinished requests over --max_pending_request_bytes.")    \
  X(output_limit_pauses, Counter, "mcmesh_client_output_limit_pauses_total",                \
    "Times reading from a client paused at --max_client_output_bytes of unsent replies.")   \
  X(output_overflows, Counter, "mcmesh_client_output_overflows_total",                      \
    "Retrieval replies refused (SERVER_ERROR): the client was far over its output cap.")    \
  X(output_stalls_closed, Counter, "mcmesh_client_output_stalls_closed_total",              \
    "Client connections closed: over the output cap and reading nothing for "               \
    "--request_read_timeout_s.")                                                            \
  X(tls_client_errors, Counter, "mcmesh_tls_client_errors_total",                           \
    "TLS client connections closed by a failed handshake or a TLS error.")                  \
  X(tls_client_resumed, Counter, "mcmesh_tls_client_resumed_total",                         \
    "TLS client handshakes that resumed a session (ticket or cache).")                      \
  X(failover_reads, Counter, "mcmesh_failover_reads_total",                                 \
    "Keys re-read from the backup because the primary was down or missed.")                 \
  X(failover_writes, Counter, "mcmesh_failover_writes_total",                               \
    "Writes sent to the backup because the primary was down.")                              \
  X(backup_hits, Counter, "mcmesh_backup_hits_total",                                       \
    "Keys served from the backup pool.")                                                    \
  X(repairs_done, Counter, "mcmesh_repairs_done_total",                                     \
    "Items copied back to a primary after a backup hit (read-repair).")                     \
  X(repairs_failed, Counter, "mcmesh_repairs_failed_total",                                 \
    "Read-repairs that failed.")                                                            \
  X(warm_copies, Counter, "mcmesh_warm_copies_total",                                       \
    "Items copied from a previous owner during a warm-up window after a topology change.")  \
  X(warm_invalidations, Counter, "mcmesh_warm_invalidations_total",                         \
    "Previous-owner copies deleted by writes during a warm-up window.")                     \
  X(dirty_invalidations, Counter, "mcmesh_dirty_invalidations_total",                       \
    "Stale primary copies deleted after the primary recovered.")                            \
  X(copies_lost_race, Counter, "mcmesh_copies_lost_race_total",                             \
    "Copies abandoned because a client write reached the target first (the safe outcome).") \
  X(copies_busy, Counter, "mcmesh_copies_busy_total",                                       \
    "Copies skipped because another copier held the key's lease.")                          \
  X(placeholders_hidden, Counter, "mcmesh_placeholders_hidden_total",                       \
    "Lease placeholders read from a primary and answered as misses.")                       \
  X(backup_reads_skipped, Counter, "mcmesh_backup_reads_skipped_total",                     \
    "Primary misses not read from the backup (outside a restart window and over budget).")  \
  X(journal_appends, Counter, "mcmesh_journal_appends_total",                               \
    "Keys recorded in a primary's dirty journal on the backup (failover writes).")          \
  X(journal_errors, Counter, "mcmesh_journal_errors_total",                                 \
    "Dirty-journal appends the backup refused.")                                            \
  X(delete_fence_hits, Counter, "mcmesh_delete_fence_hits_total",                           \
    "Second primary deletes that removed a copy made during the delete.")                   \
  X(mirror_sent, Counter, "mcmesh_mirror_sent_total",                                       \
    "Writes mirrored to the backup pool.")                                                  \
  X(mirror_errors, Counter, "mcmesh_mirror_errors_total",                                   \
    "Mirrored writes the backup failed or refused.")                                        \
  X(mirror_dropped, Counter, "mcmesh_mirror_dropped_total",                                 \
    "Asynchronous mirror writes dropped because the queue was full.")                       \
  X(mirror_inflight, Gauge, "mcmesh_mirror_inflight",                                       \
    "Asynchronous mirror writes awaiting the backup's reply (queue depth).")

enum class CounterType { kCounter, kGauge };

// One instance per worker, written only by that worker's thread; readers on other threads sum
// snapshots of them (values may be a moment stale, never torn).
struct ProxyCounters {
  std::array<Counter, kCommandCount> commands;  // by Command.
#define MCMESH_COUNTER_FIELD(field, type, family, help) Counter field;
  MCMESH_PROXY_COUNTERS(MCMESH_COUNTER_FIELD)
#undef MCMESH_COUNTER_FIELD
  // Client-facing latency: from decoding a request to its reply being ready to write.
  LatencyHistogram request_latency;
  // Filters' own counters, by FilterCounter slot (declared in the server's FilterCounterRegistry).
  std::array<Counter, kMaxFilterCounters> filter;
};

// The list above as data, for the `stats` reply and /metrics.
struct CounterInfo {
  const char* stat_name;
  CounterType type;
  const char* family;
  const char* help;
  Counter ProxyCounters::*field;
};

inline constexpr CounterInfo kProxyCounterInfo[] = {
#define MCMESH_COUNTER_INFO(field, type, family, help) \
  {#field, CounterType::k##type, family, help, &ProxyCounters::field},
    MCMESH_PROXY_COUNTERS(MCMESH_COUNTER_INFO)
#undef MCMESH_COUNTER_INFO
};

}  // namespace mcmesh
