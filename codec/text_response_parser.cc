// TextResponseParser: one memcached text (or meta-get) reply -> Response, driven by value lengths.
#include "absl/strings/match.h"
#include "codec/text_codec.h"
#include "codec/text_number.h"

namespace mcmesh::codec {
namespace {

using internal::findLine;
using internal::nextToken;

// No reply line memcached sends is anywhere near this; past it the stream is garbage.
constexpr size_t kMaxReplyLine = 64 * 1024;

enum class Scan { kDone, kNeedMore, kBad };

// Walks one reply: with fill == true it builds the Response as it goes; with fill == false it only
// learns whether the reply is complete (nothing copied: TextResponseParser uses that while a
// reply is arriving in pieces, so a big one is not copied again and again).
class ReplyScanner {
 public:
  ReplyScanner(absl::string_view input, const ReplyContext& context, Response* response, bool fill,
               uint64_t max_value)
      : input_(input), context_(context), command_(context.command), response_(response),
        fill_(fill), max_value_(max_value) {}

  Scan run() {
    if (context_.meta && command_ != Command::kMetaGet) return meta();
    switch (command_) {
      case Command::kGet:
      case Command::kGets:
      case Command::kGat:
      case Command::kGats:
        return values();
      case Command::kMetaGet:
        return metaGet();
      case Command::kStats:
        return stats();
      default:
        return single();
    }
  }
  size_t position() const { return pos_; }
  size_t valuesSeen() const { return values_seen_; }
  bool tooLarge() const { return too_large_; }

 private:
  // Takes the next line; on kNeedMore/kBad pos_ is left where the bad/unfinished line starts.
  Scan line(absl::string_view* out) {
    size_t next = 0;
    if (!findLine(input_, pos_, out, &next)) {
      return input_.size() - pos_ > kMaxReplyLine ? Scan::kBad : Scan::kNeedMore;
    }
    pos_ = next;
    return Scan::kDone;
  }

  // Takes `length` data bytes plus "\r\n" (lengths come from the header, never from scanning).
  Scan block(uint64_t length, std::string* value) {
    if (length > max_value_) {
      too_large_ = true;  // refused from the header: the data is never buffered.
      return Scan::kBad;
    }
    if (input_.size() - pos_ < length + 2) return Scan::kNeedMore;
    if (input_.substr(pos_ + length, 2) != "\r\n") return Scan::kBad;
    if (fill_) value->assign(input_.data() + pos_, static_cast<size_t>(length));
    pos_ += static_cast<size_t>(length) + 2;
    return Scan::kDone;
  }

  void setType(ResponseType type, absl::string_view text = {}) {
    if (!fill_) return;
    response_->type = type;
    response_->text.assign(text.data(), text.size());
  }

  // ERROR / CLIENT_ERROR / SERVER_ERROR may answer any command.
  bool error(absl::string_view l) {
    absl::string_view text;
    if (word(l, "ERROR", &text)) {
      setType(ResponseType::kError, text);
    } else if (word(l, "CLIENT_ERROR", &text) || word(l, "SERVER_ERROR", &text)) {
      setType(l[0] == 'C' ? ResponseType::kClientError : ResponseType::kServerError, text);
      if (fill_) response_->error = classifyErrorText(text);
    } else {
      return false;
    }
    if (fill_) response_->items.clear();
    return true;
  }

  // Whether l is `w` alone or `w` followed by a space and *rest.
  static bool word(absl::string_view l, absl::string_view w, absl::string_view* rest) {
    if (!absl::StartsWith(l, w)) return false;
    if (l.size() == w.size()) {
      *rest = {};
      return true;
    }
    if (l[w.size()] != ' ') return false;
    *rest = l.substr(w.size() + 1);
    return true;
  }

