// What the history tests share on the client side: reading whole memcached text-protocol
// replies (pipelines, multi-gets) and the extra proxy flags a run was asked to use.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tests/support/text_client.h"

namespace mcmesh::history {

// Storage commands, delete and incr answer one line; get answers VALUE blocks and END (or one
// error line).
enum class ReplyShape { kLine, kValues };

/** Reads one complete reply and returns its bytes exactly as received. */
absl::StatusOr<std::string> readReply(testing::TextClient& client, ReplyShape shape);

/** A get reply as (key, value) pairs in reply order, or the error line it was instead. */
struct GetReply {
  std::vector<std::pair<std::string, std::string>> items;
  std::string error;  // e.g. "SERVER_ERROR ..." without CRLF; empty when the reply was VALUE/END
};
GetReply parseGetReply(absl::string_view raw);

/**
 * Extra mcmesh flags from $HISTORY_PROXY_FLAGS (space-separated), so the same tests can be run
 * against other settings without editing them, e.g.
 *   bazel test --test_env=HISTORY_PROXY_FLAGS=--miss_failover=false //tests/integration/history:all
 */
std::vector<std::string> extraProxyFlags();

}  // namespace mcmesh::history
