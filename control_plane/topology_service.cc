// Implements TopologyService: mutations, validation, persistence and fan-out to subscribers.
#include "control_plane/topology_service.h"

#include <algorithm>
#include <functional>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "control_plane/log.h"
#include "control_plane/validator.h"
#include "google/protobuf/util/message_differencer.h"

namespace mcmesh {
namespace control_plane {
namespace {

using mcmesh::v1::Cluster;
using mcmesh::v1::FilterConfig;
using mcmesh::v1::Node;
using mcmesh::v1::Pool;
using mcmesh::v1::PoolKind;
using mcmesh::v1::Topology;

absl::StatusOr<Cluster*> mutableCluster(Topology& topology, const std::string& name) {
  for (Cluster& cluster : *topology.mutable_clusters()) {
    if (cluster.name() == name) {
      return &cluster;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown cluster \"", name, "\""));
}

Pool* mutablePool(Cluster& cluster, PoolKind pool) {
  return pool == mcmesh::v1::POOL_KIND_BACKUP ? cluster.mutable_backup()
                                              : cluster.mutable_primary();
}

absl::Status checkPoolKind(PoolKind pool) {
  if (!mcmesh::v1::PoolKind_IsValid(pool)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown pool kind ", pool));
  }
  return absl::OkStatus();
}

// Index of the node with this address in the pool (case-insensitive host), or -1.
int findNode(const Pool& pool, const std::string& address) {
  const std::string wanted = canonicalAddress(address);
  for (int i = 0; i < pool.nodes_size(); ++i) {
    if (canonicalAddress(pool.nodes(i).address()) == wanted) {
      return i;
    }
  }
  return -1;
}

// The pool a node call names (AddNode, DrainNode, RemoveNode, SetWeight).
absl::StatusOr<Pool*> mutablePoolFor(Topology& topology, const std::string& cluster_name,
                                     PoolKind pool_kind) {
  absl::Status pool_status = checkPoolKind(pool_kind);
  if (!pool_status.ok()) {
    return pool_status;
  }
  absl::StatusOr<Cluster*> cluster = mutableCluster(topology, cluster_name);
  if (!cluster.ok()) {
    return cluster.status();
  }
  return mutablePool(**cluster, pool_kind);
}

// Finds the node a DrainNode/RemoveNode/SetWeight call names.
absl::StatusOr<Node*> mutableNode(Topology& topology, const std::string& cluster_name,
                                  PoolKind pool_kind, const std::string& address) {
  absl::StatusOr<Pool*> found = mutablePoolFor(topology, cluster_name, pool_kind);
  if (!found.ok()) {
    return found.status();
  }
  Pool* pool = *found;
  const int index = findNode(*pool, address);
  if (index < 0) {
    return absl::NotFoundError(absl::StrCat("node \"", address, "\" is not in cluster \"",
                                            cluster_name, "\" ", poolName(pool_kind), " pool"));
  }
  return pool->mutable_nodes(index);
}

std::string describe(const char* verb, const std::string& cluster, PoolKind pool,
                     const std::string& address) {
  return absl::StrCat(verb, " ", cluster, " ", poolName(pool), " ", address);
}

} // namespace

const char* poolName(PoolKind pool) {
  return pool == mcmesh::v1::POOL_KIND_BACKUP ? "backup" : "primary";
}

TopologyService::TopologyService(TopologyStore& store, TopologyConstSharedPtr initial,
                                 int64_t revision)
    : store_(store), current_(std::move(initial)), revision_(revision) {}

TopologyService::~TopologyService() { store_.stopWatching(); }

namespace {

// Reads the store; when it is empty, saves the bootstrap (if any). Another replica may save its
// own bootstrap at the same moment: then the loser reads the winner's.
absl::StatusOr<StoredTopology> loadOrBootstrap(TopologyStore& store, const Topology* bootstrap) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    absl::StatusOr<StoredTopology> stored = store.read();
    if (stored.ok()) {
      absl::Status valid = validateTopology(stored->topology);
      if (!valid.ok()) {
        return absl::FailedPreconditionError(
            absl::StrCat("stored topology is invalid: ", valid.message()));
      }
      logLine(
          absl::StrCat("loaded topology version ", stored->topology.version(), " from the store"));
      return stored;
    }
    if (!absl::IsNotFound(stored.status())) {
      return stored.status();
    }
    if (bootstrap == nullptr) {
      logLine("no store yet and no bootstrap: starting with an empty topology");
      return StoredTopology{};
    }
    Topology initial = *bootstrap;
    if (initial.version() == 0) {
      initial.set_version(1);
    }
    absl::Status valid = validateTopology(initial);
    if (!valid.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("bootstrap topology is invalid: ", valid.message()));
    }
    absl::StatusOr<int64_t> saved = store.saveIfRevision(initial, 0);
    if (saved.ok()) {
      logLine(
          absl::StrCat("no store yet: saved bootstrap topology as version ", initial.version()));
      return StoredTopology{std::move(initial), *saved};
    }
    if (!absl::IsAborted(saved.status())) {
      return saved.status();
    }
    logLine("another control plane saved a topology first; reading it");
  }
  return absl::AbortedError("the store keeps changing during start-up; try again");
}

