// Rehydrator: metadump listing, ring filtering and the rate-limited, pipelined copy loop.
#include "proxy/replication/rehydrator.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/util.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "proxy/buffered_socket.h"
#include "proxy/log.h"
#include "proxy/tls/tls_context.h"

namespace mcmesh::replication {

using upstream::ClusterSnapshot;
using upstream::ClusterSnapshotConstSharedPtr;
namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Refill period while waiting for rate tokens; completions also pump, so the in-flight window
// stays full whatever the rate.
constexpr absl::Duration kTick = absl::Milliseconds(5);

}  // namespace

bool parseMetadumpKey(absl::string_view line, std::string* key) {
  if (line.substr(0, 4) != "key=") return false;
  absl::string_view encoded = line.substr(4);
  size_t space = encoded.find(' ');
  if (space != absl::string_view::npos) encoded = encoded.substr(0, space);
  key->clear();
  for (size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] == '%' && i + 2 < encoded.size()) {
      int hi = hexValue(encoded[i + 1]), lo = hexValue(encoded[i + 2]);
      if (hi < 0 || lo < 0) return false;
      key->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      key->push_back(encoded[i]);
    }
  }
  return !key->empty();
}

// Streams `lru_crawler metadump all` from one backup over a dedicated connection (the reply is
// not a normal memcached reply, and can be long), on the same socket layer as the pools (TLS
// included).
class Rehydrator::MetadumpReader : private BufferedSocket::Callbacks {
 public:
  MetadumpReader(Dispatcher& dispatcher, const HostConfig& backup,
                 std::function<bool(const std::string&)> wanted,
                 std::function<void(std::vector<std::string>, absl::Status)> done)
      : backup_(backup), wanted_(std::move(wanted)), done_(std::move(done)) {
    timeout_ = dispatcher.createTimer([this] { finish(absl::DeadlineExceededError("metadump timed out")); });
    retry_ = dispatcher.createTimer([this] { sendCommand(); });
    sockaddr_storage addr{};
    int len = sizeof(addr);
    if (evutil_parse_sockaddr_port(backup.address.c_str(), reinterpret_cast<sockaddr*>(&addr),
                                   &len) != 0) {
      failed_now_ = true;
      return;
    }
    auto socket = BufferedSocket::connect(dispatcher, reinterpret_cast<sockaddr*>(&addr),
                                          static_cast<socklen_t>(len), *this);
    if (!socket.ok()) {
      failed_now_ = true;
      return;
    }
    socket_ = std::move(*socket);
    if (backup.tls != nullptr &&
        !socket_->startTls(backup.tls, backup.address, backup.tls->verifyNameFor(backup.host)).ok()) {
      socket_.reset();  // reported through failedNow(): no callback may report it again.
      failed_now_ = true;
      return;
    }
    sendCommand();
    timeout_->enable(absl::Seconds(60));
  }
  bool failedNow() const { return failed_now_; }

 private:
  void sendCommand() {
    static const char kCmd[] = "lru_crawler metadump all\r\n";
    evbuffer_add(socket_->output(), kCmd, sizeof(kCmd) - 1);
    socket_->scheduleWrite();
  }
  void onReadable() override { readLines(); }
  void onClosed(int) override { finish(absl::UnavailableError("backup connection lost")); }
  void readLines() {
    evbuffer* in = socket_->input();
    while (!finished_) {
      size_t n = 0;
      char* line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
      if (line == nullptr) return;
      absl::string_view view(line, n);
      std::string key;
      if (view == "END") {
        free(line);
        finish(absl::OkStatus());
        return;
      }
      if (view.substr(0, 4) == "BUSY") {
        // memcached runs one LRU crawler at a time (another rehydration, or an operator's
        // metadump): ask again shortly; the overall timeout still bounds the wait.
        free(line);
        retry_->enable(absl::Milliseconds(250));
        continue;
      }
      if (view.substr(0, 5) == "ERROR" || view.substr(0, 12) == "SERVER_ERROR" ||
          view.substr(0, 12) == "CLIENT_ERROR") {
        std::string reason(view);
        free(line);
        finish(absl::UnavailableError(absl::StrCat("backup refused metadump: ", reason)));
        return;
      }
      if (parseMetadumpKey(view, &key) && wanted_(key)) keys_.push_back(std::move(key));
      free(line);
    }
  }
  void finish(absl::Status status) {
    if (finished_) return;
    finished_ = true;
    timeout_->disable();
    retry_->disable();
    socket_->shutdownEvents();  // the descriptor closes with this reader.
    done_(std::move(keys_), std::move(status));  // may destroy the owner later, not now.
  }

  HostConfig backup_;
  std::function<bool(const std::string&)> wanted_;
  std::function<void(std::vector<std::string>, absl::Status)> done_;
  std::unique_ptr<BufferedSocket> socket_;
  TimerPtr timeout_;
  TimerPtr retry_;
  std::vector<std::string> keys_;
  bool finished_ = false;
  bool failed_now_ = false;
};

Rehydrator::Rehydrator(Upstreams& upstreams, Dispatcher& dispatcher, HostConfig primary,
                       uint64_t keys_per_second,
                       std::function<void(const RehydrationProgress&)> on_progress)
    : upstreams_(upstreams), dispatcher_(dispatcher), primary_(std::move(primary)),
      keys_per_second_(std::max<uint64_t>(1, keys_per_second)),
      on_progress_(std::move(on_progress)), alive_(std::make_shared<bool>(true)) {
  progress_.primary = primary_.address;
  timer_ = dispatcher_.createTimer([this] { pump(); });
}

Rehydrator::~Rehydrator() { *alive_ = false; }

