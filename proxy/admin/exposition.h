// Exposition helpers for the admin endpoints: Prometheus text format 0.0.4 and JSON strings.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace mcmesh::admin {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Writes one exposition: every family gets `# HELP` and `# TYPE` before its samples, and a
// family's samples stay together (the format requires both). Names are the caller's constants;
// label values are escaped here, so any host name or address is safe to pass.
class PrometheusWriter {
 public:
  enum class Type { kCounter, kGauge, kHistogram };

  /** Starts family `name`; the following value()/histogram() calls belong to it. */
  void family(absl::string_view name, Type type, absl::string_view help);
  /** One sample of the current counter or gauge family. */
  void value(const Labels& labels, uint64_t value);
  void value(const Labels& labels, double value);
  /**
   * One series of the current histogram family: `<name>_bucket` per bound (cumulative) plus
   * `le="+Inf"`, then `_sum` and `_count`.
   * @param upper_bounds ascending `le` values, in the exported unit.
   * @param counts per-bucket (not cumulative) counts; one more than upper_bounds (overflow).
   */
  void histogram(const Labels& labels, absl::Span<const double> upper_bounds,
                 absl::Span<const uint64_t> counts, double sum);
  const std::string& text() const { return out_; }

 private:
  void sample(absl::string_view suffix, const Labels& labels, absl::string_view extra_label,
              absl::string_view extra_value, absl::string_view value);

  std::string out_;
  std::string name_;
};

/** A label value with `\`, `"` and newline escaped as the text format requires. */
std::string escapeLabelValue(absl::string_view value);
/** A HELP docstring with `\` and newline escaped. */
std::string escapeHelp(absl::string_view help);
/** A float as Prometheus (and JSON) read it: integers plainly, others with 15 significant digits.
 */
std::string formatDouble(double value);
/** `value` as a quoted JSON string (quotes, backslashes and control characters escaped). */
std::string jsonString(absl::string_view value);

}  // namespace mcmesh::admin