// Up to 1, 2, 4 ... 64 ms, uniformly at random: the wait before retrying a change another
// control plane beat to the store.
absl::Duration conflictBackoff(int attempt) {
  thread_local std::minstd_rand random(
      static_cast<uint32_t>(std::hash<std::thread::id>()(std::this_thread::get_id()) ^
                            static_cast<uint32_t>(absl::ToUnixNanos(absl::Now()))));
  const int64_t cap_us = int64_t{1000} << std::min(attempt - 1, 6);
  return absl::Microseconds(std::uniform_int_distribution<int64_t>(0, cap_us)(random));
}

// The error a change ends with when the store did not take it.
absl::Status persistError(const absl::Status& status, int attempts) {
  if (absl::IsAborted(status)) {
    return absl::AbortedError(absl::StrCat("other control planes changed the topology ", attempts,
                                           " times while this change was being applied; nothing "
                                           "was changed, try again"));
  }
  if (absl::IsDeadlineExceeded(status)) {
    // The store took the write but did not confirm it: it may still commit (e.g. once etcd
    // regains quorum). Say so rather than "nothing changed"; the watch will show the outcome.
    return absl::UnavailableError(
        absl::StrCat("cannot confirm the change: ", status.message(),
                     "; it may still be applied when the store recovers, so check the topology "
                     "before trying again"));
  }
  return absl::Status(status.code(), absl::StrCat("cannot persist topology: ", status.message(),
                                                  "; nothing was changed"));
}

} // namespace

absl::StatusOr<std::unique_ptr<TopologyService>>
TopologyService::create(TopologyStore& store, const Topology* bootstrap) {
  absl::StatusOr<StoredTopology> stored = loadOrBootstrap(store, bootstrap);
  if (!stored.ok()) {
    return stored.status();
  }
  const int64_t revision = stored->revision;
  std::unique_ptr<TopologyService> service(new TopologyService(
      store, std::make_shared<const Topology>(std::move(stored->topology)), revision));
  TopologyService* raw = service.get();
  store.watch(revision, [raw](const StoredTopology& changed) { raw->adopt(changed, "store"); });
  return service;
}

TopologyConstSharedPtr TopologyService::snapshot() const {
  absl::MutexLock lock(&mutex_);
  return current_;
}

bool TopologyService::installLocked(TopologyConstSharedPtr next, int64_t revision) {
  if (revision <= revision_) {
    return false;
  }
  current_ = std::move(next);
  revision_ = revision;
  for (auto& entry : subscribers_) {
    entry.second(current_);
  }
  return true;
}

void TopologyService::adopt(const StoredTopology& stored, const char* source) {
  absl::Status valid = validateTopology(stored.topology);
  if (!valid.ok()) {
    logLine(absl::StrCat("ignoring topology version ", stored.topology.version(), " from the ",
                         source, ": ", valid.message()));
    return;
  }
  absl::MutexLock lock(&mutex_);
  if (installLocked(std::make_shared<const Topology>(stored.topology), stored.revision)) {
    logLine(absl::StrCat("now at topology version ", stored.topology.version(), " (from the ",
                         source, ", store revision ", stored.revision, ")"));
  }
}

