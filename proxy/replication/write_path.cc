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

void ReplicatedWrite::start(Upstreams& upstreams, const Request& request, uint64_t affinity,
                            ReplySink& sink, const ChainSettings& settings) {
  up_ = &upstreams;
  settings_ = &settings;
  request_ = &request;
  sink_ = &sink;
  affinity_ = affinity;
  snapshot_ = upstreams.snapshotPtr();
  primary_ = upstreams.replication().placement().routeFor(upstreams, request.keys[0]);
  if (primary_ == nullptr) {
    failover(absl::StrCat("server ", snapshot_->primaryFor(request.keys[0]).address,
                          " is down (ejected)"));
    return;
  }
  keep(up_->send(*primary_, request, [this](Response&& r) {
    handle_ = nullptr;
    onPrimary(std::move(r));
  }, affinity_));
}

void ReplicatedWrite::onPrimary(Response&& response) {
  if (response.type == ResponseType::kUpstreamFailure) {
    const bool to_backup = snapshot_->config().eject_policy == upstream::EjectPolicy::kBackup;
    if (to_backup && snapshot_->backupFor(request_->keys[0]) != nullptr) {
      failover(response.text);
    } else {
      reply(std::move(response));
    }
    return;
  }
  if (!primaryApplied(request_->command, response.type)) {
    reply(std::move(response));
    return;
  }
  primary_reply_ = std::move(response);
  if (request_->command == Command::kDelete) {
    deleted_somewhere_ = primary_reply_.type == ResponseType::kDeleted;
    deleteElsewhere();
    return;
  }
  invalidatePreviousOwner();
  mirror();
}

void ReplicatedWrite::mirror() {
  const upstream::HostConfig* backup = snapshot_->backupFor(request_->keys[0]);
  const auto mode = settings_->mirror.value_or(snapshot_->config().mirror_mode);
  if (backup == nullptr || mode == upstream::MirrorMode::kNone) {
    reply(std::move(primary_reply_));
    return;
  }
  ProxyCounters* counters = &up_->counters();
  if (mode == upstream::MirrorMode::kAsync) {
    const uint64_t max_inflight = settings_->max_mirror_inflight.value_or(
        up_->replication().options().max_mirror_inflight);
    if (counters->mirror_inflight.value() >= max_inflight) {
      counters->mirror_dropped.inc();
    } else {
      counters->mirror_sent.inc();
      counters->mirror_inflight.inc();
      // Outlives this request on purpose: capture only worker-lifetime state.
      up_->send(*backup, mirrorRequestFor(*request_), [counters](Response&& r) {
        counters->mirror_inflight.dec();
        if (r.type == ResponseType::kUpstreamFailure || r.type == ResponseType::kServerError ||
            r.type == ResponseType::kClientError || r.type == ResponseType::kError) {
          counters->mirror_errors.inc();
        }
      }, affinity_);
    }
    reply(std::move(primary_reply_));
    return;
  }
  counters->mirror_sent.inc();
  keep(up_->send(*backup, mirrorRequestFor(*request_), [this, counters](Response&& r) {
    handle_ = nullptr;
    // The primary's answer stands; a failed copy is counted.
    if (r.type == ResponseType::kUpstreamFailure || r.type == ResponseType::kServerError) {
      counters->mirror_errors.inc();
    }
    reply(std::move(primary_reply_));
  }, affinity_));
}

void ReplicatedWrite::invalidatePreviousOwner() {
  // During a warm-up window misses are copied from a key's previous owner; a write to the new
  // owner removes the old copy so that a later miss cannot bring it back.
  const upstream::HostConfig* old_owner =
      snapshot_->previousOwnerFor(request_->keys[0], up_->now());
  if (old_owner == nullptr || old_owner == primary_) return;
  Request del;
  del.command = Command::kDelete;
  del.keys.push_back(request_->keys[0]);
  ProxyCounters* counters = &up_->counters();
  up_->send(*old_owner, del, [counters](Response&& r) {
    if (r.type == ResponseType::kDeleted) counters->warm_invalidations.inc();
  }, affinity_);
}