  Scan values() {
    setType(ResponseType::kValues);
    for (;;) {
      absl::string_view l;
      const size_t start = pos_;
      if (Scan s = line(&l); s != Scan::kDone) return s;
      absl::string_view rest;
      if (l == "END") return Scan::kDone;
      if (error(l)) return Scan::kDone;
      if (!word(l, "VALUE", &rest)) return bad();
      const absl::string_view key = nextToken(&rest);
      const absl::string_view flags = nextToken(&rest);
      const absl::string_view bytes = nextToken(&rest);
      const absl::string_view cas = nextToken(&rest);
      Item item;
      uint64_t length = 0;
      if (key.empty() || !internal::parseUint32(flags, &item.flags) ||
          !internal::parseUint64(bytes, &length) ||
          (!cas.empty() && !internal::parseUint64(cas, &item.cas)) || !nextToken(&rest).empty()) {
        return bad();
      }
      if (Scan s = block(length, &item.value); s != Scan::kDone) {
        return s == Scan::kBad ? s : needMore(start);
      }
      ++values_seen_;
      if (fill_) {
        item.key.assign(key.data(), key.size());
        response_->items.push_back(std::move(item));
      }
    }
  }

  // kMetaGet: "VA <size> <flags>*" + data, "HD <flags>*", "EN" (see TextResponseParser's note).
  Scan metaGet() {
    setType(ResponseType::kValues);
    absl::string_view l;
    if (Scan s = line(&l); s != Scan::kDone) return s;
    if (l == "EN" || error(l)) return Scan::kDone;
    absl::string_view rest;
    const bool has_value = word(l, "VA", &rest);
    if (!has_value && !word(l, "HD", &rest)) return bad();
    return metaItem(has_value, rest);
  }

  // The item of a meta reply line after its code: f, t, c and k into fields, every other flag
  // into meta_extra; then the data block if the code was VA.
  Scan metaItem(bool has_value, absl::string_view rest) {
    Item item;
    uint64_t length = 0;
    if (has_value && !internal::parseUint64(nextToken(&rest), &length)) return bad();
    for (absl::string_view flag = nextToken(&rest); !flag.empty(); flag = nextToken(&rest)) {
      const absl::string_view arg = flag.substr(1);
      bool ok = true;
      switch (flag[0]) {
        case 'f':
          ok = internal::parseUint32(arg, &item.flags);
          break;
        case 't':
          ok = internal::parseInt64(arg, &item.ttl);
          break;
        case 'c':
          ok = internal::parseUint64(arg, &item.cas);
          break;
        case 'k':
          if (fill_) item.key.assign(arg.data(), arg.size());
          break;
        case 'O':
        case 'b':
          break;  // The proxy never sends O; b only qualifies k.
        default:
          if (fill_) {
            if (!item.meta_extra.empty()) item.meta_extra.push_back(' ');
            item.meta_extra.append(flag.data(), flag.size());
          }
          break;
      }
      if (!ok) return bad();
    }
    if (has_value) {
      if (Scan s = block(length, &item.value); s != Scan::kDone) {
        return s == Scan::kBad ? s : needMore(0);
      }
    }
    if (fill_) {
      if (!context_.key.empty()) item.key = context_.key;
      response_->items.push_back(std::move(item));
    }
    return Scan::kDone;
  }

