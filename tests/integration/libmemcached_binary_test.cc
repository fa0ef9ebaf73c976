// A real binary-protocol client, libmemcached in binary mode, does set/get/multi-get/delete/incr
// through mcmesh (2 primaries + 1 backup), including after both primaries are killed.
#include <libmemcached/memcached.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/support/harness.h"
#include "tests/support/mcmesh_process.h"

namespace mcmesh::testing {
namespace {

class LibmemcachedBinaryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto* s : {&p1_, &p2_, &backup_}) {
      auto started = MemcachedServer::start();
      ASSERT_TRUE(started.ok()) << started.status();
      *s = std::move(*started);
    }
    auto proxy = McmeshProcess::start({"-s", p1_->address(), "-s", p2_->address(), "-b",
                                       backup_->address(), "--concurrency=1"});
    ASSERT_TRUE(proxy.ok()) << proxy.status();
    proxy_ = std::move(*proxy);
    mc_ = memcached_create(nullptr);
    ASSERT_EQ(memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1),
              MEMCACHED_SUCCESS);
    memcached_behavior_set(mc_, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, 2000);
    ASSERT_EQ(memcached_server_add(mc_, "127.0.0.1", proxy_->port()), MEMCACHED_SUCCESS);
  }
  void TearDown() override {
    if (mc_ != nullptr) memcached_free(mc_);
  }

  memcached_return_t set(const std::string& key, const std::string& value, uint32_t flags = 0) {
    return memcached_set(mc_, key.data(), key.size(), value.data(), value.size(), 0, flags);
  }

  // The value, or "<miss>" / "<error: ...>".
  std::string get(const std::string& key, uint32_t* flags = nullptr) {
    size_t len = 0;
    uint32_t f = 0;
    memcached_return_t rc;
    char* value = memcached_get(mc_, key.data(), key.size(), &len, &f, &rc);
    if (rc == MEMCACHED_NOTFOUND) return "<miss>";
    if (rc != MEMCACHED_SUCCESS) return absl::StrCat("<error: ", memcached_strerror(mc_, rc), ">");
    std::string out(value, len);
    free(value);
    if (flags != nullptr) *flags = f;
    return out;
  }

  std::map<std::string, std::string> mget(const std::vector<std::string>& keys) {
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    for (const auto& k : keys) {
      ptrs.push_back(k.data());
      lens.push_back(k.size());
    }
    std::map<std::string, std::string> found;
    if (memcached_mget(mc_, ptrs.data(), lens.data(), keys.size()) != MEMCACHED_SUCCESS) {
      return found;
    }
    memcached_return_t rc;
    while (memcached_result_st* r = memcached_fetch_result(mc_, nullptr, &rc)) {
      found[std::string(memcached_result_key_value(r), memcached_result_key_length(r))] =
          std::string(memcached_result_value(r), memcached_result_length(r));
      memcached_result_free(r);
    }
    return found;
  }

  MemcachedServerPtr p1_, p2_, backup_;
  std::unique_ptr<McmeshProcess> proxy_;
  memcached_st* mc_ = nullptr;
};

TEST_F(LibmemcachedBinaryTest, SetGetMultiGetDeleteIncr) {
  ASSERT_EQ(set("alpha", "one", 7), MEMCACHED_SUCCESS);
  ASSERT_EQ(set("beta", "two"), MEMCACHED_SUCCESS);
  ASSERT_EQ(set("gamma", "three"), MEMCACHED_SUCCESS);
  uint32_t flags = 0;
  EXPECT_EQ(get("alpha", &flags), "one");
  EXPECT_EQ(flags, 7u);

  auto found = mget({"alpha", "beta", "missing", "gamma"});
  EXPECT_EQ(found, (std::map<std::string, std::string>{
                       {"alpha", "one"}, {"beta", "two"}, {"gamma", "three"}}));

  EXPECT_EQ(memcached_delete(mc_, "beta", 4, 0), MEMCACHED_SUCCESS);
  EXPECT_EQ(get("beta"), "<miss>");
  EXPECT_EQ(memcached_delete(mc_, "beta", 4, 0), MEMCACHED_NOTFOUND);

  ASSERT_EQ(set("counter", "10"), MEMCACHED_SUCCESS);
  uint64_t value = 0;
  EXPECT_EQ(memcached_increment(mc_, "counter", 7, 5, &value), MEMCACHED_SUCCESS);
  EXPECT_EQ(value, 15u);
  EXPECT_EQ(memcached_decrement(mc_, "counter", 7, 3, &value), MEMCACHED_SUCCESS);
  EXPECT_EQ(value, 12u);
  // Binary-only: increment with an initial value creates the counter.
  EXPECT_EQ(memcached_increment_with_initial(mc_, "fresh", 5, 1, 100, 0, &value),
            MEMCACHED_SUCCESS);
  EXPECT_EQ(value, 100u);
  EXPECT_EQ(memcached_increment(mc_, "missing-counter", 15, 1, &value), MEMCACHED_NOTFOUND);
}

TEST_F(LibmemcachedBinaryTest, ServesFromTheBackupWhenBothPrimariesDie) {
  ASSERT_EQ(set("k1", "v1"), MEMCACHED_SUCCESS);
  ASSERT_EQ(set("k2", "v2"), MEMCACHED_SUCCESS);
  // Async mirroring: wait until the backup holds both.
  auto direct = TextClient::connect(backup_->port());
  ASSERT_TRUE(direct.ok());
  for (int i = 0; i < 100; ++i) {
    auto v = (*direct)->get("k2");
    if (v.ok() && v->has_value()) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  p1_->kill();
  p2_->kill();
  EXPECT_EQ(get("k1"), "v1");
  EXPECT_EQ(mget({"k1", "k2"}),
            (std::map<std::string, std::string>{{"k1", "v1"}, {"k2", "v2"}}));
  EXPECT_EQ(set("k3", "v3"), MEMCACHED_SUCCESS);
  EXPECT_EQ(get("k3"), "v3");
}

}  // namespace
}  // namespace mcmesh::testing
