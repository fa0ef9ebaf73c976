// Scenario definitions (see scenarios.h). Labels of client ops: "get@p<proxy>/c<connection>",
// "set '<value>'@p../c..", "delete@p../c..".
#include "tests/unit/replication/scenarios.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "proxy/replication/dirty_journal.h"
#include "proxy/replication/lease_copy.h"
#include "proxy/replication/replication_state.h"

namespace mcmesh::testing::scenarios {
namespace {

using replication::ReplySink;

// `s` may start only once the client ops labelled `labels` were answered.
Step after(Step s, std::vector<std::string> labels) {
  s.ready = [labels](const World& w) {
    for (const auto& l : labels) {
      if (!w.ackedLabel(l)) return false;
    }
    return true;
  };
  return s;
}

// `s` may start only once environment steps marked `facts`.
Step afterMarks(Step s, std::vector<std::string> facts) {
  s.ready = [facts](const World& w) {
    for (const auto& f : facts) {
      if (!w.marked(f)) return false;
    }
    return true;
  };
  return s;
}

// The primary restarted empty: only the backup holds the key.
void backupOnly(World& w, const std::string& value) { w.preload(w.backup(), value); }

Scenario readRepairVs(const std::string& name, bool set) {
  Scenario s;
  s.name = name;
  s.build = [set](World& w) {
    backupOnly(w, "v0");
    w.addActor({w.get(0, 1)});
    Step write = set ? w.set(1, 2, "v1") : w.del(1, 2);
    const std::string label = write.label;
    w.addActor({std::move(write)});
    w.addActor({after(w.get(0, 3), {label})});  // a read that starts after the write's ack.
  };
  return s;
}

// A LeasedCopy with no reader (warm-up and rehydration use it so), as an actor step.
Step copyStep(const std::string& label, int proxy, replication::CopyKind kind, bool to_primary,
              uint64_t affinity) {
  Step s;
  s.label = label;
  s.run = [=](World& w, Done done) {
    SimUpstreams& up = w.proxy(proxy);
    replication::CopyPlan plan;
    plan.snapshot = up.snapshotPtr();
    plan.key = w.key();
    plan.kind = kind;
    plan.affinity = affinity;
    plan.target = to_primary ? &plan.snapshot->primaryFor(w.key()) : nullptr;
    plan.source = plan.snapshot->backupFor(w.key());
    replication::startLeasedCopy(up, std::move(plan), {},
                                 [done](replication::CopyOutcome) { done(); });
  };
  return s;
}

// A proxy's health checker saw the primary come back: drain the dirty journal, then use it.
Step recoverStep(int proxy) {
  Step s;
  s.label = absl::StrCat("p", proxy, " recovers the primary (journalDrain kRecover)");
  s.run = [proxy](World& w, Done done) {
    SimUpstreams& up = w.proxy(proxy);
    const upstream::HostConfig& primary = up.snapshotPtr()->primaryFor(w.key());
    const std::string address = primary.address;
    replication::journalDrain(
        up, up.snapshotPtr(), primary, replication::DrainMode::kRecover,
        [&w, &up, proxy, address, done](bool ok, size_t) {
          if (ok) {
            up.setAvailable(address, true);
            up.replication().missPolicy().openWindow(address, up.now());
          }
          w.mark(absl::StrCat("p", proxy, " recovered"));
          done();
        });
  };
  return s;
}

// Finds a key that moves to the added node `added` when `before` grows to `after`.
std::string keyMovingTo(const ClusterSpec& before, const ClusterSpec& after,
                        const std::string& new_owner, bool drain) {
  const absl::Time t = absl::FromUnixSeconds(World::kStartUnix);
  auto old_snapshot = makeSnapshot(before, nullptr, t);
  auto new_snapshot = makeSnapshot(after, old_snapshot, t, drain);
  for (int i = 0;; ++i) {
    std::string key = absl::StrCat("k", i);
    if (new_snapshot->primaryFor(key).address == new_owner &&
        old_snapshot->primaryFor(key).address != new_owner) {
      return key;
    }
  }
}

// A membership change: a node added (its window lasts warmup_window) or the first primary
// drained (its window lasts until it is removed).
Scenario warmUpVs(const std::string& name, bool set, bool drain) {
  Scenario s;
  s.name = name;
  s.build = [set, drain](World& w) {
    ClusterSpec changed;
    std::string new_owner = "10.0.0.2:11211";
    if (!drain) {
      changed.primaries.push_back("10.0.0.3:11211");
      new_owner = "10.0.0.3:11211";
    }
    w.setKey(keyMovingTo(ClusterSpec(), changed, new_owner, drain));
    const std::string old_owner = w.primary();
    w.preload(old_owner, "v0");
    w.preload(w.backup(), "v0");
    // Both proxies switch: the warm-up ring is the old one.
    w.useSnapshot(w.nextSnapshot(changed, drain));
    w.addActor({w.get(0, 1)});
    Step write = set ? w.set(1, 2, "v1") : w.del(1, 2);
    const std::string label = write.label;
    w.addActor({std::move(write)});
    w.addActor({after(w.get(0, 3), {label})});
  };
  return s;
}

Scenario rehydrateVs(const std::string& name, bool set) {
  Scenario s;
  s.name = name;
  s.build = [set](World& w) {
    backupOnly(w, "v0");
    w.addActor({copyStep("rehydrate copy@p0", 0, replication::CopyKind::kRehydrate, true, 77)});
    Step write = set ? w.set(1, 2, "v1") : w.del(1, 2);
    const std::string label = write.label;
    w.addActor({std::move(write)});
    w.addActor({after(w.get(1, 3), {label})});
  };
  return s;
}

Scenario pipelined(const std::string& name, const std::string& value) {
  Scenario s;
  s.name = name;
  s.build = [value](World& w) {
    backupOnly(w, "v0");
    // One connection sends get then set without waiting; memcached answers in order.
    w.addActor({w.get(0, 1, /*pipelined=*/true), w.set(0, 1, value)});
    w.addActor({w.get(1, 2)});  // another proxy's read-repair leases the key meanwhile.
  };
  return s;
}

// The read path before issue 13: primary get; on a miss, backup get, then `add` to the
// primary (fire and forget) and the backup's answer to the client.
void oldRepairRead(World& w, int proxy, uint64_t affinity, const Request& request,
                   ReplySink& sink) {
  SimUpstreams* up = &w.proxy(proxy);
  upstream::ClusterSnapshotConstSharedPtr snapshot = up->snapshotPtr();
  const upstream::HostConfig* primary = &snapshot->primaryFor(request.keys[0]);
  const upstream::HostConfig* backup = snapshot->backupFor(request.keys[0]);
  Request get = request;
  up->send(*primary, get, [=, &sink](Response&& r) {
    if (!r.items.empty()) {
      sink.onReply(std::move(r));
      return;
    }
    up->send(*backup, get, [=, &sink](Response&& b) {
      (void)snapshot;  // keeps the hosts alive.
      if (!b.items.empty()) {
        Request add;
        add.command = Command::kAdd;
        add.keys = get.keys;
        add.flags = b.items[0].flags;
        add.value = b.items[0].value;
        up->send(*primary, add, [](Response&&) {}, affinity);
      }
      sink.onReply(std::move(b));
    }, affinity);
  }, affinity);
}

}  // namespace

Scenario readRepairVsDelete() { return readRepairVs("read_repair_vs_delete", false); }
Scenario readRepairVsSet() { return readRepairVs("read_repair_vs_set", true); }

Scenario twoReadRepairs() {
  Scenario s;
  s.name = "two_read_repairs";
  s.build = [](World& w) {
    backupOnly(w, "v0");
    w.addActor({w.get(0, 1)});
    w.addActor({w.get(1, 2)});
  };
  return s;
}

Scenario readRepairVsSetVsDelete() {
  Scenario s;
  s.name = "read_repair_vs_set_vs_delete";
  s.build = [](World& w) {
    backupOnly(w, "v0");
    w.addActor({w.get(0, 1)});
    w.addActor({w.set(1, 2, "v1")});
    w.addActor({w.del(0, 3)});
  };
  return s;
}

Scenario mirrorLag() {
  Scenario s;
  s.name = "mirror_lag";
  s.build = [](World& w) {
    w.preload(w.primary(), "v0");
    w.preload(w.backup(), "v0");
    w.addActor({w.set(0, 1, "v1"), w.get(0, 1)});
    w.addActor({after(w.get(1, 2), {"set 'v1'@p0/c1"})});
  };
  return s;
}

Scenario primaryDown() { return primaryDownOrKilled("primary_down", false); }
Scenario primaryKilledRestartedEmpty() {
  return primaryDownOrKilled("primary_killed_restarted_empty", true);
}

Scenario primaryDownOrKilled(const std::string& name, bool restart_empty) {
  Scenario s;
  s.name = name;
  s.build = [restart_empty](World& w) {
    w.preload(w.primary(), "v0");
    w.preload(w.backup(), "v0");
    const std::string primary = w.primary();
    // The primary stops (keeps its data) and the proxies' health checks eject it.
    w.addActor({World::env("primary stops; both proxies eject it", [primary](World& w) {
      w.net().setDown(primary, true);
      for (int p = 0; p < w.proxyCount(); ++p) w.proxy(p).setAvailable(primary, false);
      w.mark("stopped");
    })});
    // Both proxies drain the journal; the second after the first, which keeps the schedule
    // count within CI's budget (concurrent drains add little: each reads, deletes, clears).
    w.addActor({afterMarks(recoverStep(1), {"back"})});
    w.addActor({afterMarks(recoverStep(0), {"back", "p1 recovered"})});
    // A write during the outage fails over to the backup (journal first).
    w.addActor({afterMarks(w.set(0, 1, "v1"), {"stopped"})});
    // The primary comes back once the write was answered.
    Step back = World::env("primary is back", [primary, restart_empty](World& w) {
      if (restart_empty) w.server(primary).clear();
      w.net().setDown(primary, false);
      w.mark("back");
    });
    back.ready = [](const World& w) { return w.ackedLabel("set 'v1'@p0/c1"); };
    w.addActor({std::move(back)});
    // The other proxy reads after the write's ack: during the outage or after its recovery.
    w.addActor({after(w.get(1, 2), {"set 'v1'@p0/c1"})});
  };
  return s;
}

Scenario laggingViewWriteVsReadRepair() {
  Scenario s;
  s.name = "lagging_view_write_vs_read_repair";
  s.build = [](World& w) {
    backupOnly(w, "v0");
    const std::string primary = w.primary();
    w.proxy(1).setAvailable(primary, false);  // p1 still has the primary ejected.
    w.addActor({w.get(0, 1)});                 // p0 reads it: miss, repair from the backup.
    Step write = w.set(1, 2, "v1");            // p1 writes around it.
    const std::string label = write.label;
    w.addActor({std::move(write)});
    // The documented bound: once the write was answered and p1's delete reached the primary.
    Step read = w.get(0, 3);
    read.ready = [label, primary](const World& w) {
      return w.ackedLabel(label) && !w.net().queued(1, primary);
    };
    w.addActor({std::move(read)});
  };
  return s;
}

Scenario proxyDiesDuringCopy() {
  Scenario s;
  s.name = "proxy_dies_during_copy";
  s.build = [](World& w) {
    backupOnly(w, "v0");
    w.addActor({w.get(0, 1)});
    // p0's process dies at any point of its read-repair: whatever it had not sent is lost.
    w.addActor({World::env("p0 dies", [](World& w) { w.net().kill(0); })});
    Step read = w.get(1, 2);
    read.ready = [](const World& w) { return w.net().dead(0); };
    w.addActor({std::move(read)});
  };
  return s;
}

Scenario primaryDownOneProxy() {
  Scenario s;
  s.name = "primary_down_one_proxy";
  s.spec.proxies = 1;
  s.build = [](World& w) {
    w.preload(w.primary(), "v0");
    w.preload(w.backup(), "v0");
    const std::string primary = w.primary();
    // One client, one step after the other: the only choices are inside the drain.
    w.addActor({World::env("primary stops; p0 ejects it",
                           [primary](World& w) {
                             w.net().setDown(primary, true);
                             w.proxy(0).setAvailable(primary, false);
                           }),
                w.set(0, 1, "v1"),
                World::env("primary is back", [primary](World& w) {
                  w.net().setDown(primary, false);
                }),
                recoverStep(0), w.get(0, 2)});
  };
  return s;
}

Scenario warmUpVsDelete() { return warmUpVs("warm_up_vs_delete", false, false); }
Scenario warmUpVsSet() { return warmUpVs("warm_up_vs_set", true, false); }
Scenario drainVsDelete() { return warmUpVs("drain_vs_delete", false, true); }
Scenario drainVsSet() { return warmUpVs("drain_vs_set", true, true); }
Scenario rehydrateVsSet() { return rehydrateVs("rehydrate_vs_set", true); }
Scenario rehydrateVsDelete() { return rehydrateVs("rehydrate_vs_delete", false); }
Scenario pipelinedGetThenSet() { return pipelined("pipelined_get_then_set", "v1"); }

Scenario oldProtocolReadRepairVsDelete() {
  Scenario s;
  s.name = "old_protocol_read_repair_vs_delete";
  s.build = [](World& w) {
    backupOnly(w, "v0");
    w.addActor({w.customRead("old get@p0/c1", 0, 1,
                             [](World& w, const Request& r, ReplySink& sink) {
                               oldRepairRead(w, 0, 1, r, sink);
                             })});
    w.addActor({w.del(1, 2)});
    w.addActor({after(w.get(0, 3), {"delete@p1/c2"})});
  };
  return s;
}

Scenario mirrorLagVsDeleteAcrossProxies() {
  Scenario s;
  s.name = "mirror_lag_vs_delete_across_proxies";
  s.build = [](World& w) {
    w.preload(w.primary(), "v0");
    w.preload(w.backup(), "v0");
    // One application host sets through its proxy; another deletes through its own once the
    // set was answered; a third read follows the delete's ack.
    w.addActor({w.set(0, 1, "v1")});
    w.addActor({after(w.del(1, 2), {"set 'v1'@p0/c1"})});
    w.addActor({after(w.get(0, 3), {"delete@p1/c2"})});
  };
  return s;
}

Scenario pipelinedGetThenSetOverPlaceholder() {
  Scenario s;
  s.name = "pipelined_get_then_set_over_placeholder";
  s.spec.proxies = 1;
  s.build = [](World& w) {
    backupOnly(w, "v0");
    // Another proxy's copy holds a lease on the primary (it is slow; its TTL is 5 s).
    Request lease;
    lease.command = Command::kMetaGet;
    lease.keys.push_back(w.key());
    lease.meta.vivify = true;
    lease.exptime = 5;
    w.server(w.primary()).handle(lease, w.net().nowSeconds());
    w.addActor({w.get(0, 1, /*pipelined=*/true), w.set(0, 1, "v1")});
  };
  return s;
}

Scenario pipelinedGetThenSetEmptyValue() {
  return pipelined("pipelined_get_then_set_empty_value", "");
}

}  // namespace mcmesh::testing::scenarios
