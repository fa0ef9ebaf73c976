// Fuzzes what a proxy does with a topology it is sent (control plane push) or given (--config):
// parse it (binary or text format), validateTopology, clusterConfigFromTopology for each cluster,
// ClusterSnapshot::create on top of the previous snapshot (so warm-up rings pile up), and key
// lookups on every snapshot that was created. None of it may crash, and lookups must only ever
// return hosts of the snapshot's own configuration.
//
// Input layout: byte 0 bit 0: text format (else binary), bits 1-7: clock step between snapshots;
// the rest is the serialized mcmesh.v1.Topology.
#include <string>
#include <vector>

#include "api/mcmesh/v1/topology.pb.h"
#include "control_plane/validator.h"
#include "fuzz/fuzz_input.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/text_format.h"
#include "proxy/options.h"
#include "proxy/topology_convert.h"
#include "proxy/upstream/cluster_snapshot.h"

namespace {

using mcmesh::upstream::ClusterSnapshot;
using mcmesh::upstream::ClusterSnapshotConstSharedPtr;
using mcmesh::upstream::HostConfig;
using mcmesh::upstream::NodeState;

// Text-format errors are expected on almost every input: keep them off stderr.
class QuietErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int, int, const std::string&) override {}
  void AddWarning(int, int, const std::string&) override {}
};

bool inList(const HostConfig* h, const std::vector<HostConfig>& hosts) {
  for (const HostConfig& x : hosts) {
    if (&x == h) return true;
  }
  return false;
}

void lookUp(const ClusterSnapshot& snap, absl::string_view key, absl::Time now) {
  const auto& config = snap.config();
  const HostConfig& primary = snap.primaryFor(key);
  MCMESH_FUZZ_CHECK(primary.state == NodeState::kActive, "primaryFor returned a draining host");
  bool configured = false;
  for (const HostConfig& h : config.primaries) configured |= h.address == primary.address;
  MCMESH_FUZZ_CHECK(configured, "primaryFor returned %s, not a configured primary",
                    primary.address.c_str());
  const HostConfig* backup = snap.backupFor(key);
  MCMESH_FUZZ_CHECK((backup != nullptr) == snap.hasBackup(), "backupFor/hasBackup disagree");
  MCMESH_FUZZ_CHECK(backup == nullptr || inList(backup, config.backups),
                    "backupFor returned a host outside the backup pool");
  const HostConfig* previous = snap.previousOwnerFor(key, now);
  MCMESH_FUZZ_CHECK(previous == nullptr || inList(previous, config.primaries),
                    "previousOwnerFor returned a host outside the primaries");
  MCMESH_FUZZ_CHECK(previous == nullptr || previous->address != primary.address,
                    "previous owner is the current owner");
  MCMESH_FUZZ_CHECK(previous == nullptr || snap.inWarmUp(now),
                    "a previous owner outside any warm-up window");
  MCMESH_FUZZ_CHECK(snap.allHosts().size() == config.primaries.size() + config.backups.size(),
                    "allHosts is incomplete");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Binary parsing logs every invalid UTF-8 string: discard protobuf's log.
  static const bool quiet = (google::protobuf::SetLogHandler(nullptr), true);
  (void)quiet;
  mcmesh::fuzz::FuzzInput in(data, size);
  const uint8_t mode = in.takeByte();
  const std::string payload(in.rest());
  mcmesh::v1::Topology topology;
  if (mode & 1) {
    google::protobuf::TextFormat::Parser parser;
    QuietErrors errors;
    parser.RecordErrorsTo(&errors);
    if (!parser.ParseFromString(payload, &topology)) return 0;
  } else if (!topology.ParseFromString(payload)) {
    return 0;
  }
  // The control-plane path only converts validated topologies, but a --config bootstrap file is
  // converted without validation: both must be safe, so conversion runs either way.
  (void)mcmesh::control_plane::validateTopology(topology);

  std::vector<std::string> names = {"default", ""};
  for (const auto& cluster : topology.clusters()) {
    if (names.size() >= 8) break;
    names.push_back(cluster.name());
  }
  const mcmesh::Options defaults;
  const absl::Duration step = absl::Seconds(mode >> 1) * 7;
  absl::Time now = absl::FromUnixSeconds(1700000000);
  ClusterSnapshotConstSharedPtr previous;
  std::vector<std::string> keys = {"", "a", "key:1", "user/42", std::string(250, 'k')};
  for (size_t i = 0; i + 8 <= payload.size() && keys.size() < 12; i += 97) {
    keys.push_back(payload.substr(i, 8));
  }
  for (const std::string& name : names) {
    auto config = mcmesh::clusterConfigFromTopology(topology, name, defaults);
    if (!config.ok()) continue;
    auto snap = ClusterSnapshot::create(std::move(*config), previous, now);
    if (!snap.ok()) continue;
    for (const std::string& key : keys) {
      lookUp(**snap, key, now);
      lookUp(**snap, key, now + step);
    }
    previous = *snap;
    now += step;
  }
  return 0;
}
