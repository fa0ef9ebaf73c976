// Tests of the Prometheus writer, float formatting and JSON escaping used by the admin endpoint.
#include "proxy/admin/exposition.h"

#include <cmath>

#include "gtest/gtest.h"
#include "tests/support/prometheus_parser.h"

namespace mcmesh::admin {
namespace {

using Type = PrometheusWriter::Type;

TEST(ExpositionTest, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(escapeLabelValue("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  EXPECT_EQ(escapeHelp("a\\b\"c\nd"), "a\\\\b\"c\\nd");
}

TEST(ExpositionTest, FormatsDoubles) {
  EXPECT_EQ(formatDouble(0), "0");
  EXPECT_EQ(formatDouble(42), "42");
  EXPECT_EQ(formatDouble(0.0001), "0.0001");
  EXPECT_EQ(formatDouble(0.00025), "0.00025");
  EXPECT_EQ(formatDouble(2.5), "2.5");
  EXPECT_EQ(formatDouble(1700000000.123), "1700000000.123");
  EXPECT_EQ(formatDouble(HUGE_VAL), "+Inf");
  EXPECT_EQ(formatDouble(-HUGE_VAL), "-Inf");
  EXPECT_EQ(formatDouble(std::nan("")), "NaN");
}

TEST(ExpositionTest, JsonStringEscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(jsonString("plain"), "\"plain\"");
  EXPECT_EQ(jsonString("a\"b\\c\nd\x01"), "\"a\\\"b\\\\c\\nd\\u0001\"");
}

TEST(ExpositionTest, WriterOutputParsesStrictlyWithHostileLabelValues) {
  PrometheusWriter w;
  w.family("x_total", Type::kCounter, "A counter\nwith a \\ in its help.");
  w.value({{"server", "we\"ird\\host\n:1"}}, uint64_t{7});
  w.value({{"server", "plain:2"}}, uint64_t{0});
  w.family("x_seconds", Type::kHistogram, "A histogram.");
  std::vector<double> bounds = {0.001, 0.01};
  std::vector<uint64_t> counts = {1, 2, 3};
  w.histogram({{"pool", "primary"}}, bounds, counts, 12.5);
  w.family("x_gauge", Type::kGauge, "A gauge with no samples.");

  auto parsed = testing::parsePrometheusText(w.text());
  ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << w.text();
  EXPECT_EQ(parsed->value("x_total", {{"server", "we\"ird\\host\n:1"}}), 7);
  EXPECT_EQ(*parsed->family("x_total")->help, "A counter\nwith a \\ in its help.");
  EXPECT_EQ(parsed->value("x_seconds_bucket", {{"pool", "primary"}, {"le", "0.001"}}), 1);
  EXPECT_EQ(parsed->value("x_seconds_bucket", {{"pool", "primary"}, {"le", "0.01"}}), 3);
  EXPECT_EQ(parsed->value("x_seconds_bucket", {{"pool", "primary"}, {"le", "+Inf"}}), 6);
  EXPECT_EQ(parsed->value("x_seconds_count", {{"pool", "primary"}}), 6);
  EXPECT_EQ(parsed->value("x_seconds_sum", {{"pool", "primary"}}), 12.5);
  EXPECT_NE(parsed->family("x_gauge"), nullptr);
}

}  // namespace
}  // namespace mcmesh::admin
