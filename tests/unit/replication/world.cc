// World: actors, client operations and the recorded history (see world.h).
#include "tests/unit/replication/world.h"

#include <cstdint>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace mcmesh::testing {

namespace {

std::vector<upstream::HostConfig> hosts(const std::vector<std::string>& addresses) {
  std::vector<upstream::HostConfig> out;
  for (const auto& a : addresses) out.push_back(*upstream::parseHostAddress(a));
  return out;
}

}  // namespace

upstream::ClusterSnapshotConstSharedPtr makeSnapshot(
    const ClusterSpec& spec, const upstream::ClusterSnapshotConstSharedPtr& previous,
    absl::Time now, bool draining_first) {
  // Building ketama rings dominates a run's cost, and every run of a scenario builds the same
  // immutable snapshots: keep them (test-only, bounded by the number of distinct specs).
  static auto* cache = new std::map<std::string, upstream::ClusterSnapshotConstSharedPtr>();
  const std::string id = absl::StrCat(absl::StrJoin(spec.primaries, ","), "|",
                                      absl::StrJoin(spec.backups, ","), "|",
                                      static_cast<int>(spec.mirror), "|", draining_first, "|",
                                      absl::ToUnixNanos(now), "|",
                                      reinterpret_cast<uintptr_t>(previous.get()));
  auto it = cache->find(id);
  if (it != cache->end()) return it->second;
  upstream::ClusterConfig config;
  config.primaries = hosts(spec.primaries);
  if (draining_first) config.primaries.front().state = upstream::NodeState::kDraining;
  config.backups = hosts(spec.backups);
  config.mirror_mode = spec.mirror;
  auto snapshot = upstream::ClusterSnapshot::create(config, previous, now);
  (*cache)[id] = *snapshot;
  return *snapshot;
}

// A client connection's one request: owns the request and the replicated operation, and
// records the reply.
struct World::ClientOp : replication::ReplySink {
  World* world = nullptr;
  int64_t op = 0;
  Request request;
  replication::ChainSettings settings;
  replication::ReplicatedRead read;
  replication::ReplicatedWrite write;
  Done done;
  void onReply(Response&& response) override {
    world->ackOp(op, std::move(response));
    if (done) done();
  }
};

World::World(const ClusterSpec& spec) : net_(absl::FromUnixSeconds(kStartUnix)) {
  snapshot_ = makeSnapshot(spec, nullptr, net_.now());
  for (int i = 0; i < spec.proxies; ++i) {
    proxies_.push_back(std::make_unique<SimUpstreams>(net_, i, snapshot_));
  }
}

World::~World() = default;

upstream::ClusterSnapshotConstSharedPtr World::nextSnapshot(const ClusterSpec& spec,
                                                            bool draining_first) const {
  return makeSnapshot(spec, snapshot_, net_.now(), draining_first);
}

void World::useSnapshot(upstream::ClusterSnapshotConstSharedPtr snapshot) {
  snapshot_ = std::move(snapshot);
  for (auto& p : proxies_) p->setSnapshot(snapshot_);
}

void World::preload(const std::string& address, const std::string& value) {
  server(address).put(key_, value);
  for (const auto& op : ops_) {
    if (op.kind == OpKind::kSet && op.value == value) return;
  }
  OpRecord r;
  r.label = "preload";
  r.kind = OpKind::kSet;
  r.value = value;
  r.start = -2;
  r.ack = -1;
  r.reply = Response::ofType(ResponseType::kStored);
  ops_.push_back(std::move(r));
}

bool World::ackedLabel(const std::string& label) const {
  for (const auto& op : ops_) {
    if (op.label == label) return op.answered();
  }
  return false;
}

int World::addActor(std::vector<Step> steps) {
  Actor a;
  a.steps = std::move(steps);
  actors_.push_back(std::move(a));
  return static_cast<int>(actors_.size()) - 1;
}

std::vector<std::pair<size_t, size_t>> World::enabledSteps() const {
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t a = 0; a < actors_.size(); ++a) {
    const Actor& actor = actors_[a];
    if (actor.busy || actor.next >= actor.steps.size()) continue;
    const Step& s = actor.steps[actor.next];
    if (s.ready && !s.ready(*this)) continue;
    out.emplace_back(a, actor.next);
  }
  return out;
}

size_t World::eventCount() const { return net_.deliverableCount() + enabledSteps().size(); }

