// The version every surface reports: the `version` command, `stats`, /metrics and the startup log.
#pragma once

namespace mcmesh {

inline constexpr char kVersionString[] = "mcmesh-0.3.0";

}  // namespace mcmesh
