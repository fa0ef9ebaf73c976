// World: one run of an interleaving scenario. Fake servers and proxies (SimUpstreams), actors
// that start client operations or topology/health events, and the history that the invariants
// are checked against.
//
// An actor is a sequence of steps (client get/set/delete through ReplicatedRead/Write, or an
// environment change such as a restart). An actor's next step may start once its previous step
// finished (or at once for a pipelined step) and its `ready` condition holds. Starting a step and
// delivering a queued request are both "events"; the explorer picks which event happens next, so
// every order of client starts and server deliveries is covered. Time is counted in events.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "proxy/replication/chain_settings.h"
#include "proxy/replication/read_path.h"
#include "proxy/replication/reply_sink.h"
#include "proxy/replication/write_path.h"
#include "tests/unit/replication/sim_upstreams.h"

namespace mcmesh::testing {

enum class OpKind { kRead, kSet, kDelete };

// One client operation as the checker sees it: when it started and was answered (event
// numbers), on which proxy and connection, and what it wrote or read.
struct OpRecord {
  static constexpr int64_t kUnanswered = INT64_MIN;
  bool answered() const { return ack != kUnanswered; }

  std::string label;
  OpKind kind = OpKind::kRead;
  int proxy = 0;
  uint64_t affinity = 0;
  std::string value;  // a set's value (unique per scenario).
  int64_t start = -1;
  int64_t ack = kUnanswered;
  Response reply;
  bool final_read = false;  // issued after quiescence by the checker itself.
};

class World;
using Done = std::function<void()>;

struct Step {
  std::string label;
  std::function<void(World&, Done)> run;
  std::function<bool(const World&)> ready;  // empty: always ready.
  bool pipelined = false;  // the actor's next step may start before this one finished.
};

struct ClusterSpec {
  std::vector<std::string> primaries = {"10.0.0.1:11211", "10.0.0.2:11211"};
  std::vector<std::string> backups = {"10.0.0.9:11211"};
  upstream::MirrorMode mirror = upstream::MirrorMode::kAsync;
  int proxies = 2;
};

class World {
 public:
  static constexpr int64_t kStartUnix = 1'700'000'000;

  explicit World(const ClusterSpec& spec);
  ~World();

  SimNetwork& net() { return net_; }
  const SimNetwork& net() const { return net_; }
  SimUpstreams& proxy(int i) { return *proxies_[i]; }
  int proxyCount() const { return static_cast<int>(proxies_.size()); }
  const upstream::ClusterSnapshotConstSharedPtr& snapshot() const { return snapshot_; }
  /** Every proxy switches to `snapshot` (a topology update reaching all of them at once). */
  void useSnapshot(upstream::ClusterSnapshotConstSharedPtr snapshot);
  /** Builds a snapshot from `spec` with this world's current one as the previous (ring change). */
  upstream::ClusterSnapshotConstSharedPtr nextSnapshot(const ClusterSpec& spec,
                                                       bool draining_first = false) const;

  /** The key every scenario works on, and its servers in the current snapshot. */
  const std::string& key() const { return key_; }
  void setKey(std::string key) { key_ = std::move(key); }
  std::string primary() const { return snapshot_->primaryFor(key_).address; }
  std::string backup() const { return snapshot_->backupFor(key_)->address; }
  FakeMemcached& server(const std::string& address) { return net_.server(address); }

  /** A value written before the scenario (counts as a write acknowledged at event -1). */
  void preload(const std::string& address, const std::string& value);

  int addActor(std::vector<Step> steps);
  const std::vector<OpRecord>& ops() const { return ops_; }
  bool acked(int op) const { return op >= 0 && ops_[op].answered(); }
  /** Index the next client op will get (for `ready` conditions on it). */
  int nextOpIndex() const { return static_cast<int>(ops_.size()); }
  int64_t events() const { return events_; }
  /** Whether the client op labelled `label` was answered (labels are unique per scenario). */
  bool ackedLabel(const std::string& label) const;
  /** Named facts set by environment steps ("stopped", ...), for `ready` conditions. */
  void mark(const std::string& fact) { marks_.insert(fact); }
  bool marked(const std::string& fact) const { return marks_.count(fact) != 0; }

  size_t eventCount() const;
  void fire(size_t index);
  /** After quiescence: one read of the key through every proxy, each run to completion. */
  void finalReads();

  // Client operations (one key), as steps. Each gets its own record.
  Step get(int proxy, uint64_t affinity, bool pipelined = false);
  Step set(int proxy, uint64_t affinity, std::string value, bool pipelined = false);
  Step del(int proxy, uint64_t affinity, bool pipelined = false);
  /** A custom client read (e.g. the old protocol): `run` gets the request and a sink. */
  Step customRead(const std::string& label, int proxy, uint64_t affinity,
                  std::function<void(World&, const Request&, replication::ReplySink&)> run);
  /** An environment step that finishes at once. */
  static Step env(const std::string& label, std::function<void(World&)> run);

  int64_t startOp(OpKind kind, int proxy, uint64_t affinity, std::string value,
                  std::string label, bool final_read = false);
  void ackOp(int64_t op, Response&& reply);

 private:
  struct Actor {
    std::vector<Step> steps;
    size_t next = 0;
    bool busy = false;  // the last started step has not finished.
  };
  struct ClientOp;
  std::vector<std::pair<size_t, size_t>> enabledSteps() const;
  Step clientStep(OpKind kind, int proxy, uint64_t affinity, std::string value, bool pipelined);

  SimNetwork net_;
  upstream::ClusterSnapshotConstSharedPtr snapshot_;
  std::vector<std::unique_ptr<SimUpstreams>> proxies_;
  std::string key_ = "k";
  std::vector<Actor> actors_;
  std::vector<OpRecord> ops_;
  std::vector<std::unique_ptr<ClientOp>> client_ops_;
  int64_t events_ = 0;
  std::set<std::string> marks_;
};

upstream::ClusterSnapshotConstSharedPtr makeSnapshot(
    const ClusterSpec& spec, const upstream::ClusterSnapshotConstSharedPtr& previous,
    absl::Time now, bool draining_first = false);

}  // namespace mcmesh::testing
