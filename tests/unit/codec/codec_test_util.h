// Test helpers for the codecs: field-by-field comparison of Requests and Responses.
#pragma once

#include <string>

#include "codec/text_codec.h"
#include "gtest/gtest.h"
#include "proxy/message.h"

namespace mcmesh::codec {

// Every field, so a test fails on any difference (message.h defines no operator==).
inline void expectSameRequest(const Request& expected, const Request& actual) {
  EXPECT_EQ(static_cast<int>(expected.command), static_cast<int>(actual.command));
  EXPECT_EQ(expected.keys, actual.keys);
  EXPECT_EQ(expected.flags, actual.flags);
  EXPECT_EQ(expected.exptime, actual.exptime);
  EXPECT_EQ(expected.cas_unique, actual.cas_unique);
  EXPECT_EQ(expected.delta, actual.delta);
  EXPECT_EQ(expected.value, actual.value);
  EXPECT_EQ(expected.noreply, actual.noreply);
  EXPECT_EQ(expected.args, actual.args);
  const MetaFlags& e = expected.meta;
  const MetaFlags& a = actual.meta;
  EXPECT_EQ(e.meta, a.meta);
  EXPECT_EQ(e.return_cas, a.return_cas);
  EXPECT_EQ(e.vivify, a.vivify);
  EXPECT_EQ(e.initial, a.initial);
  EXPECT_EQ(e.extra, a.extra);
  EXPECT_EQ(e.quiet, a.quiet);
  EXPECT_EQ(e.order, a.order);
  EXPECT_EQ(e.opaque, a.opaque);
  EXPECT_EQ(e.base64_key, a.base64_key);
  EXPECT_EQ(static_cast<int>(e.opcode), static_cast<int>(a.opcode));
  EXPECT_EQ(e.binary_opaque, a.binary_opaque);
}

inline void expectSameResponse(const Response& expected, const Response& actual) {
  EXPECT_EQ(static_cast<int>(expected.type), static_cast<int>(actual.type));
  EXPECT_EQ(static_cast<int>(expected.error), static_cast<int>(actual.error));
  ASSERT_EQ(expected.items.size(), actual.items.size());
  for (size_t i = 0; i < expected.items.size(); ++i) {
    EXPECT_EQ(expected.items[i].key, actual.items[i].key) << "item " << i;
    EXPECT_EQ(expected.items[i].flags, actual.items[i].flags) << "item " << i;
    EXPECT_EQ(expected.items[i].cas, actual.items[i].cas) << "item " << i;
    EXPECT_EQ(expected.items[i].value, actual.items[i].value) << "item " << i;
    EXPECT_EQ(expected.items[i].ttl, actual.items[i].ttl) << "item " << i;
    EXPECT_EQ(expected.items[i].meta_extra, actual.items[i].meta_extra) << "item " << i;
  }
  EXPECT_EQ(expected.text, actual.text);
  EXPECT_EQ(expected.stats, actual.stats);
  EXPECT_EQ(expected.failed_keys, actual.failed_keys);
}

inline Item makeItem(std::string key, uint32_t flags, std::string value, uint64_t cas = 0,
                     int64_t ttl = -1, std::string meta_extra = "") {
  Item item;
  item.meta_extra = std::move(meta_extra);
  item.key = std::move(key);
  item.flags = flags;
  item.value = std::move(value);
  item.cas = cas;
  item.ttl = ttl;
  return item;
}

/**
 * A reply of `type` with `text`; error replies carry the kind the upstream parser derives from
 * memcached's text (tested on its own in TextResponseParserTest.ErrorRepliesCarryTheirKind).
 */
inline Response typed(ResponseType type, std::string text = "") {
  Response r = Response::ofType(type);
  if (type == ResponseType::kClientError || type == ResponseType::kServerError) {
    r.error = classifyErrorText(text);
  }
  r.text = std::move(text);
  return r;
}

}  // namespace mcmesh::codec
