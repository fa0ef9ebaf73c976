// ReplicatedWrite: primary first, then backup copies, delete fences and failover with the
// dirty journal (see write_path.h).
#include "proxy/replication/write_path.h"

#include "absl/strings/str_cat.h"
#include "proxy/replication/dirty_journal.h"
#include "proxy/replication/replication_state.h"

namespace mcmesh::replication {

bool primaryApplied(Command command, ResponseType reply) {
  switch (reply) {
    case ResponseType::kStored:
    case ResponseType::kDeleted:
    case ResponseType::kTouched:
    case ResponseType::kNumber:
      return true;
    case ResponseType::kNotFound:
      // A delete of a key the primary lacks still clears the backup's copy.
      return command == Command::kDelete;
    default:
      return false;
  }
}

Request mirrorRequestFor(const Request& request) {
  Request copy = request;
  copy.noreply = false;
  // The primary applied it, so the backup must end up with the same item whatever it held:
  // add/replace/cas become set (cas uniques also differ per server).
  if (copy.command == Command::kCas || copy.command == Command::kAdd ||
      copy.command == Command::kReplace) {
    copy.command = Command::kSet;
  }
  copy.cas_unique = 0;
  copy.meta.quiet = false;
  return copy;
}

void ReplicatedWrite::start(Upstreams& upstreams, Request& request, uint64_t affinity,
                            ReplySink& sink, const ChainSettings& settings) {
  ctx_.bind(upstreams, request, affinity, sink, settings);
  primary_ = upstreams.replication().placement().routeOf(upstreams, request);
  if (primary_ == nullptr) {
    failover(absl::StrCat("server ", ctx_.snapshot->primaryFor(request.keys[0]).address,
                          " is down (ejected)"));
    return;
  }
  keep(ctx_.up->send(*primary_, request, [this](Response&& r) {
    handle_ = nullptr;
    onPrimary(std::move(r));
  }, ctx_.affinity));
}

void ReplicatedWrite::onPrimary(Response&& response) {
  if (response.type == ResponseType::kUpstreamFailure) {
    const bool to_backup = ctx_.snapshot->config().eject_policy == upstream::EjectPolicy::kBackup;
    if (to_backup && ctx_.snapshot->backupFor(ctx_.request->keys[0]) != nullptr) {
      failover(response.text);
    } else {
      reply(std::move(response));
    }
    return;
  }
  if (!primaryApplied(ctx_.request->command, response.type)) {
    reply(std::move(response));
    return;
  }
  primary_reply_ = std::move(response);
  if (ctx_.request->command == Command::kDelete) {
    deleted_somewhere_ = primary_reply_.type == ResponseType::kDeleted;
    deleteElsewhere();
    return;
  }
  invalidatePreviousOwner();
  mirror();
}

void ReplicatedWrite::mirror() {
  const upstream::HostConfig* backup = ctx_.snapshot->backupFor(ctx_.request->keys[0]);
  const auto mode = ctx_.settings->mirror.value_or(ctx_.snapshot->config().mirror_mode);
  if (backup == nullptr || mode == upstream::MirrorMode::kNone) {
    reply(std::move(primary_reply_));
    return;
  }
  ProxyCounters* counters = &ctx_.up->counters();
  if (mode == upstream::MirrorMode::kAsync) {
    const uint64_t max_inflight = ctx_.settings->max_mirror_inflight.value_or(
        ctx_.up->replication().options().max_mirror_inflight);
    if (counters->mirror_inflight.value() >= max_inflight) {
      counters->mirror_dropped.inc();
    } else {
      counters->mirror_sent.inc();
      counters->mirror_inflight.inc();
      // Outlives this request on purpose: capture only worker-lifetime state.
      ctx_.up->send(*backup, mirrorRequestFor(*ctx_.request), [counters](Response&& r) {
        counters->mirror_inflight.dec();
        if (r.type == ResponseType::kUpstreamFailure || r.type == ResponseType::kServerError ||
            r.type == ResponseType::kClientError || r.type == ResponseType::kError) {
          counters->mirror_errors.inc();
        }
      }, ctx_.affinity);
    }
    reply(std::move(primary_reply_));
    return;
  }
  counters->mirror_sent.inc();
  keep(ctx_.up->send(*backup, mirrorRequestFor(*ctx_.request), [this, counters](Response&& r) {
    handle_ = nullptr;
    // The primary's answer stands; a failed copy is counted.
    if (r.type == ResponseType::kUpstreamFailure || r.type == ResponseType::kServerError) {
      counters->mirror_errors.inc();
    }
    reply(std::move(primary_reply_));
  }, ctx_.affinity));
}

void ReplicatedWrite::invalidatePreviousOwner() {
  // During a warm-up window misses are copied from a key's previous owner; a write to the new
  // owner removes the old copy so that a later miss cannot bring it back.
  const upstream::HostConfig* old_owner =
      ctx_.snapshot->previousOwnerFor(ctx_.request->keys[0], ctx_.up->now());
  if (old_owner == nullptr || old_owner == primary_) return;
  Request del;
  del.command = Command::kDelete;
  del.keys.push_back(ctx_.request->keys[0]);
  ProxyCounters* counters = &ctx_.up->counters();
  ctx_.up->send(*old_owner, del, [counters](Response&& r) {
    if (r.type == ResponseType::kDeleted) counters->warm_invalidations.inc();
  }, ctx_.affinity);
}

void ReplicatedWrite::deleteElsewhere() {
  Request del;
  del.command = Command::kDelete;
  del.keys.push_back(ctx_.request->keys[0]);
  const upstream::HostConfig* targets[2] = {
      ctx_.snapshot->backupFor(ctx_.request->keys[0]),
      ctx_.snapshot->previousOwnerFor(ctx_.request->keys[0], ctx_.up->now())};
  if (targets[1] == primary_) targets[1] = nullptr;
  pending_ = 1;
  for (size_t i = 0; i < 2; ++i) {
    const upstream::HostConfig* host = targets[i];
    if (host == nullptr) continue;
    ++pending_;
    const bool is_backup = i == 0;
    if (is_backup) ctx_.up->counters().mirror_sent.inc();
    upstream::Cancellable* handle = ctx_.up->send(*host, del, [this, i, is_backup](Response&& r) {
      fanout_[i] = nullptr;
      if (r.type == ResponseType::kDeleted) {
        deleted_somewhere_ = true;
        if (!is_backup) ctx_.up->counters().warm_invalidations.inc();
      } else if (r.type != ResponseType::kNotFound && is_backup) {
        ctx_.up->counters().mirror_errors.inc();
      }
      if (--pending_ == 0) deleteAgain();
    }, ctx_.affinity);
    if (handle != nullptr) fanout_[i] = handle;
  }
  if (--pending_ == 0) deleteAgain();
}

void ReplicatedWrite::deleteAgain() {
  Request del;
  del.command = Command::kDelete;
  del.keys.push_back(ctx_.request->keys[0]);
  keep(ctx_.up->send(*primary_, del, [this](Response&& r) {
    handle_ = nullptr;
    if (r.type == ResponseType::kDeleted) ctx_.up->counters().delete_fence_hits.inc();
    Response out = std::move(primary_reply_);
    // The cache as a whole held the key if any server deleted it.
    if (deleted_somewhere_) out.type = ResponseType::kDeleted;
    reply(std::move(out));
  }, ctx_.affinity));
}

void ReplicatedWrite::failover(const std::string& why) {
  const std::string& key = ctx_.request->keys[0];
  const upstream::HostConfig* backup = ctx_.snapshot->backupFor(key);
  if (backup == nullptr) {
    reply(Response::upstreamFailure(why));
    return;
  }
  ctx_.up->counters().failover_writes.inc();
  failure_ = why;
  // Journal first, on the same connection as the write: the backup applies them in this order.
  const upstream::HostConfig& owner = ctx_.snapshot->primaryFor(key);
  appendToJournal(*ctx_.up, ctx_.snapshot, owner, key, ctx_.affinity);
  Request write = *ctx_.request;
  write.noreply = false;
  keep(ctx_.up->send(*backup, write, [this, &owner](Response&& r) {
    handle_ = nullptr;
    // Once the backup holds this write, and without waiting, remove the key from the primary in
    // case it is back already for other proxies (this one may just not have noticed yet): their
    // reads then miss there and find this write on the backup. Not earlier: another proxy's
    // read-repair could then lease the key after the delete, read the backup before this write
    // and store the old value, which would stay until a journal drain. A primary that is really
    // down just fails this; the journal covers it.
    Request del;
    del.command = Command::kDelete;
    del.keys.push_back(ctx_.request->keys[0]);
    ctx_.up->send(owner, del, [](Response&&) {}, ctx_.affinity);
    if (r.type == ResponseType::kUpstreamFailure) {
      reply(Response::serverError(absl::StrCat(failure_, "; backup: ", r.text)));
    } else {
      reply(std::move(r));
    }
  }, ctx_.affinity));
}

void ReplicatedWrite::keep(upstream::Cancellable* handle) {
  // Null when the callback ran inline, which may have stored the next step's handle already.
  if (handle != nullptr) handle_ = handle;
}

void ReplicatedWrite::reply(Response&& response) {
  if (done_) return;
  done_ = true;
  ctx_.sink->onReply(std::move(response));
}

void ReplicatedWrite::cancel() {
  done_ = true;
  if (handle_ != nullptr) handle_->cancel();
  handle_ = nullptr;
  // An unacknowledged delete may stop half-way: it promised the client nothing.
  for (auto*& h : fanout_) {
    if (h != nullptr) h->cancel();
    h = nullptr;
  }
}

void ReplicatedWrite::reset() {
  ctx_.clear();
  primary_ = nullptr;
  handle_ = nullptr;
  fanout_[0] = fanout_[1] = nullptr;
  primary_reply_ = Response();
  failure_.clear();
  pending_ = 0;
  deleted_somewhere_ = false;
  done_ = false;
}

}  // namespace mcmesh::replication
