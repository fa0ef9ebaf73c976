// ReplicatedWrite: one keyed write (set/add/replace/append/prepend/cas/incr/decr/touch/delete)
// under the replication protocol (docs/consistency.md, "Writes").
//
//   primary reachable: the write goes to the primary; once the primary applied it, a copy goes
//     to the backup (async: after the client's reply is queued; sync: before it) and, during a
//     warm-up window, the key's previous owner is invalidated.
//   delete: primary, then backup and previous owner, then the primary again, then the reply.
//     The second delete removes (or breaks the lease of) any copy that read the backup before
//     the backup's delete landed, so no copy started by any proxy can bring the key back.
//   primary unreachable (ejected): the key is added to the primary's dirty journal on the
//     backup, then the write goes to the backup, both on one connection, in that order; once
//     the backup answered, a delete of the key goes to the primary (for proxies that already
//     read it again) and the client gets the backup's answer without waiting for that delete.
#pragma once

#include <cstdint>
#include <string>

#include "proxy/replication/operation.h"
#include "proxy/replication/reply_sink.h"
#include "proxy/replication/upstreams.h"

namespace mcmesh::replication {

/** Whether the primary's reply means it applied `command` (what the backup must then copy). */
bool primaryApplied(Command command, ResponseType reply);
/** The copy of `request` for the backup (cas and add/replace become set; no noreply). */
Request mirrorRequestFor(const Request& request);

class ReplicatedWrite {
 public:
  // `request` gets its placement recorded (Request::route); it must outlive the operation.
  void start(Upstreams& upstreams, Request& request, uint64_t affinity, ReplySink& sink,
             const ChainSettings& settings);
  void cancel();
  void reset();

 private:
  void onPrimary(Response&& response);
  void mirror();
  void deleteElsewhere();
  void deleteAgain();
  void failover(const std::string& why);
  void reply(Response&& response);
  void keep(upstream::Cancellable* handle);
  void invalidatePreviousOwner();

  const upstream::HostConfig* primary_ = nullptr;  // where the write went (owner or rehashed).
  OperationContext ctx_;
  upstream::Cancellable* handle_ = nullptr;
  upstream::Cancellable* fanout_[2] = {nullptr, nullptr};  // delete on backup, previous owner.
  Response primary_reply_;
  std::string failure_;
  int pending_ = 0;
  bool deleted_somewhere_ = false;
  bool done_ = false;
};

}  // namespace mcmesh::replication
