// LoadThread: one epoll loop driving a share of mcbench's connections (closed loop, pipelined).
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench/loadgen/histogram.h"
#include "bench/loadgen/reply_scanner.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace mcmesh::bench {

// What every thread is told to do; identical for every target so runs compare like with like.
struct LoadConfig {
  std::string host = "127.0.0.1";
  int port = 11211;
  int pipeline = 1;          // requests kept outstanding per connection.
  double get_ratio = 0.9;    // share of requests that are gets (the rest are sets).
  uint64_t keyspace = 10000;
  size_t value_size = 100;
  int multiget = 1;          // keys per get.
  std::string key_prefix = "mcb:";
  uint64_t timeout_ns = 2000000000;          // no reply progress for this long: reconnect.
  uint64_t connect_timeout_ns = 1000000000;  // per connect attempt.
  uint64_t warm_end_ns = 0;  // monotonic; replies completing before this are not measured.
  uint64_t end_ns = 0;       // monotonic; the thread stops issuing and returns.
  // Set: connect with TLS, verifying the target against this CA (the handshake is not timed;
  // requests start once it completes).
  std::string tls_ca;
};

// Counters of one thread's measured window (merged by the caller).
struct LoadStats {
  uint64_t ops = 0;       // completed requests in the window (a multi-get counts once).
  uint64_t gets = 0;
  uint64_t sets = 0;
  uint64_t keys = 0;      // keys asked for by completed gets.
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t reply_errors = 0;     // ERROR/CLIENT_ERROR/SERVER_ERROR/NOT_STORED...
  uint64_t connect_errors = 0;   // refused, failed or timed-out connects (whole run).
  uint64_t timeouts = 0;         // requests abandoned because the connection stalled.
  uint64_t disconnects = 0;      // peer closed or broke the stream while requests were out.
  uint64_t bytes_out = 0;
  uint64_t bytes_in = 0;
  LatencyHistogram latency;

  void merge(const LoadStats& o);
};

uint64_t monotonicNs();
/** Appends the bench key for index `i` (prefix + 10 digits). */
void appendKey(const std::string& prefix, uint64_t i, std::string* out);

class LoadConnection;

class LoadThread {
 public:
  LoadThread(const LoadConfig& config, int connections, uint64_t seed);
  ~LoadThread();
  /** Runs until config.end_ns. Never blocks longer than a few ms past it. */
  void run();
  const LoadStats& stats() const { return stats_; }

 private:
  friend class LoadConnection;
  void sweep(uint64_t now);

  const LoadConfig& config_;
  int epoll_fd_;
  std::vector<std::unique_ptr<LoadConnection>> connections_;
  std::mt19937_64 rng_;
  std::string value_;
  LoadStats stats_;
  SSL_CTX* tls_ = nullptr;  // with config.tls_ca.
};

}  // namespace mcmesh::bench
