// renderTopologyJson: the applied topology and each host's health as one JSON object.
#pragma once

#include <string>

#include "proxy/server.h"

namespace mcmesh::admin {

/**
 * {"applied": bool, "cluster", "version", "applied_at", "mirror_mode", "eject_policy",
 *  "miss_failover", "filters": [names], "workers", "primaries": [host], "backups": [host]} where
 * host = {"address", "weight", "state", "health": {"ejected", "ejected_workers"}, "requests",
 * "errors", "timeouts", "ejections", "connections"}. Filter options are left out: they may hold
 * credentials. Thread-safe.
 */
std::string renderTopologyJson(const Server& server);

}  // namespace mcmesh::admin
