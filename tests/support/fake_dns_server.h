// FakeDnsServer: a tiny UDP DNS server on loopback that tests script (answers, delays, silence).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace mcmesh::testing {

// Answers A queries for the names it is given (AAAA with no records), NXDOMAIN for others, and
// nothing at all for "silent" names; every answer can be delayed, so a test can make the
// resolver slow or dead without root. Runs on its own thread until destroyed.
class FakeDnsServer {
 public:
  /** Binds 127.0.0.1:`port` (0: a free port). */
  static absl::StatusOr<std::unique_ptr<FakeDnsServer>> start(int port = 0);
  ~FakeDnsServer();
  int port() const { return port_; }

  /** `name` (any case) answers with these IPv4 addresses from now on. */
  void setA(const std::string& name, std::vector<std::string> ips);
  /** `name` is never answered (a dead or black-holed server). */
  void setSilent(const std::string& name);
  /** Every answer is sent this long after its query. */
  void setDelay(absl::Duration delay);
  /** Queries received for `name` (all types). */
  uint64_t queries(const std::string& name) const;

 private:
  FakeDnsServer(int fd, int port);
  void run();
  std::string answer(const char* query, size_t len, std::string* name_out);

  int fd_;
  int port_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::map<std::string, std::vector<std::string>> records_;
  std::map<std::string, bool> silent_;
  std::map<std::string, uint64_t> queries_;
  absl::Duration delay_ = absl::ZeroDuration();
  std::thread thread_;
};

}  // namespace mcmesh::testing