  // Any reply to a request sent in meta form (see TextResponseParser's note).
  Scan meta() {
    absl::string_view l;
    if (Scan s = line(&l); s != Scan::kDone) return s;
    if (error(l)) return Scan::kDone;
    absl::string_view rest;
    const absl::string_view code = l.substr(0, 2);
    if (l.size() > 2 && l[2] != ' ') return bad();
    rest = l.size() > 3 ? l.substr(3) : absl::string_view();
    switch (command_) {
      case Command::kGet:
      case Command::kGets:
      case Command::kGat:
      case Command::kGats:
        setType(ResponseType::kValues);
        if (code == "EN" && l.size() == 2) return Scan::kDone;
        if (code != "VA" && code != "HD") return bad();
        return metaItem(code == "VA", rest);
      case Command::kTouch:
        if (code == "EN" && l.size() == 2) {
          setType(ResponseType::kNotFound);
          return Scan::kDone;
        }
        if (code != "HD") return bad();
        setType(ResponseType::kTouched);
        return metaItem(false, rest);
      case Command::kMetaDebug:
        if (code == "EN" && l.size() == 2) {
          setType(ResponseType::kNotFound);
          return Scan::kDone;
        }
        if (code != "ME") return bad();
        setType(ResponseType::kDebug, debugText(rest));
        return Scan::kDone;
      default:
        break;
    }
    const bool arithmetic = command_ == Command::kIncr || command_ == Command::kDecr;
    if (code == "HD") {
      setType(arithmetic                          ? ResponseType::kNumber
              : command_ == Command::kDelete      ? ResponseType::kDeleted
                                                  : ResponseType::kStored);
    } else if (code == "VA" && arithmetic) {
      // "VA <len> <flags>*" then the number as a data block.
      setType(ResponseType::kNumber);
      absl::string_view header = rest;
      uint64_t length = 0;
      if (!internal::parseUint64(nextToken(&header), &length) || length == 0 || length > 20) {
        return bad();
      }
      const size_t block_start = pos_;
      if (Scan s = metaItem(true, rest); s != Scan::kDone) return s;
      const absl::string_view digits = input_.substr(block_start, static_cast<size_t>(length));
      if (digits.find_first_not_of("0123456789") != absl::string_view::npos) return bad();
      if (fill_) {
        Item& item = response_->items.back();
        response_->text = std::move(item.value);
        item.value.clear();
      }
      return Scan::kDone;
    } else if (code == "NS") {
      setType(ResponseType::kNotStored);
    } else if (code == "EX") {
      setType(ResponseType::kExists);
    } else if (code == "NF") {
      setType(ResponseType::kNotFound);
    } else {
      return bad();
    }
    // Keep what memcached reported about the stored item (a cas, a ttl) for binary and meta
    // clients; failures carry nothing worth keeping ("c0").
    if (rest.empty()) return Scan::kDone;
    if (Scan s = metaItem(false, rest); s != Scan::kDone) return s;
    if (fill_ && response_->type != ResponseType::kStored &&
        response_->type != ResponseType::kNumber && response_->type != ResponseType::kDeleted) {
      response_->items.clear();
    }
    return Scan::kDone;
  }

  // "ME <key> <k>=<v>*": the part after the key (memcached may spell the key raw or base64).
  absl::string_view debugText(absl::string_view rest) const {
    const absl::string_view key = context_.key;
    if (!key.empty() && absl::StartsWith(rest, key) && rest.size() > key.size() &&
        rest[key.size()] == ' ') {
      return rest.substr(key.size() + 1);
    }
    const size_t space = rest.find(' ');
    return space == absl::string_view::npos ? absl::string_view() : rest.substr(space + 1);
  }

  Scan stats() {
    setType(ResponseType::kStats);
    for (bool first = true;; first = false) {
      absl::string_view l;
      if (Scan s = line(&l); s != Scan::kDone) return s;
      absl::string_view rest;
      if (l == "END") return Scan::kDone;
      if (first) {
        // Subcommands answered by one status line: "stats reset", "stats detail on|off".
        if (l == "RESET" || l == "OK") {
          setType(ResponseType::kOk, l == "RESET" ? l : absl::string_view());
          return Scan::kDone;
        }
        if (error(l)) return Scan::kDone;
      }
      if (!fill_) continue;
      // A STAT line without a name ("STAT", "STAT  x") is kept verbatim like any other line: as
      // an empty name it would reach the client without its "STAT " and could then read as
      // another reply ("STAT  OK" would become "OK").
      if (word(l, "STAT", &rest) && !rest.empty() && rest[0] != ' ') {
        const size_t space = rest.find(' ');
        const absl::string_view name = rest.substr(0, space);
        const absl::string_view value =
            space == absl::string_view::npos ? absl::string_view() : rest.substr(space + 1);
        response_->stats.emplace_back(std::string(name), std::string(value));
      } else {
        response_->stats.emplace_back(std::string(), std::string(l));
      }
    }
  }

