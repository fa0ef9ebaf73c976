// LeasedCopy: lease, read, compare-and-set (see lease_copy.h).
#include "proxy/replication/lease_copy.h"

#include <memory>
#include <utility>

#include "proxy/replication/replication_state.h"

namespace mcmesh::replication {
namespace {

bool hasFlag(absl::string_view extra, char flag) {
  for (size_t i = 0; i < extra.size(); ++i) {
    if (extra[i] == flag && (i == 0 || extra[i - 1] == ' ')) return true;
  }
  return false;
}

class LeasedCopy : public upstream::Cancellable {
 public:
  LeasedCopy(Upstreams& upstreams, CopyPlan plan, CopyReadCallback on_read,
             CopyDoneCallback on_done)
      : up_(upstreams), plan_(std::move(plan)), on_read_(std::move(on_read)),
        on_done_(std::move(on_done)) {}

  void cancel() override { on_read_ = nullptr; }

  // @return whether on_read already ran (the caller then gets no handle). The copy may have
  // finished and freed itself by then, so the answer comes from a flag on the caller's stack.
  bool start() {
    bool delivered = false;
    delivered_flag_ = &delivered;
    if (plan_.target == nullptr) {
      readSource();
    } else {
      Request lease;
      lease.command = Command::kMetaGet;
      lease.keys.push_back(plan_.key);
      lease.meta.vivify = true;
      lease.exptime = up_.replication().options().lease_ttl_s;
      up_.send(*plan_.target, lease, [this](Response&& r) { onLease(std::move(r)); },
               plan_.affinity);
    }
    if (!delivered) delivered_flag_ = nullptr;  // still alive: on_read has not run.
    return delivered;
  }

 private:
  void onLease(Response&& r) {
    if (r.type != ResponseType::kValues || r.items.empty()) {
      // The target did not answer (or missed without a placeholder): read, but never store.
      leased_ = false;
      readSource();
      return;
    }
    const Item& item = r.items.front();
    if (hasFlag(item.meta_extra, 'W')) {
      leased_ = true;
      cas_ = item.cas;
      readSource();
    } else if (hasFlag(item.meta_extra, 'Z')) {
      // Someone else is copying this key: leave the store to them (and read only for a client).
      busy_ = true;
      if (!on_read_) {
        finish(CopyOutcome::kBusy);
        return;
      }
      readSource();
    } else {
      // The target holds the key (a write landed since its miss): its miss stands for this
      // request, and there is nothing to copy.
      deliver(Response::ofType(ResponseType::kValues));
      finish(CopyOutcome::kPresent);
    }
  }

  void readSource() {
    Request read;
    read.command = plan_.touch ? plan_.touch_command : Command::kMetaGet;
    read.exptime = plan_.touch ? plan_.touch_exptime : 0;
    read.keys.push_back(plan_.key);
    up_.send(*plan_.source, read, [this](Response&& r) { onSource(std::move(r)); },
             plan_.affinity);
  }

  void onSource(Response&& r) {
    if (r.type != ResponseType::kValues) {
      deliver(std::move(r));
      if (leased_) {
        release(CopyOutcome::kFailed);
      } else {
        finish(CopyOutcome::kFailed);
      }
      return;
    }
    if (r.items.empty() || isPlaceholder(r.items.front())) {
      deliver(Response::ofType(ResponseType::kValues));
      if (leased_) {
        release(CopyOutcome::kSourceMiss);
      } else {
        finish(CopyOutcome::kSourceMiss);
      }
      return;
    }
    Item item = std::move(r.items.front());
    r.items.clear();
    item.key = plan_.key;
    const int64_t ttl = item.ttl;
    if (leased_ && (plan_.touch || ttl != 0)) {
      store(item, plan_.touch ? plan_.touch_exptime : exptimeForRemainingTtl(ttl, up_.now()));
    }
    item.ttl = -1;
    item.meta_extra.clear();
    Response out = Response::ofType(ResponseType::kValues);
    out.items.push_back(std::move(item));
    deliver(std::move(out));
    if (!leased_) {
      finish(busy_ ? CopyOutcome::kBusy : CopyOutcome::kFailed);
    } else if (!storing_) {
      release(CopyOutcome::kSourceMiss);  // expiring this second: not worth copying.
    }
  }

