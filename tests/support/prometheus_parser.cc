// Strict Prometheus text-format parser: line tokenizer, family grouping and per-type checks.
#include "tests/support/prometheus_parser.h"

#include <cmath>
#include <cstdlib>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace mcmesh::testing {
namespace {

bool isBlank(char c) { return c == ' ' || c == '\t'; }
bool isLabelStart(char c) { return absl::ascii_isalpha(c) || c == '_'; }
bool isLabelChar(char c) { return isLabelStart(c) || absl::ascii_isdigit(c); }
bool isMetricStart(char c) { return isLabelStart(c) || c == ':'; }
bool isMetricChar(char c) { return isMetricStart(c) || absl::ascii_isdigit(c); }

// Well-formed UTF-8 sequences (lead byte and continuation bytes; 3- and 4-byte overlongs and
// surrogates are not checked).
bool validUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    size_t extra = 0;
    if (c < 0x80) {
      extra = 0;
    } else if ((c & 0xe0) == 0xc0 && c >= 0xc2) {
      extra = 1;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
    } else if ((c & 0xf8) == 0xf0 && c <= 0xf4) {
      extra = 3;
    } else {
      return false;
    }
    if (s.size() - i - 1 < extra) return false;
    for (size_t k = 1; k <= extra; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += extra + 1;
  }
  return true;
}

// Decimal floats as Go's strconv.ParseFloat reads them, plus NaN and (+|-)Inf; nothing else
// (no hex, no spaces, no "infinity").
bool parseFloat(absl::string_view s, double* out) {
  if (s == "NaN") {
    *out = std::nan("");
    return true;
  }
  if (s == "+Inf" || s == "Inf") {
    *out = HUGE_VAL;
    return true;
  }
  if (s == "-Inf") {
    *out = -HUGE_VAL;
    return true;
  }
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t digits = 0;
  while (i < s.size() && absl::ascii_isdigit(s[i])) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && absl::ascii_isdigit(s[i])) ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    size_t exp_digits = 0;
    while (i < s.size() && absl::ascii_isdigit(s[i])) ++i, ++exp_digits;
    if (exp_digits == 0) return false;
  }
  if (i != s.size()) return false;
  std::string copy(s);
  *out = std::strtod(copy.c_str(), nullptr);
  return true;
}

bool parseTimestamp(absl::string_view s, int64_t* out) {
  size_t i = s.size() > 0 && s[0] == '-' ? 1 : 0;
  if (i == s.size()) return false;
  for (size_t k = i; k < s.size(); ++k) {
    if (!absl::ascii_isdigit(s[k])) return false;
  }
  return absl::SimpleAtoi(s, out);
}

using LabelMap = std::map<std::string, std::string>;

class Parser {
 public:
  Parser(absl::string_view text, PromParseOptions options) : text_(text), options_(options) {}

  absl::StatusOr<PromExposition> run() {
    if (!text_.empty() && text_.back() != '\n') {
      return absl::InvalidArgumentError("the last line does not end with '\\n'");
    }
    std::vector<absl::string_view> lines = absl::StrSplit(text_, '\n');
    if (!lines.empty()) lines.pop_back();  // after the final '\n'.
    for (absl::string_view line : lines) {
      ++line_no_;
      line_ = line;
      pos_ = 0;
      skipBlanks();
      if (atEnd()) continue;  // blank line.
      absl::Status st = line_[pos_] == '#' ? parseComment() : parseSample();
      if (!st.ok()) return st;
    }
    if (!out_.families.empty()) {
      absl::Status st = finishFamily(out_.families.back());
      if (!st.ok()) return st;
    }
    return std::move(out_);
  }

 private:
  absl::Status error(absl::string_view message) const {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", line_no_, ": ", message, ": '", line_, "'"));
  }
  bool atEnd() const { return pos_ >= line_.size(); }
  void skipBlanks() {
    while (!atEnd() && isBlank(line_[pos_])) ++pos_;
  }
  absl::string_view token() {
    size_t start = pos_;
    while (!atEnd() && !isBlank(line_[pos_])) ++pos_;
    return line_.substr(start, pos_ - start);
  }
  absl::string_view metricName() {
    size_t start = pos_;
    if (atEnd() || !isMetricStart(line_[pos_])) return {};
    while (!atEnd() && isMetricChar(line_[pos_])) ++pos_;
    return line_.substr(start, pos_ - start);
  }

