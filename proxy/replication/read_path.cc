// ReplicatedRead: per-server fan-out, miss lookups through leased copies, ordered merge.
#include "proxy/replication/read_path.h"

#include "absl/strings/str_cat.h"
#include "proxy/replication/lease_copy.h"
#include "proxy/replication/replication_state.h"

namespace mcmesh::replication {
namespace {

bool isTouch(Command c) { return c == Command::kGat || c == Command::kGats; }

// A lease placeholder reads as an empty value with flags 0 through get; real items rarely look
// like that, so only those hits pay for a check.
bool maybePlaceholder(const Item& item) { return item.value.empty() && item.flags == 0; }

bool hasLetter(const std::string& letters, char c) {
  return letters.find(c) != std::string::npos;
}

}  // namespace

void ReplicatedRead::start(Upstreams& upstreams, Request& request, uint64_t affinity,
                           ReplySink& sink, const ChainSettings& settings) {
  ctx_.bind(upstreams, request, affinity, sink, settings);
  const size_t n = request.keys.size();
  slots_.resize(n);
  unresolved_ = n;
  Placement& placement = upstreams.replication().placement();
  absl::InlinedVector<uint32_t, 4> unrouted;
  for (uint32_t i = 0; i < n; ++i) {
    const upstream::HostConfig* host = n == 1 ? placement.routeOf(upstreams, request)
                                              : placement.routeFor(upstreams, request.keys[i]);
    if (host == nullptr) {
      unrouted.push_back(i);
      continue;
    }
    Fragment* target = nullptr;
    for (auto& f : fragments_) {
      if (f.host == host) target = &f;
    }
    if (target == nullptr) {
      fragments_.emplace_back();
      target = &fragments_.back();
      target->host = host;
    }
    target->key_indexes.push_back(i);
  }
  starting_ = true;
  for (size_t i = 0; i < fragments_.size() && !finished_; ++i) sendFragment(i);
  for (uint32_t k : unrouted) {
    if (finished_) break;
    const auto& primary = ctx_.snapshot->primaryFor(request.keys[k]);
    readBackupOnly(k, absl::StrCat("server ", primary.address, " is down (ejected)"));
  }
  starting_ = false;
  if (!finished_ && unresolved_ == 0) finish();
}

void ReplicatedRead::sendFragment(size_t index) {
  Fragment& f = fragments_[index];
  auto callback = [this, index](Response&& r) { onFragment(index, std::move(r)); };
  if (f.key_indexes.size() == ctx_.request->keys.size()) {
    f.handle = ctx_.up->send(*f.host, *ctx_.request, std::move(callback), ctx_.affinity);
  } else {
    Request sub;
    sub.command = ctx_.request->command;
    sub.exptime = ctx_.request->exptime;
    sub.keys.reserve(f.key_indexes.size());
    for (uint32_t k : f.key_indexes) sub.keys.push_back(ctx_.request->keys[k]);
    f.handle = ctx_.up->send(*f.host, sub, std::move(callback), ctx_.affinity);
  }
  if (f.done) f.handle = nullptr;  // answered inline.
}

bool ReplicatedRead::mayHidePlaceholders() const {
  // Placeholders exist only where copies happen: clusters with a backup or a warm-up ring.
  return ctx_.snapshot->hasBackup() || ctx_.snapshot->inWarmUp(ctx_.up->now());
}

void ReplicatedRead::onFragment(size_t index, Response&& response) {
  Fragment& f = fragments_[index];
  f.handle = nullptr;
  f.done = true;
  const bool whole = f.key_indexes.size() == ctx_.request->keys.size();
  if (response.type == ResponseType::kUpstreamFailure) {
    for (uint32_t k : f.key_indexes) readBackupOnly(k, response.text);
    return;
  }
  if (response.type != ResponseType::kValues) {
    if (whole) {  // a memcached error reply to the whole request: it is the answer.
      finished_ = true;
      ctx_.sink->onReply(std::move(response));
      return;
    }
    for (uint32_t k : f.key_indexes) readBackupOnly(k, response.text);
    return;
  }
  // Placeholders, and anywhere else to look for a miss, exist only with a backup or a warm-up ring.
  const bool hide = mayHidePlaceholders();
  if (whole && response.items.size() == ctx_.request->keys.size()) {
    // The hot path: every key hit on its primary. The reply goes on as it came.
    bool suspect = false;
    for (const Item& item : response.items) suspect |= hide && suspicion(item) != kNone;
    if (!suspect) {
      finished_ = true;
      unresolved_ = 0;
      ctx_.sink->onReply(std::move(response));
      return;
    }
  }
  if (whole && !hide) {
    finished_ = true;
    unresolved_ = 0;
    ctx_.sink->onReply(std::move(response));
    return;
  }
  // Servers answer hits in the order asked, so one cursor restores which key each belongs to.
  size_t cursor = 0;
  for (uint32_t k : f.key_indexes) {
    if (finished_) return;
    auto& items = response.items;
    if (cursor < items.size() && items[cursor].key == ctx_.request->keys[k]) {
      Item& item = items[cursor++];
      const Suspicion s = hide ? suspicion(item) : kNone;
      if (s != kNone) {
        // Maybe a copy's lease placeholder. Asking the primary again would come back after this
        // client's later writes, so answer from the copy's source now, as for a miss: it holds
        // the item the placeholder stands for, or (sync mirror) the same real empty item.
        ctx_.up->counters().placeholders_hidden.inc();
        onMiss(k, *f.host, /*suspect=*/true);
      } else {
        resolve(k, SlotState::kHit, std::move(item));
      }
    } else {
      onMiss(k, *f.host, /*suspect=*/false);
    }
  }
}

ReplicatedRead::Suspicion ReplicatedRead::suspicion(const Item& item) const {
  const MetaFlags& meta = ctx_.request->meta;
  if (meta.meta) {
    // memcached reports W/Z on every meta get, so a meta reply says it itself. A client that
    // takes leases itself (N) sees them as memcached shows them.
    if (hasLetter(meta.order, 'N')) return kNone;
    return isLeasePlaceholder(item) ? kPlaceholder : kNone;
  }
  return maybePlaceholder(item) ? kMaybe : kNone;
}

void ReplicatedRead::onMiss(uint32_t k, const upstream::HostConfig& primary, bool suspect) {
  const std::string& key = ctx_.request->keys[k];
  const absl::Time now = ctx_.up->now();
  CopyPlan plan;
  plan.snapshot = ctx_.snapshot;
  plan.target = ctx_.settings->repair ? &primary : nullptr;
  plan.key = key;
  plan.affinity = ctx_.affinity;
  plan.touch = isTouch(ctx_.request->command);
  plan.touch_command = ctx_.request->command;
  plan.touch_exptime = ctx_.request->exptime;
  const upstream::HostConfig* previous = ctx_.snapshot->previousOwnerFor(key, now);
  if (previous != nullptr && previous != &primary && ctx_.up->available(*previous)) {
    plan.source = previous;
    plan.kind = CopyKind::kWarm;
  } else {
    const upstream::HostConfig* backup = ctx_.snapshot->backupFor(key);
    if (backup == nullptr || !ctx_.up->available(*backup)) {
      resolve(k, SlotState::kMiss, Item());
      return;
    }
    // A suspected placeholder is read from the backup whatever the policy: the primary's own
    // answer cannot be shown.
    const bool miss_failover =
        suspect || ctx_.settings->miss_failover.value_or(ctx_.snapshot->config().miss_failover);
    if (!miss_failover) {
      resolve(k, SlotState::kMiss, Item());
      return;
    }
    if (!suspect && !ctx_.up->replication().missPolicy().shouldReadBackup(
                        primary.address, backup->address, now)) {
      ctx_.up->counters().backup_reads_skipped.inc();
      resolve(k, SlotState::kMiss, Item());
      return;
    }
    plan.source = backup;
    plan.kind = CopyKind::kRepair;
    ctx_.up->counters().failover_reads.inc();
  }
  // The client's answer is read now, not after a lease: the source then reflects every write
  // this connection sent before the read (their copies left with earlier primary replies) and
  // none sent after it (those copies leave with later replies). The copy to the primary is a
  // separate leased copy, started only when there is something to copy.
  const bool warm = plan.kind == CopyKind::kWarm;
  Request read;
  read.command = plan.touch ? plan.touch_command : Command::kMetaGet;
  read.exptime = plan.touch ? plan.touch_exptime : 0;
  read.keys.push_back(key);
  const upstream::HostConfig* source = plan.source;
  upstream::Cancellable* handle =
      ctx_.up->send(*source, read, [this, k, warm, plan = std::move(plan)](Response&& r) mutable {
        slots_[k].handle = nullptr;
        if (r.type != ResponseType::kValues || r.items.empty() ||
            isPlaceholder(r.items.front())) {
          resolve(k, SlotState::kMiss, Item());  // the primary's miss stands.
          return;
        }
        if (!warm) ctx_.up->counters().backup_hits.inc();
        Item item = std::move(r.items.front());
        item.key = ctx_.request->keys[k];
        if (plan.target != nullptr) startLeasedCopy(*ctx_.up, std::move(plan), nullptr);
        resolve(k, SlotState::kHit, std::move(item));
      }, ctx_.affinity);
  if (handle != nullptr) slots_[k].handle = handle;
}

void ReplicatedRead::readBackupOnly(uint32_t k, const std::string& primary_failure) {
  const std::string& key = ctx_.request->keys[k];
  const upstream::HostConfig* backup = ctx_.snapshot->backupFor(key);
  if (backup == nullptr || !ctx_.up->available(*backup)) {
    if (failure_.empty()) failure_ = primary_failure;
    resolve(k, SlotState::kFailed, Item());
    return;
  }
  ctx_.up->counters().failover_reads.inc();
  auto callback = [this, k, primary_failure](Response&& r) {
    slots_[k].handle = nullptr;
    if (r.type == ResponseType::kValues) {
      if (!r.items.empty() && !isPlaceholder(r.items.front())) {
        ctx_.up->counters().backup_hits.inc();
        Item item = std::move(r.items.front());
        item.key = ctx_.request->keys[k];
        resolve(k, SlotState::kHit, std::move(item));
      } else {
        resolve(k, SlotState::kMiss, Item());
      }
      return;
    }
    if (failure_.empty()) {
      failure_ = absl::StrCat(primary_failure, "; backup: ", r.text.empty() ? "error" : r.text);
    }
    resolve(k, SlotState::kFailed, Item());
  };
  upstream::Cancellable* handle;
  if (ctx_.request->keys.size() == 1) {
    handle = ctx_.up->send(*backup, *ctx_.request, std::move(callback), ctx_.affinity);
  } else {
    Request one;
    one.command = ctx_.request->command;
    one.exptime = ctx_.request->exptime;
    one.keys.push_back(key);
    handle = ctx_.up->send(*backup, one, std::move(callback), ctx_.affinity);
  }
  if (handle != nullptr) slots_[k].handle = handle;
}

void ReplicatedRead::resolve(uint32_t k, SlotState state, Item&& item) {
  Slot& slot = slots_[k];
  slot.state = state;
  slot.item = std::move(item);
  if (--unresolved_ == 0 && !starting_ && !finished_) finish();
}

void ReplicatedRead::finish() {
  finished_ = true;
  Response merged = Response::ofType(ResponseType::kValues);
  size_t failed = 0;
  for (const Slot& s : slots_) {
    if (s.state == SlotState::kHit) merged.items.reserve(slots_.size());
    if (s.state == SlotState::kFailed) ++failed;
  }
  if (failed == slots_.size()) {
    ctx_.sink->onReply(Response::serverError(failure_.empty() ? "upstream failure" : failure_));
    return;
  }
  for (size_t k = 0; k < slots_.size(); ++k) {
    Slot& s = slots_[k];
    if (s.state != SlotState::kHit) continue;
    if (s.item.key.empty()) s.item.key = ctx_.request->keys[k];
    merged.items.push_back(std::move(s.item));
  }
  ctx_.sink->onReply(std::move(merged));
}

void ReplicatedRead::cancel() {
  finished_ = true;
  for (auto& f : fragments_) {
    if (f.handle != nullptr) f.handle->cancel();
    f.handle = nullptr;
  }
  for (auto& s : slots_) {
    if (s.handle != nullptr) s.handle->cancel();
    s.handle = nullptr;
  }
}

void ReplicatedRead::reset() {
  ctx_.clear();
  fragments_.clear();
  slots_.clear();
  unresolved_ = 0;
  failure_.clear();
  finished_ = false;
  starting_ = false;
}

}  // namespace mcmesh::replication
