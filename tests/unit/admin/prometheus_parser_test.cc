// Tests of the strict Prometheus text parser: what it accepts, and each malformation it rejects.
#include "tests/support/prometheus_parser.h"

#include <cmath>

#include "gtest/gtest.h"

namespace mcmesh::testing {
namespace {

constexpr char kValid[] = R"(# A free comment.
# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# HELP msdos_file_access_time_seconds Escapes: back\\slash and\nnew line.
# TYPE msdos_file_access_time_seconds gauge
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9
# HELP metric_without_labels A gauge.
# TYPE metric_without_labels gauge
metric_without_labels 12.47
# HELP something_weird Special values.
# TYPE something_weird gauge
something_weird{problem="division by zero"} +Inf -3982045
something_weird{problem="nan"} NaN
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="0.2"} 100392
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
)";

TEST(PrometheusParserTest, AcceptsTheFormatsOwnExample) {
  auto parsed = parsePrometheusText(kValid);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->families.size(), 6u);
  EXPECT_EQ(parsed->value("http_requests_total", {{"method", "post"}, {"code", "400"}}), 3);
  EXPECT_EQ(parsed->sum("http_requests_total"), 1030);
  EXPECT_EQ(parsed->families[0].samples[0].timestamp_ms, 1395066363000);
  const PromFamily* msdos = parsed->family("msdos_file_access_time_seconds");
  ASSERT_NE(msdos, nullptr);
  EXPECT_EQ(*msdos->help, "Escapes: back\\slash and\nnew line.");
  EXPECT_EQ(msdos->samples[0].labels.at("path"), "C:\\DIR\\FILE.TXT");
  EXPECT_EQ(msdos->samples[0].labels.at("error"), "Cannot find file:\n\"FILE.TXT\"");
  EXPECT_TRUE(std::isinf(*parsed->value("something_weird", {{"problem", "division by zero"}})));
  EXPECT_TRUE(std::isnan(*parsed->value("something_weird", {{"problem", "nan"}})));
  EXPECT_EQ(parsed->family("http_request_duration_seconds")->type, PromType::kHistogram);
  EXPECT_EQ(parsed->value("http_request_duration_seconds_count"), 144320);
}

TEST(PrometheusParserTest, AcceptsEmptyInputFamiliesWithoutSamplesAndTrailingComma) {
  EXPECT_TRUE(parsePrometheusText("").ok());
  EXPECT_TRUE(parsePrometheusText("# HELP a A.\n# TYPE a counter\n").ok());
  auto parsed = parsePrometheusText("# HELP a A.\n# TYPE a gauge\na{x=\"1\",} 2\n");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->value("a", {{"x", "1"}}), 2);
}

TEST(PrometheusParserTest, UntypedSamplesNeedTheLenientOption) {
  EXPECT_FALSE(parsePrometheusText("a 1\n").ok());
  PromParseOptions lenient;
  lenient.require_help_and_type = false;
  auto parsed = parsePrometheusText("a 1\nb{c=\"d\"} 2\n", lenient);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->families.size(), 2u);
  EXPECT_EQ(parsed->family("a")->type, PromType::kUntyped);
}

struct BadCase {
  const char* what;
  const char* text;
};

class PrometheusParserRejectTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(PrometheusParserRejectTest, Rejects) {
  auto parsed = parsePrometheusText(GetParam().text);
  EXPECT_FALSE(parsed.ok()) << GetParam().what << " was accepted:\n" << GetParam().text;
  if (!parsed.ok()) {
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

#define FAMILY(name, type) "# HELP " name " h.\n# TYPE " name " " type "\n"

INSTANTIATE_TEST_SUITE_P(
    Malformed, PrometheusParserRejectTest,
    ::testing::Values(
        BadCase{"no final newline", FAMILY("a", "gauge") "a 1"},
        BadCase{"metric name starting with a digit", FAMILY("a", "gauge") "1a 1\n"},
        BadCase{"metric name with a dash", FAMILY("a", "gauge") "a-b 1\n"},
        BadCase{"HELP with a bad name", "# HELP 1a h.\n"},
        BadCase{"TYPE with an unknown type", "# HELP a h.\n# TYPE a counters\na 1\n"},
        BadCase{"TYPE with extra text", "# HELP a h.\n# TYPE a counter extra\na 1\n"},
        BadCase{"HELP with a bad escape", "# HELP a bad \\t escape.\n# TYPE a gauge\na 1\n"},
        BadCase{"second HELP", FAMILY("a", "gauge") "# HELP a again.\na 1\n"},
        BadCase{"second TYPE", FAMILY("a", "gauge") "# TYPE a gauge\na 1\n"},
        BadCase{"TYPE after samples", "# HELP a h.\na 1\n# TYPE a gauge\n"},
        BadCase{"missing HELP", "# TYPE a gauge\na 1\n"},
        BadCase{"missing TYPE", "# HELP a h.\na 1\n"},
        BadCase{"family split in two",
                FAMILY("a", "gauge") "a{x=\"1\"} 1\n" FAMILY("b", "gauge") "b 1\na{x=\"2\"} 1\n"},
        BadCase{"family declared twice", FAMILY("a", "gauge") "a 1\n" FAMILY("a", "gauge")},
        BadCase{"label name with a dash", FAMILY("a", "gauge") "a{x-y=\"1\"} 1\n"},
        BadCase{"reserved label name", FAMILY("a", "gauge") "a{__name__=\"1\"} 1\n"},
        BadCase{"unquoted label value", FAMILY("a", "gauge") "a{x=1} 1\n"},
        BadCase{"single-quoted label value", FAMILY("a", "gauge") "a{x='1'} 1\n"},
        BadCase{"bad escape in label value", FAMILY("a", "gauge") "a{x=\"\\t\"} 1\n"},
        BadCase{"unterminated label value", FAMILY("a", "gauge") "a{x=\"1} 1\n"},
        BadCase{"unterminated label set", FAMILY("a", "gauge") "a{x=\"1\" 1\n"},
        BadCase{"labels without a comma", FAMILY("a", "gauge") "a{x=\"1\" y=\"2\"} 1\n"},
        BadCase{"duplicate label", FAMILY("a", "gauge") "a{x=\"1\",x=\"2\"} 1\n"},
        BadCase{"invalid UTF-8 in a label", FAMILY("a", "gauge") "a{x=\"\xff\"} 1\n"},
        BadCase{"duplicate series", FAMILY("a", "gauge") "a{x=\"1\"} 1\na{x=\"1\"} 2\n"},
        BadCase{"missing value", FAMILY("a", "gauge") "a\n"},
        BadCase{"value not a float", FAMILY("a", "gauge") "a one\n"},
        BadCase{"value with a comma", FAMILY("a", "gauge") "a 1,5\n"},
        BadCase{"value 'infinity'", FAMILY("a", "gauge") "a infinity\n"},
        BadCase{"hex value", FAMILY("a", "gauge") "a 0x10\n"},
        BadCase{"carriage return", FAMILY("a", "gauge") "a 1\r\n"},
        BadCase{"float timestamp", FAMILY("a", "gauge") "a 1 1.5\n"},
        BadCase{"text after the timestamp", FAMILY("a", "gauge") "a 1 2 3\n"},
        BadCase{"no blank before the value", FAMILY("a", "gauge") "a{x=\"1\"}1\n"},
        BadCase{"negative counter", FAMILY("a", "counter") "a -1\n"},
        BadCase{"counter sample with a suffix", FAMILY("a", "counter") "a_total 1\n"},
        BadCase{"histogram bucket without le", FAMILY("h", "histogram") "h_bucket 1\n"
                                                                        "h_sum 1\nh_count 1\n"},
        BadCase{"histogram without +Inf", FAMILY("h", "histogram") "h_bucket{le=\"1\"} 1\n"
                                                                   "h_sum 1\nh_count 1\n"},
        BadCase{"histogram le not increasing",
                FAMILY("h", "histogram") "h_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n"
                                         "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"},
        BadCase{"histogram counts decreasing",
                FAMILY("h", "histogram") "h_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
                                         "h_sum 1\nh_count 1\n"},
        BadCase{"histogram _count differs from +Inf",
                FAMILY("h", "histogram") "h_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n"},
        BadCase{"histogram without _sum", FAMILY("h", "histogram") "h_bucket{le=\"+Inf\"} 2\n"
                                                                   "h_count 2\n"},
        BadCase{"histogram without _count", FAMILY("h", "histogram") "h_bucket{le=\"+Inf\"} 2\n"
                                                                     "h_sum 2\n"},
        BadCase{"histogram with a bad le", FAMILY("h", "histogram") "h_bucket{le=\"x\"} 1\n"
                                                                    "h_sum 1\nh_count 1\n"},
        BadCase{"histogram _sum with le",
                FAMILY("h", "histogram") "h_bucket{le=\"+Inf\"} 1\n"
                                         "h_sum{le=\"1\"} 1\nh_count 1\n"},
        BadCase{"histogram sample with the bare name", FAMILY("h", "histogram") "h 1\n"},
        BadCase{"histogram name clash",
                FAMILY("h", "histogram") "h_bucket{le=\"+Inf\"} 1\n"
                                         "h_sum 1\nh_count 1\n" FAMILY("h_sum", "gauge")},
        BadCase{"summary quantile out of range",
                FAMILY("s", "summary") "s{quantile=\"1.5\"} 1\ns_sum 1\ns_count 1\n"},
        BadCase{"summary without _count", FAMILY("s", "summary") "s{quantile=\"0.5\"} 1\n"
                                                                 "s_sum 1\n"}));

}  // namespace
}  // namespace mcmesh::testing
