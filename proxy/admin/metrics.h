// renderMetrics: the Server's counters, gauges and latency histogram as a Prometheus exposition.
#pragma once

#include <string>

#include "proxy/server.h"

namespace mcmesh::admin {

/**
 * Every family mcmesh exports, prefixed `mcmesh_`, read from the same sources as the `stats`
 * command (Server::sumCounter, upstreamReports, rehydrations). Thread-safe; values are summed
 * over workers and may be a moment stale, never torn.
 */
std::string renderMetrics(const Server& server);

}  // namespace mcmesh::admin