  Scan single() {
    absl::string_view l;
    if (Scan s = line(&l); s != Scan::kDone) return s;
    absl::string_view rest;
    if (error(l)) return Scan::kDone;
    if (l == "STORED") {
      setType(ResponseType::kStored);
    } else if (l == "NOT_STORED") {
      setType(ResponseType::kNotStored);
    } else if (l == "EXISTS") {
      setType(ResponseType::kExists);
    } else if (l == "NOT_FOUND") {
      setType(ResponseType::kNotFound);
    } else if (l == "DELETED") {
      setType(ResponseType::kDeleted);
    } else if (l == "TOUCHED") {
      setType(ResponseType::kTouched);
    } else if (l == "OK") {
      setType(ResponseType::kOk);
    } else if (word(l, "VERSION", &rest)) {
      setType(ResponseType::kVersion, rest);
    } else if ((command_ == Command::kIncr || command_ == Command::kDecr) &&
               l.find_first_not_of("0123456789") == absl::string_view::npos && !l.empty()) {
      setType(ResponseType::kNumber, l);
    } else {
      return bad();
    }
    return Scan::kDone;
  }

  static Scan bad() { return Scan::kBad; }
  Scan needMore(size_t start) {
    pos_ = start;
    return Scan::kNeedMore;
  }

  const absl::string_view input_;
  const ReplyContext& context_;
  const Command command_;
  Response* const response_;
  const bool fill_;
  const uint64_t max_value_;
  bool too_large_ = false;
  size_t values_seen_ = 0;
  size_t pos_ = 0;
};

}  // namespace

ParseStatus TextResponseParser::parse(absl::string_view input, Command command, Response* response,
                                      size_t* consumed) {
  ReplyContext context;
  context.command = command;
  return parse(input, context, response, consumed);
}

ParseStatus TextResponseParser::parse(absl::string_view input, const ReplyContext& context,
                                      Response* response, size_t* consumed) {
  size_t values = 0;
  if (!incomplete_) {
    // Most replies arrive whole: build the response in the same pass that checks it.
    *response = Response();
    if (context.keys > 1 && !context.meta) response->items.reserve(context.keys);
    ReplyScanner builder(input, context, response, /*fill=*/true, max_value_);
    const Scan scan = builder.run();
    if (scan == Scan::kDone) {
      *consumed = builder.position();
      return ParseStatus::kOk;
    }
    if (scan == Scan::kBad) {
      too_large_ = builder.tooLarge();
      *consumed = input.size();  // The stream is out of step; nothing after this can be trusted.
      return ParseStatus::kError;
    }
    incomplete_ = true;
    *response = Response();
    *consumed = 0;
    return ParseStatus::kNeedMore;
  }
  ReplyScanner probe(input, context, response, /*fill=*/false, max_value_);
  const Scan scan = probe.run();
  if (scan == Scan::kNeedMore) {
    *consumed = 0;
    return ParseStatus::kNeedMore;
  }
  incomplete_ = false;
  if (scan == Scan::kBad) {
    too_large_ = probe.tooLarge();
    *consumed = input.size();
    return ParseStatus::kError;
  }
  values = probe.valuesSeen();
  *response = Response();
  // The probe counted the hits: one allocation for a multi-get's items, not log2(n) regrowths.
  if (values > 0) response->items.reserve(values);
  ReplyScanner builder(input, context, response, /*fill=*/true, max_value_);
  builder.run();
  *consumed = builder.position();
  return ParseStatus::kOk;
}

}  // namespace mcmesh::codec
