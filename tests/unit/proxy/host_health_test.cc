// HostHealth: ejection after N consecutive failures, half-open retry, doubling backoff.
#include "proxy/upstream/host_health.h"

#include "gtest/gtest.h"

namespace mcmesh::upstream {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1000);

TEST(HostHealthTest, EjectsAfterConsecutiveFailuresOnly) {
  HostHealth h;
  EXPECT_FALSE(h.recordFailure(kT0));
  EXPECT_TRUE(h.recordSuccess() == false);  // success resets the streak
  EXPECT_FALSE(h.recordFailure(kT0));
  EXPECT_TRUE(h.recordFailure(kT0));
  EXPECT_TRUE(h.ejected());
  EXPECT_FALSE(h.available(kT0 + absl::Milliseconds(999)));
  EXPECT_TRUE(h.available(kT0 + absl::Seconds(1)));
}

TEST(HostHealthTest, HalfOpenFailureDoublesBackoffAndSuccessRecovers) {
  HostHealth h({2, absl::Seconds(1), absl::Seconds(3)});
  h.recordFailure(kT0);
  h.recordFailure(kT0);
  // A late failure of a request sent before the ejection does not extend it.
  EXPECT_FALSE(h.recordFailure(kT0 + absl::Milliseconds(10)));
  absl::Time retry = kT0 + absl::Seconds(1);
  EXPECT_TRUE(h.recordFailure(retry));  // half-open probe failed
  EXPECT_FALSE(h.available(retry + absl::Milliseconds(1999)));
  EXPECT_TRUE(h.available(retry + absl::Seconds(2)));
  EXPECT_TRUE(h.recordFailure(retry + absl::Seconds(2)));
  EXPECT_EQ(h.retryAt(), retry + absl::Seconds(5));  // capped at 3 s
  EXPECT_TRUE(h.recordSuccess());
  EXPECT_FALSE(h.ejected());
  EXPECT_TRUE(h.available(retry + absl::Seconds(2)));
}

TEST(HostHealthTest, ProbeVerdictEjectsAtOnceAndSuccessRecovers) {
  HostHealth h;
  EXPECT_TRUE(h.forceEject(kT0));  // one failed probe is enough: it waited a full timeout
  EXPECT_FALSE(h.available(kT0 + absl::Milliseconds(500)));
  EXPECT_FALSE(h.forceEject(kT0 + absl::Milliseconds(500)));  // already out: no new event
  EXPECT_TRUE(h.recordSuccess());                              // probe up: back at once
  EXPECT_TRUE(h.available(kT0 + absl::Milliseconds(500)));
}

}  // namespace
}  // namespace mcmesh::upstream

namespace mcmesh::upstream {
namespace {

TEST(HostHealthClassTest, WriteSuccessesDoNotResetReadFailures) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  HostHealth h;  // eject after 2.
  EXPECT_FALSE(h.recordFailure(t0, RequestClass::kRead));
  EXPECT_FALSE(h.recordSuccess(RequestClass::kWrite));  // a set succeeded in between
  EXPECT_TRUE(h.recordFailure(t0, RequestClass::kRead));  // second failed get ejects
  EXPECT_TRUE(h.ejected());
  // Half-open: a write succeeding does not readmit it, a read does.
  EXPECT_FALSE(h.recordSuccess(RequestClass::kWrite));
  EXPECT_TRUE(h.ejected());
  EXPECT_TRUE(h.recordSuccess(RequestClass::kRead));
  EXPECT_FALSE(h.ejected());
}

TEST(HostHealthClassTest, RecoverReadmitsWhateverEjected) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  HostHealth h;
  h.recordFailure(t0, RequestClass::kRead);
  h.recordFailure(t0, RequestClass::kRead);
  ASSERT_TRUE(h.ejected());
  EXPECT_TRUE(h.recover());
  EXPECT_FALSE(h.ejected());
  EXPECT_EQ(h.consecutiveFailures(), 0u);
}

}  // namespace
}  // namespace mcmesh::upstream