void Rehydrator::start() {
  snapshot_ = upstreams_.snapshotPtr();
  logLine(LogLevel::kInfo, absl::StrCat("rehydration of ", primary_.address,
                                        " started: listing keys on the backup"));
  std::string primary = primary_.address;
  ClusterSnapshotConstSharedPtr pinned = snapshot_;
  auto wanted = [pinned, primary](const std::string& key) {
    return pinned->primaryFor(key).address == primary;
  };
  for (const auto& backup : snapshot_->config().backups) {
    const HostConfig* b = &backup;
    ++readers_pending_;
    readers_.push_back(std::make_unique<MetadumpReader>(
        dispatcher_, backup, wanted,
        [this, b](std::vector<std::string> keys, absl::Status st) {
          onKeysListed(*b, std::move(keys), st);
        }));
    if (readers_.back()->failedNow()) {
      onKeysListed(backup, {}, absl::UnavailableError("cannot connect to backup"));
    }
  }
  if (readers_.empty()) {
    progress_.listing = false;
    progress_.done = true;
    report();
  }
}

void Rehydrator::onKeysListed(const HostConfig& backup, std::vector<std::string> keys,
                              absl::Status status) {
  if (!status.ok()) {
    logLine(LogLevel::kWarn, absl::StrCat("rehydration of ", primary_.address, ": listing ",
                                          backup.address, " failed: ", status.message()));
  }
  progress_.total += keys.size();
  for (auto& k : keys) queue_.push_back(Pending{&backup, std::move(k)});
  if (--readers_pending_ == 0) {
    progress_.listing = false;
    logLine(LogLevel::kInfo, absl::StrCat("rehydration of ", primary_.address, ": ",
                                          progress_.total, " keys to copy at up to ",
                                          keys_per_second_, "/s"));
  }
  report();
  if (!timer_->enabled()) timer_->enable(absl::ZeroDuration());
}

void Rehydrator::pump() {
  const absl::Time now = dispatcher_.now();
  // Token bucket: `keys_per_second` tokens a second, at most a tenth of a second's worth saved.
  const double burst = std::max(1.0, keys_per_second_ / 10.0);
  if (last_refill_ == absl::InfinitePast()) {
    tokens_ = burst;
    started_copying_ = now;
  } else {
    tokens_ = std::min(burst, tokens_ + absl::ToDoubleSeconds(now - last_refill_) *
                                            static_cast<double>(keys_per_second_));
  }
  last_refill_ = now;
  while (tokens_ >= 1 && inflight_ < kMaxInflight && !queue_.empty()) {
    Pending pending = std::move(queue_.front());
    queue_.pop_front();
    tokens_ -= 1;
    copyOne(std::move(pending));
  }
  if (queue_.empty() && inflight_ == 0 && !progress_.listing) {
    if (!progress_.done) {
      progress_.done = true;
      const double seconds = std::max(1e-3, absl::ToDoubleSeconds(now - started_copying_));
      logLine(LogLevel::kInfo,
              absl::StrCat("rehydration of ", primary_.address, " finished: ", progress_.copied,
                           " copied, ", progress_.skipped, " already there or overwritten, ",
                           progress_.failed, " failed (", retried_, " retried), of ",
                           progress_.total, " in ",
                           absl::StrFormat("%.2f", seconds), " s (",
                           static_cast<uint64_t>(progress_.total / seconds), " keys/s)"));
      report();
    }
    return;
  }
  // Waiting for tokens (completions pump too, when the window was the limit).
  if (!queue_.empty() && inflight_ < kMaxInflight && !timer_->enabled()) timer_->enable(kTick);
}

void Rehydrator::copyOne(Pending pending) {
  ++inflight_;
  CopyPlan plan;
  plan.snapshot = snapshot_;
  plan.target = &primary_;
  plan.source = pending.backup;
  plan.key = pending.key;
  plan.kind = CopyKind::kRehydrate;
  plan.affinity = next_affinity_++;
  std::shared_ptr<bool> alive = alive_;
  startLeasedCopy(upstreams_, std::move(plan), nullptr,
                  [this, alive, pending = std::move(pending)](CopyOutcome outcome) mutable {
                    if (*alive) onCopied(outcome, std::move(pending));
                  });
}

void Rehydrator::onCopied(CopyOutcome outcome, Pending pending) {
  --inflight_;
  switch (outcome) {
    case CopyOutcome::kCopied:
      ++progress_.copied;
      break;
    case CopyOutcome::kFailed:
      if (!pending.retry) {
        // One hiccup (a timeout on the pipelined connection fails every copy in flight on it,
        // up to kMaxInflight) should not lose those keys: each gets one more try, at the back
        // of the queue. A retry is as safe as any copy (leased); a second failure counts.
        pending.retry = true;
        ++retried_;
        queue_.push_back(std::move(pending));
        if (!timer_->enabled()) timer_->enable(absl::ZeroDuration());
        return;
      }
      ++progress_.failed;
      break;
    default:
      ++progress_.skipped;
      break;
  }
  const uint64_t finished = progress_.copied + progress_.skipped + progress_.failed;
  if (finished % 1000 == 0) report();
  if (finished % 50000 == 0) {
    logLine(LogLevel::kInfo, absl::StrCat("rehydration of ", primary_.address, ": ", finished,
                                          "/", progress_.total, " done"));
  }
  // Refill the window from the loop, not from inside this callback (a copy that failed inline
  // would otherwise recurse into the next one).
  if (!timer_->enabled()) timer_->enable(absl::ZeroDuration());
}

void Rehydrator::report() {
  if (on_progress_) on_progress_(progress_);
}

}  // namespace mcmesh::replication