void ReplicatedWrite::deleteElsewhere() {
  Request del;
  del.command = Command::kDelete;
  del.keys.push_back(request_->keys[0]);
  const upstream::HostConfig* targets[2] = {
      snapshot_->backupFor(request_->keys[0]),
      snapshot_->previousOwnerFor(request_->keys[0], up_->now())};
  if (targets[1] == primary_) targets[1] = nullptr;
  pending_ = 1;
  for (size_t i = 0; i < 2; ++i) {
    const upstream::HostConfig* host = targets[i];
    if (host == nullptr) continue;
    ++pending_;
    const bool is_backup = i == 0;
    if (is_backup) up_->counters().mirror_sent.inc();
    upstream::Cancellable* handle = up_->send(*host, del, [this, i, is_backup](Response&& r) {
      fanout_[i] = nullptr;
      if (r.type == ResponseType::kDeleted) {
        deleted_somewhere_ = true;
        if (!is_backup) up_->counters().warm_invalidations.inc();
      } else if (r.type != ResponseType::kNotFound && is_backup) {
        up_->counters().mirror_errors.inc();
      }
      if (--pending_ == 0) deleteAgain();
    }, affinity_);
    if (handle != nullptr) fanout_[i] = handle;
  }
  if (--pending_ == 0) deleteAgain();
}

void ReplicatedWrite::deleteAgain() {
  Request del;
  del.command = Command::kDelete;
  del.keys.push_back(request_->keys[0]);
  keep(up_->send(*primary_, del, [this](Response&& r) {
    handle_ = nullptr;
    if (r.type == ResponseType::kDeleted) up_->counters().delete_fence_hits.inc();
    Response out = std::move(primary_reply_);
    // The cache as a whole held the key if any server deleted it.
    if (deleted_somewhere_) out.type = ResponseType::kDeleted;
    reply(std::move(out));
  }, affinity_));
}

void ReplicatedWrite::failover(const std::string& why) {
  const std::string& key = request_->keys[0];
  const upstream::HostConfig* backup = snapshot_->backupFor(key);
  if (backup == nullptr) {
    reply(Response::upstreamFailure(why));
    return;
  }
  up_->counters().failover_writes.inc();
  failure_ = why;
  // Journal first, on the same connection as the write: the backup applies them in this order.
  const upstream::HostConfig& owner = snapshot_->primaryFor(key);
  appendToJournal(*up_, snapshot_, owner, key, affinity_);
  // And, without waiting, remove the key from the primary in case it is back already for other
  // proxies (this one may just not have noticed yet): their reads then miss there and find this
  // write on the backup instead of the primary's old copy. A primary that is really down just
  // fails this; the journal covers it.
  Request del;
  del.command = Command::kDelete;
  del.keys.push_back(key);
  up_->send(owner, del, [](Response&&) {}, affinity_);
  Request write = *request_;
  write.noreply = false;
  keep(up_->send(*backup, write, [this](Response&& r) {
    handle_ = nullptr;
    if (r.type == ResponseType::kUpstreamFailure) {
      reply(Response::serverError(absl::StrCat(failure_, "; backup: ", r.text)));
    } else {
      reply(std::move(r));
    }
  }, affinity_));
}

void ReplicatedWrite::keep(upstream::Cancellable* handle) {
  // Null when the callback ran inline, which may have stored the next step's handle already.
  if (handle != nullptr) handle_ = handle;
}

void ReplicatedWrite::reply(Response&& response) {
  if (done_) return;
  done_ = true;
  sink_->onReply(std::move(response));
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
  up_ = nullptr;
  request_ = nullptr;
  sink_ = nullptr;
  settings_ = nullptr;
  snapshot_.reset();
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
