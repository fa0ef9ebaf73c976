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

// One instance per worker, written only by that worker's thread; readers on other threads sum
// snapshots of them (values may be a moment stale, never torn).
struct ProxyCounters {
  std::array<Counter, kCommandCount> commands;  // by Command.
  Counter get_hits;
  Counter get_misses;
  Counter protocol_errors;    // malformed client input answered with ERROR/CLIENT_ERROR.
  Counter server_errors;      // SERVER_ERROR replies sent to clients.
  Counter curr_connections;
  Counter total_connections;
  Counter rejected_connections;    // over -n.
  Counter idle_closed;             // closed by the idle timeout.
  Counter read_buffer_overflows;   // a request larger than the read buffer cap: closed.
  Counter inflight_limit_pauses;   // reading paused: too many pipelined requests in flight.
  Counter values_too_large;        // values over --max_value_bytes (refused, data swallowed).
  Counter accept_errors;           // accept() failed (out of descriptors): accepting paused.
  Counter slow_requests_closed;    // a request incomplete past --request_read_timeout_s.
  Counter pending_bytes_refusals;  // closed: all connections' unfinished requests over the cap.
  Counter output_limit_pauses;     // reading paused: unsent replies over the output cap.
  Counter output_overflows;        // replies refused: the client stopped reading far past it.
  Counter output_stalls_closed;    // closed: over the output cap, reading nothing, too long.
  Counter tls_client_errors;       // TLS clients closed by a failed handshake or a TLS error.
  Counter tls_client_resumed;      // TLS client handshakes that resumed a session.
  // replication: reads and copies
  Counter failover_reads;     // keys re-read from the backup (primary down or missed).
  Counter failover_writes;    // writes sent to the backup because the primary was down.
  Counter backup_hits;
  Counter repairs_done;       // items copied back to a primary after a backup hit.
  Counter repairs_failed;
  Counter warm_copies;
  Counter warm_invalidations;      // old-owner copies deleted by writes during a warm-up window.
  Counter dirty_invalidations;     // stale primary copies deleted after the primary recovered.
  // replication (proxy/replication/)
  Counter copies_lost_race;        // a client write reached the copy's target first.
  Counter copies_busy;             // another copier held the lease.
  Counter placeholders_hidden;     // lease placeholders answered as misses.
  Counter backup_reads_skipped;    // misses not worth a backup read (MissPolicy).
  Counter journal_appends;         // keys added to a dirty journal.
  Counter journal_errors;
  Counter delete_fence_hits;       // a delete's second primary delete removed something.
  // replication: mirror
  Counter mirror_sent;
  Counter mirror_errors;
  Counter mirror_dropped;     // async queue full.
  Counter mirror_inflight;
  // topology
  Counter topology_updates;
  // Client-facing latency: from decoding a request to its reply being ready to write.
  LatencyHistogram request_latency;
};

}  // namespace mcmesh