absl::StatusOr<TopologyConstSharedPtr> TopologyService::update(const std::string& description,
                                                               const Mutation& mutation) {
  absl::MutexLock update_lock(&update_mutex_);
  for (int attempt = 1;; ++attempt) {
    TopologyConstSharedPtr base;
    int64_t base_revision = 0;
    {
      absl::MutexLock lock(&mutex_);
      base = current_;
      base_revision = revision_;
    }
    auto next = std::make_shared<Topology>(*base);
    absl::Status status = mutation(*next);
    if (status.ok()) {
      next->set_version(base->version());
      if (google::protobuf::util::MessageDifferencer::Equals(*next, *base)) {
        // "Nothing to do" is an answer about the latest topology: with other writers ours may
        // be a few milliseconds old, so check the store still holds it before saying so.
        absl::StatusOr<StoredTopology> latest = store_.read();
        if (latest.ok() && latest->revision != base_revision && attempt < kMaxAttempts) {
          adopt(*latest, "re-read");
          continue;
        }
        if (!latest.ok() && !absl::IsNotFound(latest.status())) {
          absl::Status error(absl::StatusCode::kUnavailable,
                             absl::StrCat("cannot check the change against the store: ",
                                          latest.status().message(), "; nothing was changed"));
          logLine(absl::StrCat("refused \"", description, "\": ", error.ToString()));
          return error;
        }
        logLine(absl::StrCat("change \"", description, "\" is a no-op; version stays ",
                             base->version()));
        return base;
      }
      next->set_version(base->version() + 1);
      status = validateTopology(*next);
    }
    if (!status.ok()) {
      logLine(absl::StrCat("refused \"", description, "\": ", status.ToString()));
      return status;
    }
    absl::StatusOr<int64_t> saved = store_.saveIfRevision(*next, base_revision);
    if (saved.ok()) {
      absl::MutexLock lock(&mutex_);
      // The watch may have delivered this very commit already; then it is published.
      installLocked(next, *saved);
      logLine(absl::StrCat("applied \"", description, "\": version ", next->version()));
      return TopologyConstSharedPtr(std::move(next));
    }
    if (!absl::IsAborted(saved.status()) || attempt == kMaxAttempts) {
      absl::Status error = persistError(saved.status(), attempt);
      logLine(absl::StrCat("refused \"", description, "\": ", error.ToString()));
      return error;
    }
    // Another replica committed first: start again from what it committed, after a random
    // pause that grows with the conflicts, so replicas racing for the same revision stop
    // colliding (12 writers over 3 replicas once used up every attempt on a busy machine).
    if (attempt >= 2) absl::SleepFor(conflictBackoff(attempt));
    absl::StatusOr<StoredTopology> fresh = store_.read();
    if (!fresh.ok()) {
      absl::Status error(absl::IsDeadlineExceeded(fresh.status()) ? absl::StatusCode::kUnavailable
                                                                  : fresh.status().code(),
                         absl::StrCat("cannot re-read the topology after a concurrent change: ",
                                      fresh.status().message(), "; nothing was changed"));
      logLine(absl::StrCat("refused \"", description, "\": ", error.ToString()));
      return error;
    }
    adopt(*fresh, "re-read");
  }
}

absl::StatusOr<TopologyConstSharedPtr> TopologyService::resetEpoch(uint64_t epoch) {
  return update(absl::StrCat("reset-epoch ", epoch == 0 ? "(next)" : absl::StrCat(epoch)),
                [epoch](Topology& topology) {
                  const uint64_t next = epoch == 0 ? topology.epoch() + 1 : epoch;
                  if (next <= topology.epoch()) {
                    return absl::InvalidArgumentError(
                        absl::StrCat("epoch ", next, " is not above the current epoch ",
                                     topology.epoch(), " (give a higher one, or none)"));
                  }
                  topology.set_epoch(next);
                  return absl::OkStatus();
                });
}

absl::StatusOr<TopologyConstSharedPtr> TopologyService::createCluster(const Cluster& cluster) {
  return update(absl::StrCat("create-cluster ", cluster.name()), [&](Topology& topology) {
    if (findCluster(topology, cluster.name()).ok()) {
      return absl::AlreadyExistsError(
          absl::StrCat("cluster \"", cluster.name(), "\" already exists"));
    }
    absl::Status filters_status = validateFilterChain(cluster.name(), cluster.filters());
    if (!filters_status.ok()) {
      return filters_status;
    }
    *topology.add_clusters() = cluster;
    return absl::OkStatus();
  });
}

absl::StatusOr<TopologyConstSharedPtr> TopologyService::addNode(const std::string& cluster_name,
                                                                PoolKind pool_kind,
                                                                const std::string& address,
                                                                uint32_t weight) {
  return update(describe("add-node", cluster_name, pool_kind, address), [&](Topology& topology) {
    absl::StatusOr<Pool*> found = mutablePoolFor(topology, cluster_name, pool_kind);
    if (!found.ok()) {
      return found.status();
    }
    Pool* pool = *found;
    const int existing = findNode(*pool, address);
    if (existing >= 0) {
      const Node& node = pool->nodes(existing);
      if (node.state() != mcmesh::v1::NODE_STATE_REMOVED) {
        return absl::AlreadyExistsError(absl::StrCat(
            "node \"", address, "\" is already in cluster \"", cluster_name, "\" ",
            poolName(pool_kind), " pool (state ", mcmesh::v1::NodeState_Name(node.state()), ")"));
      }
      pool->mutable_nodes()->DeleteSubrange(existing, 1);
    }
    Node* node = pool->add_nodes();
    node->set_address(address);
    node->set_weight(weight == 0 ? 1 : weight);
    node->set_state(mcmesh::v1::NODE_STATE_ACTIVE);
    return absl::OkStatus();
  });
}

