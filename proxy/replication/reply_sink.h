// ReplySink: where a replicated request's final reply goes (the router filter, or a test).
#pragma once

#include "proxy/message.h"

namespace mcmesh::replication {

class ReplySink {
 public:
  virtual ~ReplySink() = default;
  /** The request's one reply. May run inline from start(). */
  virtual void onReply(Response&& response) = 0;
};

}  // namespace mcmesh::replication