  PromFamily* current() { return out_.families.empty() ? nullptr : &out_.families.back(); }

  absl::Status claim(const std::string& name) {
    if (!claimed_.insert(name).second) {
      return error(absl::StrCat("metric name '", name,
                                "' appears in two places (a family's lines must be together)"));
    }
    return absl::OkStatus();
  }

  absl::Status startFamily(absl::string_view name) {
    if (!out_.families.empty()) {
      absl::Status st = finishFamily(out_.families.back());
      if (!st.ok()) return st;
    }
    absl::Status st = claim(std::string(name));
    if (!st.ok()) return st;
    out_.families.emplace_back();
    out_.families.back().name = std::string(name);
    return absl::OkStatus();
  }

  // The family `name` for a HELP or TYPE line: the current one if it has no samples yet.
  absl::StatusOr<PromFamily*> familyForDirective(absl::string_view name, absl::string_view what) {
    PromFamily* f = current();
    if (f != nullptr && f->name == name) {
      if (!f->samples.empty()) return error(absl::StrCat(what, " after the family's samples"));
      return f;
    }
    absl::Status st = startFamily(name);
    if (!st.ok()) return st;
    return current();
  }

  absl::Status parseComment() {
    ++pos_;  // '#'
    skipBlanks();
    absl::string_view keyword = token();
    if (keyword != "HELP" && keyword != "TYPE") return absl::OkStatus();  // a plain comment.
    skipBlanks();
    absl::string_view name = metricName();
    if (name.empty()) return error(absl::StrCat("# ", keyword, " without a valid metric name"));
    if (!atEnd() && !isBlank(line_[pos_])) return error("invalid character in metric name");
    skipBlanks();
    if (keyword == "HELP") {
      std::string help;
      for (; !atEnd(); ++pos_) {
        char c = line_[pos_];
        if (c != '\\') {
          help += c;
          continue;
        }
        if (++pos_ >= line_.size()) return error("HELP ends with a lone backslash");
        if (line_[pos_] == '\\') {
          help += '\\';
        } else if (line_[pos_] == 'n') {
          help += '\n';
        } else {
          return error(absl::StrCat("invalid escape '\\", line_.substr(pos_, 1), "' in HELP"));
        }
      }
      if (!validUtf8(help)) return error("HELP is not valid UTF-8");
      auto f = familyForDirective(name, "HELP");
      if (!f.ok()) return f.status();
      if ((*f)->help.has_value()) return error("second HELP for the family");
      (*f)->help = std::move(help);
      return absl::OkStatus();
    }
    absl::string_view type = token();
    skipBlanks();
    if (!atEnd()) return error("text after the TYPE");
    PromType parsed;
    if (type == "counter") {
      parsed = PromType::kCounter;
    } else if (type == "gauge") {
      parsed = PromType::kGauge;
    } else if (type == "histogram") {
      parsed = PromType::kHistogram;
    } else if (type == "summary") {
      parsed = PromType::kSummary;
    } else if (type == "untyped") {
      parsed = PromType::kUntyped;
    } else {
      return error(absl::StrCat("unknown TYPE '", type, "'"));
    }
    auto f = familyForDirective(name, "TYPE");
    if (!f.ok()) return f.status();
    if ((*f)->typed) return error("second TYPE for the family");
    (*f)->typed = true;
    (*f)->type = parsed;
    if (parsed == PromType::kHistogram || parsed == PromType::kSummary) {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        if (parsed == PromType::kSummary && std::string(suffix) == "_bucket") continue;
        absl::Status st = claim(absl::StrCat(name, suffix));
        if (!st.ok()) return st;
      }
    }
    return absl::OkStatus();
  }

  static bool belongs(const PromFamily& f, absl::string_view sample) {
    switch (f.type) {
      case PromType::kHistogram:
        return sample == f.name + "_bucket" || sample == f.name + "_sum" ||
               sample == f.name + "_count";
      case PromType::kSummary:
        return sample == f.name || sample == f.name + "_sum" || sample == f.name + "_count";
      default: return sample == f.name;
    }
  }

  absl::Status parseLabels(LabelMap* labels) {
    ++pos_;  // '{'
    skipBlanks();
    while (true) {
      if (atEnd()) return error("unterminated label set");
      if (line_[pos_] == '}') {
        ++pos_;
        return absl::OkStatus();
      }
      size_t start = pos_;
      if (!isLabelStart(line_[pos_])) return error("invalid label name");
      while (!atEnd() && isLabelChar(line_[pos_])) ++pos_;
      std::string name(line_.substr(start, pos_ - start));
      if (name.rfind("__", 0) == 0) return error(absl::StrCat("reserved label name '", name, "'"));
      skipBlanks();
      if (atEnd() || line_[pos_] != '=') return error(absl::StrCat("expected '=' after ", name));
      ++pos_;
      skipBlanks();
      if (atEnd() || line_[pos_] != '"') return error("label value is not quoted");
      ++pos_;
      std::string value;
      bool closed = false;
      while (!atEnd()) {
        char c = line_[pos_++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c != '\\') {
          value += c;
          continue;
        }
        if (atEnd()) break;
        char e = line_[pos_++];
        if (e == '\\' || e == '"') {
          value += e;
        } else if (e == 'n') {
          value += '\n';
        } else {
          return error(absl::StrCat("invalid escape '\\", std::string(1, e), "' in label value"));
        }
      }
      if (!closed) return error("unterminated label value");
      if (!validUtf8(value)) return error("label value is not valid UTF-8");
      if (!labels->emplace(name, std::move(value)).second) {
        return error(absl::StrCat("duplicate label '", name, "'"));
      }
      skipBlanks();
      if (atEnd()) return error("unterminated label set");
      if (line_[pos_] == ',') {
        ++pos_;
        skipBlanks();  // a trailing comma before '}' is allowed by the format.
      } else if (line_[pos_] != '}') {
        return error("expected ',' or '}' after a label");
      }
    }
  }

  absl::Status parseSample() {
    PromSample sample;
    sample.name = std::string(metricName());
    if (sample.name.empty()) return error("invalid metric name");
    if (!atEnd() && line_[pos_] == '{') {
      absl::Status st = parseLabels(&sample.labels);
      if (!st.ok()) return st;
    }
    if (atEnd() || !isBlank(line_[pos_])) return error("expected a blank before the value");
    skipBlanks();
    absl::string_view value = token();
    if (!parseFloat(value, &sample.value)) {
      return error(absl::StrCat("invalid value '", value, "'"));
    }
    skipBlanks();
    if (!atEnd()) {
      absl::string_view ts = token();
      int64_t t = 0;
      if (!parseTimestamp(ts, &t)) return error(absl::StrCat("invalid timestamp '", ts, "'"));
      sample.timestamp_ms = t;
      skipBlanks();
      if (!atEnd()) return error("text after the timestamp");
    }

    PromFamily* f = current();
    if (f == nullptr || !belongs(*f, sample.name)) {
      if (claimed_.count(sample.name) != 0) {
        return error(absl::StrCat("sample '", sample.name,
                                  "' is apart from the rest of its family (or has the wrong "
                                  "name for its TYPE)"));
      }
      if (options_.require_help_and_type) {
        return error(absl::StrCat("sample '", sample.name, "' has no # HELP and # TYPE before it"));
      }
      absl::Status st = startFamily(sample.name);
      if (!st.ok()) return st;
      f = current();
    }
    std::string key = sample.name;
    for (const auto& [k, v] : sample.labels) absl::StrAppend(&key, "\x01", k, "\x02", v);
    if (!series_.insert(key).second) return error("duplicate series");
    f->samples.push_back(std::move(sample));
    return absl::OkStatus();
  }

  absl::Status familyError(const PromFamily& f, absl::string_view message) const {
    return absl::InvalidArgumentError(absl::StrCat("family '", f.name, "': ", message));
  }

  absl::Status finishFamily(const PromFamily& f) {
    if (options_.require_help_and_type && (!f.help.has_value() || !f.typed)) {
      return familyError(f, "needs both # HELP and # TYPE");
    }
    if (f.type == PromType::kCounter) {
      for (const auto& s : f.samples) {
        if (std::isnan(s.value) || s.value < 0) return familyError(f, "counter value below 0");
      }
    }
    if (f.type == PromType::kHistogram) return checkHistogram(f);
    if (f.type == PromType::kSummary) return checkSummary(f);
    return absl::OkStatus();
  }

  struct Group {
    std::vector<std::pair<double, double>> buckets;  // (le, cumulative count).
    std::optional<double> sum;
    std::optional<double> count;
  };

  absl::Status checkHistogram(const PromFamily& f) {
    std::map<LabelMap, Group> groups;
    for (const auto& s : f.samples) {
      LabelMap rest = s.labels;
      auto le = rest.find("le");
      bool has_le = le != rest.end();
      std::string le_text = has_le ? le->second : "";
      if (has_le) rest.erase(le);
      Group& g = groups[rest];
      if (s.name == f.name + "_bucket") {
        double bound = 0;
        if (!has_le) return familyError(f, "a _bucket sample has no le label");
        if (!parseFloat(le_text, &bound) || std::isnan(bound)) {
          return familyError(f, absl::StrCat("invalid le '", le_text, "'"));
        }
        if (std::isnan(s.value) || s.value < 0) return familyError(f, "bucket count below 0");
        if (!g.buckets.empty()) {
          if (bound <= g.buckets.back().first) return familyError(f, "le not increasing");
          if (s.value < g.buckets.back().second) {
            return familyError(f, "cumulative bucket counts decrease");
          }
        }
        g.buckets.emplace_back(bound, s.value);
      } else {
        if (has_le) return familyError(f, absl::StrCat(s.name, " must not have an le label"));
        (s.name == f.name + "_sum" ? g.sum : g.count) = s.value;
      }
    }
    for (const auto& [labels, g] : groups) {
      if (g.buckets.empty()) return familyError(f, "a series has no buckets");
      if (!std::isinf(g.buckets.back().first) || g.buckets.back().first < 0) {
        return familyError(f, "the last bucket is not le=\"+Inf\"");
      }
      if (!g.count.has_value()) return familyError(f, "a series has no _count");
      if (!g.sum.has_value()) return familyError(f, "a series has no _sum");
      if (*g.count != g.buckets.back().second) {
        return familyError(f, "_count differs from the +Inf bucket");
      }
    }
    return absl::OkStatus();
  }

  absl::Status checkSummary(const PromFamily& f) {
    std::map<LabelMap, Group> groups;
    for (const auto& s : f.samples) {
      LabelMap rest = s.labels;
      auto q = rest.find("quantile");
      bool has_q = q != rest.end();
      std::string q_text = has_q ? q->second : "";
      if (has_q) rest.erase(q);
      Group& g = groups[rest];
      if (s.name == f.name) {
        double quantile = 0;
        if (!has_q || !parseFloat(q_text, &quantile) || !(quantile >= 0 && quantile <= 1)) {
          return familyError(f, "a quantile sample needs quantile in [0, 1]");
        }
      } else {
        if (has_q) return familyError(f, absl::StrCat(s.name, " must not have a quantile label"));
        (s.name == f.name + "_sum" ? g.sum : g.count) = s.value;
      }
    }
    for (const auto& [labels, g] : groups) {
      if (!g.count.has_value() || !g.sum.has_value()) {
        return familyError(f, "a series lacks _sum or _count");
      }
    }
    return absl::OkStatus();
  }

  absl::string_view text_;
  PromParseOptions options_;
  PromExposition out_;
  std::set<std::string> claimed_;  // family names and their _bucket/_sum/_count names.
  std::set<std::string> series_;
  absl::string_view line_;
  size_t pos_ = 0;
  int line_no_ = 0;
};

}  // namespace

const PromFamily* PromExposition::family(absl::string_view name) const {
  for (const auto& f : families) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::optional<double> PromExposition::value(
    absl::string_view name, const std::map<std::string, std::string>& labels) const {
  for (const auto& f : families) {
    for (const auto& s : f.samples) {
      if (s.name == name && s.labels == labels) return s.value;
    }
  }
  return std::nullopt;
}

double PromExposition::sum(absl::string_view name,
                           const std::map<std::string, std::string>& match) const {
  double total = 0;
  for (const auto& f : families) {
    for (const auto& s : f.samples) {
      if (s.name != name) continue;
      bool ok = true;
      for (const auto& [k, v] : match) {
        auto it = s.labels.find(k);
        ok &= it != s.labels.end() && it->second == v;
      }
      if (ok) total += s.value;
    }
  }
  return total;
}

absl::StatusOr<PromExposition> parsePrometheusText(absl::string_view text,
                                                   PromParseOptions options) {
  return Parser(text, options).run();
}

}  // namespace mcmesh::testing