  void store(const Item& item, int64_t exptime) {
    storing_ = true;
    Request cas;
    cas.command = Command::kCas;
    cas.keys.push_back(plan_.key);
    cas.flags = item.flags;
    cas.exptime = exptime;
    cas.value = item.value;
    cas.cas_unique = cas_;
    up_.send(*plan_.target, cas, [this](Response&& r) {
      switch (r.type) {
        case ResponseType::kStored:
          finish(CopyOutcome::kCopied);
          break;
        case ResponseType::kExists:
        case ResponseType::kNotFound:
          finish(CopyOutcome::kLostRace);
          break;
        default:
          finish(CopyOutcome::kFailed);
      }
    }, plan_.affinity);
  }

  // Removes our placeholder unless a write replaced it meanwhile.
  void release(CopyOutcome outcome) {
    Request del;
    del.command = Command::kDelete;
    del.keys.push_back(plan_.key);
    del.cas_unique = cas_;
    up_.send(*plan_.target, del, [this, outcome](Response&&) { finish(outcome); },
             plan_.affinity);
  }

  void deliver(Response&& r) {
    if (read_delivered_) return;
    read_delivered_ = true;
    if (delivered_flag_ != nullptr) *delivered_flag_ = true;
    delivered_flag_ = nullptr;
    CopyReadCallback callback = std::move(on_read_);
    on_read_ = nullptr;
    if (callback) callback(std::move(r));
  }

  void finish(CopyOutcome outcome) {
    ProxyCounters& c = up_.counters();
    switch (outcome) {
      case CopyOutcome::kCopied:
        (plan_.kind == CopyKind::kWarm ? c.warm_copies : c.repairs_done).inc();
        break;
      case CopyOutcome::kLostRace:
        c.copies_lost_race.inc();
        break;
      case CopyOutcome::kBusy:
        c.copies_busy.inc();
        break;
      case CopyOutcome::kFailed:
        if (plan_.target != nullptr) c.repairs_failed.inc();
        break;
      default:
        break;
    }
    CopyDoneCallback done = std::move(on_done_);
    on_done_ = nullptr;
    if (done) done(outcome);
    // Replies to this copy's requests all came back (each step waits for the previous one), so
    // nothing refers to it any more.
    delete this;
  }

  Upstreams& up_;
  CopyPlan plan_;
  CopyReadCallback on_read_;
  CopyDoneCallback on_done_;
  bool leased_ = false;
  bool busy_ = false;
  bool storing_ = false;
  bool read_delivered_ = false;
  bool* delivered_flag_ = nullptr;
  uint64_t cas_ = 0;
};

}  // namespace

bool isPlaceholder(const Item& item) {
  return hasFlag(item.meta_extra, 'W') || hasFlag(item.meta_extra, 'Z') ||
         hasFlag(item.meta_extra, 'X');
}

bool isLeasePlaceholder(const Item& item) {
  return hasFlag(item.meta_extra, 'W') || hasFlag(item.meta_extra, 'Z');
}

int64_t exptimeForRemainingTtl(int64_t ttl, absl::Time now) {
  constexpr int64_t kRelativeLimit = 60 * 60 * 24 * 30;
  if (ttl < 0) return 0;
  if (ttl <= kRelativeLimit) return ttl;
  return absl::ToUnixSeconds(now) + ttl;
}

upstream::Cancellable* startLeasedCopy(Upstreams& upstreams, CopyPlan plan,
                                       CopyReadCallback on_read, CopyDoneCallback on_done) {
  const bool has_reader = static_cast<bool>(on_read);
  auto* copy = new LeasedCopy(upstreams, std::move(plan), std::move(on_read), std::move(on_done));
  // A copy whose reader already ran may be gone: hand out a handle only while it is pending.
  const bool delivered = copy->start();
  return (has_reader && !delivered) ? copy : nullptr;
}

}  // namespace mcmesh::replication
