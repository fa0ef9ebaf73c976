// Prometheus text-format writer and JSON string escaping.
#include "proxy/admin/exposition.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace mcmesh::admin {
namespace {

const char* typeName(PrometheusWriter::Type type) {
  switch (type) {
    case PrometheusWriter::Type::kCounter: return "counter";
    case PrometheusWriter::Type::kGauge: return "gauge";
    case PrometheusWriter::Type::kHistogram: return "histogram";
  }
  return "untyped";
}

}  // namespace

std::string escapeLabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string escapeHelp(absl::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string formatDouble(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Integral values below 2^53 print exactly and without an exponent.
  if (value == std::floor(value) && std::fabs(value) < 9007199254740992.0) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  // 15 significant digits round-trip any decimal with 15 digits (0.00025, 1.5e-06, ...).
  return absl::StrFormat("%.15g", value);
}

std::string jsonString(absl::string_view value) {
  std::string out = "\"";
  for (unsigned char c : value) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

void PrometheusWriter::family(absl::string_view name, Type type, absl::string_view help) {
  name_ = std::string(name);
  absl::StrAppend(&out_, "# HELP ", name, " ", escapeHelp(help), "\n# TYPE ", name, " ",
                  typeName(type), "\n");
}

void PrometheusWriter::value(const Labels& labels, uint64_t value) {
  sample("", labels, "", "", absl::StrCat(value));
}

void PrometheusWriter::value(const Labels& labels, double value) {
  sample("", labels, "", "", formatDouble(value));
}

void PrometheusWriter::histogram(const Labels& labels, absl::Span<const double> upper_bounds,
                                 absl::Span<const uint64_t> counts, double sum) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    std::string le = i < upper_bounds.size() ? formatDouble(upper_bounds[i]) : "+Inf";
    sample("_bucket", labels, "le", le, absl::StrCat(cumulative));
  }
  sample("_sum", labels, "", "", formatDouble(sum));
  sample("_count", labels, "", "", absl::StrCat(cumulative));
}

void PrometheusWriter::sample(absl::string_view suffix, const Labels& labels,
                              absl::string_view extra_label, absl::string_view extra_value,
                              absl::string_view value) {
  absl::StrAppend(&out_, name_, suffix);
  if (!labels.empty() || !extra_label.empty()) {
    out_ += '{';
    bool first = true;
    for (const auto& [name, label_value] : labels) {
      absl::StrAppend(&out_, first ? "" : ",", name, "=\"", escapeLabelValue(label_value), "\"");
      first = false;
    }
    if (!extra_label.empty()) {
      absl::StrAppend(&out_, first ? "" : ",", extra_label, "=\"", extra_value, "\"");
    }
    out_ += '}';
  }
  absl::StrAppend(&out_, " ", value, "\n");
}

}  // namespace mcmesh::admin
