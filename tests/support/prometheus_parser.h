// A strict parser of the Prometheus text exposition format 0.0.4, for tests of /metrics.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace mcmesh::testing {

enum class PromType { kCounter, kGauge, kHistogram, kSummary, kUntyped };

struct PromSample {
  std::string name;  // as written, e.g. "x_bucket" for a histogram family "x".
  std::map<std::string, std::string> labels;  // unescaped values.
  double value = 0;
  std::optional<int64_t> timestamp_ms;
};

struct PromFamily {
  std::string name;
  PromType type = PromType::kUntyped;
  std::optional<std::string> help;  // unescaped.
  bool typed = false;               // a TYPE line was present.
  std::vector<PromSample> samples;
};

struct PromExposition {
  std::vector<PromFamily> families;  // in exposition order.

  const PromFamily* family(absl::string_view name) const;
  /** The value of the sample named `name` with exactly `labels`, or nullopt. */
  std::optional<double> value(absl::string_view name,
                              const std::map<std::string, std::string>& labels = {}) const;
  /** The sum over every sample named `name` whose labels include `match`. */
  double sum(absl::string_view name, const std::map<std::string, std::string>& match = {}) const;
};

struct PromParseOptions {
  // Every family must have both `# HELP` and `# TYPE` (mcmesh promises this; the format does not).
  bool require_help_and_type = true;
};

/**
 * Parses `text` and checks everything the format defines, rejecting rather than guessing:
 * metric and label name syntax (no reserved `__` labels), label value escapes (only \\, \" and
 * \n) and UTF-8, duplicate labels or series, HELP docstring escapes, TYPE values, HELP/TYPE
 * at most once per family and before its samples, a family's samples kept together, float
 * values and integer timestamps, '\n' line ends (including the last line), non-negative
 * counters, and for histograms: `le` on every bucket, strictly increasing `le` ending with
 * +Inf, non-decreasing cumulative counts, `_count` equal to the +Inf bucket and one `_sum`.
 * Summaries need `quantile` in [0, 1] plus `_sum` and `_count`.
 * @return the families, or InvalidArgument naming the line and the problem.
 */
absl::StatusOr<PromExposition> parsePrometheusText(absl::string_view text,
                                                   PromParseOptions options = {});

}  // namespace mcmesh::testing