void World::fire(size_t index) {
  const size_t deliveries = net_.deliverableCount();
  if (index < deliveries) {
    net_.deliver(index);
  } else {
    const auto which = enabledSteps()[index - deliveries];
    Actor& actor = actors_[which.first];
    Step& step = actor.steps[which.second];
    actor.next++;
    actor.busy = !step.pipelined;
    net_.note(absl::StrCat("start ", step.label));
    const size_t a = which.first;
    const bool pipelined = step.pipelined;
    step.run(*this, [this, a, pipelined] {
      if (!pipelined) actors_[a].busy = false;
    });
  }
  ++events_;
}

int64_t World::startOp(OpKind kind, int proxy, uint64_t affinity, std::string value,
                       std::string label, bool final_read) {
  OpRecord r;
  r.label = std::move(label);
  r.kind = kind;
  r.proxy = proxy;
  r.affinity = affinity;
  r.value = std::move(value);
  r.start = events_;
  r.final_read = final_read;
  ops_.push_back(std::move(r));
  return static_cast<int64_t>(ops_.size()) - 1;
}

void World::ackOp(int64_t op, Response&& reply) {
  OpRecord& r = ops_[op];
  r.ack = events_;
  net_.note(absl::StrCat("reply to ", r.label, ": ", describe(reply)));
  r.reply = std::move(reply);
}

Step World::get(int proxy, uint64_t affinity, bool pipelined) {
  return clientStep(OpKind::kRead, proxy, affinity, "", pipelined);
}

Step World::set(int proxy, uint64_t affinity, std::string value, bool pipelined) {
  return clientStep(OpKind::kSet, proxy, affinity, std::move(value), pipelined);
}

Step World::del(int proxy, uint64_t affinity, bool pipelined) {
  return clientStep(OpKind::kDelete, proxy, affinity, "", pipelined);
}

Step World::clientStep(OpKind kind, int proxy, uint64_t affinity, std::string value,
                       bool pipelined) {
  const std::string where = absl::StrCat("@p", proxy, "/c", affinity);
  Step s;
  s.label = kind == OpKind::kRead  ? absl::StrCat("get", where)
            : kind == OpKind::kSet ? absl::StrCat("set '", value, "'", where)
                                   : absl::StrCat("delete", where);
  s.pipelined = pipelined;
  s.run = [kind, proxy, affinity, value, label = s.label](World& w, Done done) {
    auto c = std::make_unique<ClientOp>();
    c->world = &w;
    c->op = w.startOp(kind, proxy, affinity, value, label);
    c->request.command = kind == OpKind::kRead  ? Command::kGet
                         : kind == OpKind::kSet ? Command::kSet
                                                : Command::kDelete;
    c->request.keys.push_back(w.key());
    c->request.value = value;
    c->done = std::move(done);
    ClientOp* raw = c.get();
    w.client_ops_.push_back(std::move(c));
    if (kind == OpKind::kRead) {
      raw->read.start(w.proxy(proxy), raw->request, affinity, *raw, raw->settings);
    } else {
      raw->write.start(w.proxy(proxy), raw->request, affinity, *raw, raw->settings);
    }
  };
  return s;
}

Step World::customRead(const std::string& label, int proxy, uint64_t affinity,
                       std::function<void(World&, const Request&, replication::ReplySink&)> run) {
  Step s;
  s.label = label;
  s.run = [proxy, affinity, label, run](World& w, Done done) {
    auto c = std::make_unique<ClientOp>();
    c->world = &w;
    c->op = w.startOp(OpKind::kRead, proxy, affinity, "", label);
    c->request.command = Command::kGet;
    c->request.keys.push_back(w.key());
    c->done = std::move(done);
    ClientOp* raw = c.get();
    w.client_ops_.push_back(std::move(c));
    run(w, raw->request, *raw);
  };
  return s;
}

Step World::env(const std::string& label, std::function<void(World&)> run) {
  Step s;
  s.label = label;
  s.run = [run](World& w, Done done) {
    run(w);
    done();
  };
  return s;
}

void World::finalReads() {
  for (int p = 0; p < proxyCount(); ++p) {
    if (net_.dead(p)) continue;
    auto c = std::make_unique<ClientOp>();
    c->world = this;
    const uint64_t affinity = 900 + p;
    c->op = startOp(OpKind::kRead, p, affinity, "", absl::StrCat("final get@p", p), true);
    c->request.command = Command::kGet;
    c->request.keys.push_back(key_);
    ClientOp* raw = c.get();
    client_ops_.push_back(std::move(c));
    net_.note(absl::StrCat("start final get@p", p));
    raw->read.start(proxy(p), raw->request, affinity, *raw, raw->settings);
    while (!net_.idle()) {
      net_.deliver(0);
      ++events_;
    }
    ++events_;
  }
}

}  // namespace mcmesh::testing
