// ClusterSnapshot: one immutable version of a cluster's topology (hosts, ketama rings, chain).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proxy/routing/ketama_ring.h"

namespace mcmesh::tls {
class TlsContext;
}  // namespace mcmesh::tls

namespace mcmesh::upstream {

enum class NodeState { kActive, kDraining };

struct HostConfig {
  std::string address;  // "host:port" as given; also the key for pools and health.
  std::string host;
  int port = 0;
  uint32_t weight = 1;
  NodeState state = NodeState::kActive;
  // Set: connections to this host speak TLS with its pool's CA (and client certificate),
  // loaded once when the topology was converted (proxy/tls). Null: plain TCP.
  std::shared_ptr<const tls::TlsContext> tls;
};

/** Parses "host:port" or "[v6]:port"; port must be 1..65535. */
absl::StatusOr<HostConfig> parseHostAddress(absl::string_view address);

enum class MirrorMode { kAsync, kSync, kNone };
// What happens to a key whose primary is ejected: magent sends it to the backup pool; twemproxy's
// auto_eject rehashes it onto the remaining primaries.
enum class EjectPolicy { kBackup, kRehash };

struct FilterSpec {
  std::string name;
  std::map<std::string, std::string> config;
};

// Everything needed to build a snapshot; produced from CLI flags, a config file or the control
// plane, and validated by ClusterSnapshot::create().
struct ClusterConfig {
  std::string name = "default";
  uint64_t version = 0;
  std::vector<HostConfig> primaries;  // ACTIVE and DRAINING nodes.
  std::vector<HostConfig> backups;
  std::vector<FilterSpec> filters;  // chain order; empty = the default chain.
  // Sync: a write is acknowledged once the backup has it too, so an older copy still on its way
  // can never land on the backup after a later delete from another proxy (docs/consistency.md).
  MirrorMode mirror_mode = MirrorMode::kSync;
  EjectPolicy eject_policy = EjectPolicy::kBackup;
  bool miss_failover = true;  // retry primary misses on the backup and repair the primary.
  absl::Duration warmup_window = absl::Minutes(5);
};

class ClusterSnapshot;
using ClusterSnapshotConstSharedPtr = std::shared_ptr<const ClusterSnapshot>;

class ClusterSnapshot {
 public:
  /**
   * Validates `config` and builds the rings. `previous` (may be null) is the snapshot being
   * replaced: its ring becomes this snapshot's warm-up ring when the membership changed.
   */
  static absl::StatusOr<ClusterSnapshotConstSharedPtr> create(
      ClusterConfig config, const ClusterSnapshotConstSharedPtr& previous, absl::Time now);

  const ClusterConfig& config() const { return config_; }
  uint64_t version() const { return config_.version; }
  /**
   * Unique within the process and never reused (versions may repeat, e.g. two clusters' version
   * 1; addresses may be reused once a snapshot is freed): what a RequestRoute is checked against.
   */
  uint64_t id() const { return id_; }
  bool hasBackup() const { return !config_.backups.empty(); }

  /** The primary owning `key` on the ring of ACTIVE primaries. */
  const HostConfig& primaryFor(absl::string_view key) const;
  /** The backup for `key`, or null when there is no backup pool. */
  const HostConfig* backupFor(absl::string_view key) const;
  /**
   * During a warm-up window after a membership change: the previous owner of `key` if it
   * differs from the current one (null otherwise or when the window has passed).
   */
  const HostConfig* previousOwnerFor(absl::string_view key, absl::Time now) const;
  /** Whether any warm-up window is open at `now` (cheap; lets filters skip the warm path). */
  bool inWarmUp(absl::Time now) const {
    for (const auto& w : warm_rings_) {
      if (now < w.deadline) return true;
    }
    return false;
  }
  /** All hosts (primaries, including draining, then backups), for broadcasts and pools. */
  std::vector<const HostConfig*> allHosts() const;
  bool isBackup(const std::string& address) const;

 private:
  ClusterSnapshot() = default;

  ClusterConfig config_;
  uint64_t id_ = 0;
  std::vector<HostConfig> active_primaries_;
  std::shared_ptr<const ketama::KetamaRing> primary_ring_;
  std::shared_ptr<const ketama::KetamaRing> backup_ring_;
  // Warm-up: rings of earlier memberships, newest first, each valid until its deadline
  // (InfiniteFuture while a drain is in progress). Several are kept so that two changes in a
  // row (add a node, then drain one) still find keys not yet copied after the first.
  struct WarmRing {
    std::vector<HostConfig> primaries;
    std::shared_ptr<const ketama::KetamaRing> ring;
    absl::Time deadline;
  };
  static constexpr size_t kMaxWarmRings = 3;
  std::vector<WarmRing> warm_rings_;
};

/** Builds ketama ring members from hosts (weight and address as twemproxy would see them). */
std::vector<ketama::RingServer> toRingServers(const std::vector<HostConfig>& hosts);

}  // namespace mcmesh::upstream
