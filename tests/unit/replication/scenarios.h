// The scenarios the interleaving harness explores: 2 to 3 concurrent client operations on one
// key through two proxies (two SimUpstreams with their own ReplicationState sharing the fake
// servers), 2 primaries and 1 backup. Each is named after the interleaving it covers.
#pragma once

#include "tests/unit/replication/explorer.h"

namespace mcmesh::testing::scenarios {

// The key is on the backup only (its primary restarted empty); a get repairs it while ...
Scenario readRepairVsDelete();      // ... another client deletes it (the reported bug).
Scenario readRepairVsSet();         // ... another client sets it.
Scenario twoReadRepairs();          // ... another proxy repairs it too.
Scenario readRepairVsSetVsDelete(); // ... one client sets it and another deletes it.
// Async mirror: set then get on the same connection, and a get through the other proxy.
Scenario mirrorLag();
// A write while the primary is stopped fails over to the backup (dirty journal); the primary
// comes back and every proxy drains the journal (kRecover) before using it again.
Scenario primaryDown();
Scenario primaryDownOrKilled(const std::string& name, bool restart_empty);
// The same, but the primary comes back empty (killed and restarted).
Scenario primaryKilledRestartedEmpty();
// A proxy dies between its lease and its store: the placeholder stays until its TTL, and the
// other proxy's reads and writes meanwhile never show it.
Scenario proxyDiesDuringCopy();
// The same with one proxy and one client doing everything in sequence (the minimal schedule).
Scenario primaryDownOneProxy();
// The primary is back (restarted empty) and one proxy reads it again while the other has not
// noticed yet: that one writes around it (journal, backup, then a delete on the primary) while
// the first repairs the key from the backup. A read after the write's ack and its delete must
// see the write ("Proxies whose view of a primary lags" in docs/consistency.md).
Scenario laggingViewWriteVsReadRepair();
// A node is added; the key's new owner is empty and its old owner holds it: a warm copy vs a
// delete, and vs a set.
Scenario warmUpVsDelete();
Scenario warmUpVsSet();
// The first primary is drained: the same with the drained node as the previous owner.
Scenario drainVsDelete();
Scenario drainVsSet();
// Rehydration of a restarted primary (a LeasedCopy of kind kRehydrate) vs a client write.
Scenario rehydrateVsSet();
Scenario rehydrateVsDelete();
// Pipelined on one connection: get then set, while another proxy repairs the key.
Scenario pipelinedGetThenSet();

// The protocol before issue 13 (a primary miss reads the backup and repairs with a plain add)
// in the reported scenario: it must violate, proving the harness can fail.
Scenario oldProtocolReadRepairVsDelete();

// Schedules that violate with the current module (found by this harness; see the report), or
// that docs/consistency.md lists under "Not guaranteed" (with --mirror=async).
Scenario mirrorLagVsDeleteAcrossProxies();
Scenario pipelinedGetThenSetEmptyValue();
// The minimal form: one connection, the primary holds another copier's placeholder.
Scenario pipelinedGetThenSetOverPlaceholder();

}  // namespace mcmesh::testing::scenarios
