// FileTopologyStore: the embedded default store, one file replaced atomically on every save.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "control_plane/store.h"
#include "control_plane/store_format.h"

namespace mcmesh {
namespace control_plane {

/**
 * Keeps the topology in one file. save() writes "<path>.tmp", fsyncs it, renames it over <path>
 * and fsyncs the directory, so readers and crashes see either the old or the new file, never a
 * torn one. Format: text proto when the path ends in ".textproto", ".txtpb" or ".txt" (handy for
 * reading and diffing), binary proto otherwise; either framed with a length and a CRC-32C
 * (store_format.h). load() refuses (DATA_LOSS, naming the file and the problem) an empty,
 * truncated or corrupt file, and rewrites a store in the old unframed format once it loaded it.
 */
class FileTopologyStore : public TopologyStore {
public:
  enum class Format { Binary, Text };

  explicit FileTopologyStore(std::string path);
  FileTopologyStore(std::string path, Format format);

  // TopologyStore
  absl::StatusOr<mcmesh::v1::Topology> load() override;
  absl::Status save(const mcmesh::v1::Topology& topology) override;

  const std::string& path() const { return path_; }
  Format format() const { return format_; }

  /** @return the format implied by a path's extension. */
  static Format formatForPath(absl::string_view path);

private:
  const std::string path_;
  const Format format_;
};

/** Reads a whole file (tokens, certificates, bootstrap topologies). NOT_FOUND if missing. */
absl::StatusOr<std::string> readFile(const std::string& path);

} // namespace control_plane
} // namespace mcmesh
