// ReplicatedRead: one retrieval (get/gets/gat/gats, one key or many) under the replication
// protocol (docs/consistency.md, "Reads").
//
// Keys go to their primaries, split per server. As each server's reply arrives (not after all
// of them: a later write of the same client must not be seen, see "Order on a connection"):
//   - a hit is the answer, unless it may be a lease placeholder (an empty value with flags 0, or
//     W/Z on a meta reply): that key is answered from the backup (or previous owner), read now;
//   - a miss is looked up on the key's previous owner (warm-up window) or, when MissPolicy says
//     it is worth it, on the backup, through a LeasedCopy that repairs the primary safely;
//   - an unreachable primary's keys are read from the backup (no copy: the primary is down).
// The reply lists the hits in request order, duplicates included, as memcached does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "proxy/replication/operation.h"
#include "proxy/replication/reply_sink.h"
#include "proxy/replication/upstreams.h"

namespace mcmesh::replication {

class ReplicatedRead {
 public:
  // `request` gets its placement recorded (Request::route); it must outlive the operation.
  void start(Upstreams& upstreams, Request& request, uint64_t affinity, ReplySink& sink,
             const ChainSettings& settings);
  /** The client went away: cancel reads (copies in progress still finish on their own). */
  void cancel();
  /** Back to the state after construction (reuse). */
  void reset();

 private:
  enum class SlotState : uint8_t { kPending, kHit, kMiss, kFailed };
  struct Slot {
    SlotState state = SlotState::kPending;
    Item item;
    upstream::Cancellable* handle = nullptr;
  };
  struct Fragment {
    const upstream::HostConfig* host = nullptr;
    absl::InlinedVector<uint32_t, 8> key_indexes;
    upstream::Cancellable* handle = nullptr;
    bool done = false;
  };

  void sendFragment(size_t index);
  void onFragment(size_t index, Response&& response);
  void onMiss(uint32_t key_index, const upstream::HostConfig& primary, bool suspect);
  void readBackupOnly(uint32_t key_index, const std::string& primary_failure);
  void resolve(uint32_t key_index, SlotState state, Item&& item);
  void finish();
  bool mayHidePlaceholders() const;
  // Whether a primary's hit may be a lease placeholder: no, yes (the reply says so), or maybe.
  enum Suspicion { kNone, kPlaceholder, kMaybe };
  Suspicion suspicion(const Item& item) const;

  OperationContext ctx_;
  std::vector<Fragment> fragments_;
  std::vector<Slot> slots_;
  size_t unresolved_ = 0;
  std::string failure_;  // why a primary or backup failed (for an all-failed reply).
  bool finished_ = false;
  // Guards against finishing from inside start() before every fragment was sent.
  bool starting_ = false;
};

}  // namespace mcmesh::replication