absl::StatusOr<TopologyConstSharedPtr>
TopologyService::drainNode(const std::string& cluster, PoolKind pool, const std::string& address) {
  return update(describe("drain-node", cluster, pool, address), [&](Topology& topology) {
    absl::StatusOr<Node*> node = mutableNode(topology, cluster, pool, address);
    if (!node.ok()) {
      return node.status();
    }
    if ((*node)->state() == mcmesh::v1::NODE_STATE_REMOVED) {
      return absl::FailedPreconditionError(
          absl::StrCat("node \"", address, "\" is removed; add it again instead"));
    }
    (*node)->set_state(mcmesh::v1::NODE_STATE_DRAINING);
    return absl::OkStatus();
  });
}

absl::StatusOr<TopologyConstSharedPtr> TopologyService::removeNode(const std::string& cluster,
                                                                   PoolKind pool_kind,
                                                                   const std::string& address) {
  return update(describe("remove-node", cluster, pool_kind, address), [&](Topology& topology) {
    absl::StatusOr<Node*> node = mutableNode(topology, cluster, pool_kind, address);
    if (!node.ok()) {
      return node.status();
    }
    // The entry goes away: proxies see the removal by its absence from the next snapshot.
    Pool* pool = mutablePool(**mutableCluster(topology, cluster), pool_kind);
    pool->mutable_nodes()->DeleteSubrange(findNode(*pool, address), 1);
    return absl::OkStatus();
  });
}

absl::StatusOr<TopologyConstSharedPtr> TopologyService::setWeight(const std::string& cluster,
                                                                  PoolKind pool,
                                                                  const std::string& address,
                                                                  uint32_t weight) {
  return update(absl::StrCat(describe("set-weight", cluster, pool, address), " ", weight),
                [&](Topology& topology) {
                  absl::StatusOr<Node*> node = mutableNode(topology, cluster, pool, address);
                  if (!node.ok()) {
                    return node.status();
                  }
                  (*node)->set_weight(weight);
                  return absl::OkStatus();
                });
}

absl::StatusOr<TopologyConstSharedPtr> TopologyService::setBackup(const std::string& cluster_name,
                                                                  const Pool& backup) {
  return update(absl::StrCat("set-backup ", cluster_name, " (", backup.nodes_size(), " nodes)"),
                [&](Topology& topology) {
                  absl::StatusOr<Cluster*> cluster = mutableCluster(topology, cluster_name);
                  if (!cluster.ok()) {
                    return cluster.status();
                  }
                  *(*cluster)->mutable_backup() = backup;
                  return absl::OkStatus();
                });
}

absl::StatusOr<TopologyConstSharedPtr>
TopologyService::setFilters(const std::string& cluster_name,
                            const google::protobuf::RepeatedPtrField<FilterConfig>& filters) {
  // Names only: option values may hold anything (a filter could take a secret) and the log is
  // not the place for them; the store and GetTopology have the full chain.
  std::vector<std::string> names;
  for (const FilterConfig& filter : filters) {
    names.push_back(filter.name());
  }
  const std::string description =
      absl::StrCat("set-filters ", cluster_name, " [",
                   names.empty() ? "default chain" : absl::StrJoin(names, ", "), "]");
  return update(description, [&](Topology& topology) {
    absl::StatusOr<Cluster*> cluster = mutableCluster(topology, cluster_name);
    if (!cluster.ok()) {
      return cluster.status();
    }
    absl::Status status = validateFilterChain(cluster_name, filters);
    if (!status.ok()) {
      return status;
    }
    *(*cluster)->mutable_filters() = filters;
    return absl::OkStatus();
  });
}

uint64_t TopologyService::subscribe(Subscriber subscriber) {
  absl::MutexLock lock(&mutex_);
  const uint64_t id = next_subscriber_id_++;
  subscribers_.emplace(id, std::move(subscriber));
  return id;
}

void TopologyService::unsubscribe(uint64_t id) {
  absl::MutexLock lock(&mutex_);
  subscribers_.erase(id);
}

} // namespace control_plane
} // namespace mcmesh
