// Command classification drives routing (keyed vs broadcast) and mirroring (writes only).
#include "proxy/message.h"

#include <string>
#include <utility>

#include "gtest/gtest.h"

namespace mcmesh {
namespace {

TEST(MessageTest, ClassifiesCommands) {
  EXPECT_TRUE(isRetrieval(Command::kGats));
  EXPECT_FALSE(isRetrieval(Command::kSet));
  EXPECT_TRUE(isStorage(Command::kCas));
  EXPECT_FALSE(isStorage(Command::kDelete));
  EXPECT_TRUE(isWrite(Command::kTouch));
  EXPECT_TRUE(isWrite(Command::kIncr));
  EXPECT_FALSE(isWrite(Command::kGet));
  EXPECT_FALSE(isKeyed(Command::kFlushAll));
  EXPECT_FALSE(isKeyed(Command::kStats));
  EXPECT_EQ(commandName(Command::kPrepend), "prepend");
}

Request filled(int n) {
  Request r;
  r.command = n == 1 ? Command::kCas : Command::kIncr;
  r.keys = {"key" + std::to_string(n), "other"};
  r.flags = 10u + n;
  r.exptime = -n;
  r.cas_unique = 100u + n;
  r.delta = 1000u + n;
  r.value = std::string(40, static_cast<char>('a' + n));  // heap-allocated, not SSO.
  r.noreply = n == 1;
  r.args = "args" + std::to_string(n);
  r.meta.meta = n == 1;
  r.meta.return_cas = n == 2;
  r.meta.vivify = n == 1;
  r.meta.initial = 7u + n;
  r.meta.extra = "N" + std::to_string(n);
  r.meta.quiet = n == 2;
  r.meta.order = n == 1 ? "vkO" : "c";
  r.meta.opaque = "opaque" + std::to_string(n);
  r.meta.base64_key = n == 2;
  r.meta.opcode = static_cast<uint8_t>(n);
  r.meta.binary_opaque = 50u + n;
  return r;
}

void expectEqual(const Request& a, const Request& b) {
  EXPECT_EQ(a.command, b.command);
  EXPECT_EQ(a.keys, b.keys);
  EXPECT_EQ(a.flags, b.flags);
  EXPECT_EQ(a.exptime, b.exptime);
  EXPECT_EQ(a.cas_unique, b.cas_unique);
  EXPECT_EQ(a.delta, b.delta);
  EXPECT_EQ(a.value, b.value);
  EXPECT_EQ(a.noreply, b.noreply);
  EXPECT_EQ(a.args, b.args);
  EXPECT_EQ(a.meta.meta, b.meta.meta);
  EXPECT_EQ(a.meta.return_cas, b.meta.return_cas);
  EXPECT_EQ(a.meta.vivify, b.meta.vivify);
  EXPECT_EQ(a.meta.initial, b.meta.initial);
  EXPECT_EQ(a.meta.extra, b.meta.extra);
  EXPECT_EQ(a.meta.quiet, b.meta.quiet);
  EXPECT_EQ(a.meta.order, b.meta.order);
  EXPECT_EQ(a.meta.opaque, b.meta.opaque);
  EXPECT_EQ(a.meta.base64_key, b.meta.base64_key);
  EXPECT_EQ(a.meta.opcode, b.meta.opcode);
  EXPECT_EQ(a.meta.binary_opaque, b.meta.binary_opaque);
}

// swap(Request&, Request&) is written out field by field for speed: every field must travel.
TEST(MessageTest, SwapExchangesEveryField) {
  Request a = filled(1);
  Request b = filled(2);
  const char* a_value_buffer = a.value.data();
  using std::swap;
  swap(a, b);
  expectEqual(a, filled(2));
  expectEqual(b, filled(1));
  EXPECT_EQ(b.value.data(), a_value_buffer);  // buffers are exchanged, not copied.
}

// How many fields aggregate T has: the most initializers T{...} accepts (each converts to any type).
struct AnyInit {
  template <class T>
  operator T() const;
};
template <class T, class... A>
constexpr size_t fieldCount(long) {  // T{A{}...} does not compile: one initializer too many.
  return sizeof...(A) - 1;
}
template <class T, class... A>
constexpr auto fieldCount(int) -> decltype(T{A{}...}, size_t()) {
  return fieldCount<T, A..., AnyInit>(0);
}

// A field missing from kRequestFields/kMetaFlagsFields would be skipped by swap(), clear() and
// releaseLargeBuffers(): the lists must name every field, whatever the standard library.
static_assert(fieldCount<Request>(0) == std::tuple_size_v<decltype(kRequestFields)>,
              "a Request field is missing from kRequestFields (message.h)");
static_assert(fieldCount<MetaFlags>(0) == std::tuple_size_v<decltype(kMetaFlagsFields)>,
              "a MetaFlags field is missing from kMetaFlagsFields (message.h)");

TEST(RequestTest, ClearKeepsCapacityAndEqualsADefaultRequest) {
  Request r = filled(1);
  const size_t value_capacity = r.value.capacity();
  r.clear();
  expectEqual(r, Request());
  EXPECT_EQ(r.value.capacity(), value_capacity);
}

}  // namespace
}  // namespace mcmesh
