// Unit tests for mcbench's histogram buckets and its memcached reply scanner.
#include <string>

#include "bench/loadgen/histogram.h"
#include "bench/loadgen/reply_scanner.h"
#include "gtest/gtest.h"

namespace mcmesh::bench {
namespace {

TEST(LatencyHistogramTest, BucketsAreContiguousAndTight) {
  for (uint64_t v : {0ull, 1ull, 127ull, 128ull, 129ull, 255ull, 256ull, 1000ull, 123456789ull,
                     (1ull << 40) + 12345}) {
    size_t b = LatencyHistogram::bucketOf(v);
    EXPECT_LE(LatencyHistogram::lowerBound(b), v) << v;
    EXPECT_GE(LatencyHistogram::upperBound(b), v) << v;
    // Relative width under 1/64.
    EXPECT_LE(LatencyHistogram::upperBound(b) - LatencyHistogram::lowerBound(b), v / 64 + 1) << v;
  }
  for (size_t b = 1; b < 2000; ++b) {
    EXPECT_EQ(LatencyHistogram::upperBound(b - 1) + 1, LatencyHistogram::lowerBound(b)) << b;
  }
}

TEST(LatencyHistogramTest, QuantilesOfAUniformRun) {
  LatencyHistogram h;
  for (uint64_t i = 1; i <= 100000; ++i) h.record(i * 1000);  // 1 us .. 100 ms
  EXPECT_NEAR(h.quantile(0.5) / 1e6, 50.0, 0.5);
  EXPECT_NEAR(h.quantile(0.99) / 1e6, 99.0, 1.0);
  EXPECT_EQ(h.max(), 100000ull * 1000);
  LatencyHistogram other;
  other.record(5);
  h.merge(other);
  EXPECT_EQ(h.count(), 100001u);
}

TEST(ReplyScannerTest, MultiGetInPieces) {
  std::string reply = "VALUE a 0 3\r\nabc\r\nVALUE bb 5 0\r\n\r\nEND\r\nSTORED\r\n";
  ReplyScanner s;
  // Feed one more byte at a time: it must finish exactly at END.
  size_t end = reply.find("STORED");
  for (size_t n = 1; n < end; ++n) {
    ASSERT_EQ(s.scan(reply.data(), n, ReplyKind::kRetrieval), ScanStatus::kNeedMore) << n;
  }
  ASSERT_EQ(s.scan(reply.data(), reply.size(), ReplyKind::kRetrieval), ScanStatus::kDone);
  EXPECT_EQ(s.consumed(), end);
  EXPECT_EQ(s.hits(), 2u);
  EXPECT_TRUE(s.ok());
  ASSERT_EQ(s.scan(reply.data() + end, reply.size() - end, ReplyKind::kStorage),
            ScanStatus::kDone);
  EXPECT_TRUE(s.ok());
}

TEST(ReplyScannerTest, ErrorsAndGarbage) {
  ReplyScanner s;
  std::string err = "SERVER_ERROR out of memory\r\n";
  ASSERT_EQ(s.scan(err.data(), err.size(), ReplyKind::kRetrieval), ScanStatus::kDone);
  EXPECT_FALSE(s.ok());
  std::string ns = "NOT_STORED\r\n";
  ASSERT_EQ(s.scan(ns.data(), ns.size(), ReplyKind::kStorage), ScanStatus::kDone);
  EXPECT_FALSE(s.ok());
  std::string junk = "HELLO\r\n";
  EXPECT_EQ(s.scan(junk.data(), junk.size(), ReplyKind::kRetrieval), ScanStatus::kBroken);
  ReplyScanner t;
  std::string bad_value = "VALUE a 0 3\r\nabcd\r\nEND\r\n";
  EXPECT_EQ(t.scan(bad_value.data(), bad_value.size(), ReplyKind::kRetrieval),
            ScanStatus::kBroken);
}

}  // namespace
}  // namespace mcmesh::bench
