// Implements FileTopologyStore: framed encoding, temp file, fsync, rename, fsync of the directory,
// and the one-time rewrite of stores in the old format.
#include "control_plane/file_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "control_plane/log.h"

namespace mcmesh {
namespace control_plane {
namespace {

absl::Status errnoError(absl::string_view what, const std::string& path) {
  const int err = errno;
  std::string message = absl::StrCat(what, " ", path, ": ", std::strerror(err));
  if (err == ENOENT) {
    return absl::NotFoundError(message);
  }
  return absl::InternalError(message);
}

// Writes all of data to fd, retrying short writes and EINTR.
bool writeAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

std::string directoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    return ".";
  }
  if (slash == 0) {
    return "/";
  }
  return path.substr(0, slash);
}

} // namespace

FileTopologyStore::FileTopologyStore(std::string path)
    : FileTopologyStore(path, formatForPath(path)) {}

FileTopologyStore::FileTopologyStore(std::string path, Format format)
    : path_(std::move(path)), format_(format) {}

FileTopologyStore::Format FileTopologyStore::formatForPath(absl::string_view path) {
  if (absl::EndsWith(path, ".textproto") || absl::EndsWith(path, ".txtpb") ||
      absl::EndsWith(path, ".txt")) {
    return Format::Text;
  }
  return Format::Binary;
}

absl::StatusOr<mcmesh::v1::Topology> FileTopologyStore::load() {
  absl::StatusOr<std::string> data = readFile(path_);
  if (!data.ok()) {
    return data.status();
  }
  const StoreEncoding encoding =
      format_ == Format::Text ? StoreEncoding::Text : StoreEncoding::Binary;
  absl::StatusOr<DecodedStore> decoded = decodeStore(*data, encoding);
  if (!decoded.ok()) {
    // Never fall back to an empty topology or to --bootstrap: proxies would be told to drop
    // every server. The operator decides (docs/control-plane.md, "When the store is refused").
    return absl::Status(
        decoded.status().code(),
        absl::StrCat("store ", path_, " ", decoded.status().message(),
                     ". Refusing to start rather than serve an empty or partial topology: "
                     "restore the file from a backup (or the last good copy), or move it away "
                     "to start again from --bootstrap"));
  }
  if (decoded->legacy) {
    // Stores from before the checksum load once and are rewritten at once, so the next start
    // (and any later damage) is checked.
    logLine(absl::StrCat("store ", path_, " has no checksum (written by an older mcmesh_cp): "
                         "loaded version ", decoded->topology.version(),
                         ", rewriting it in store format ", kStoreFormatVersion));
    absl::Status saved = save(decoded->topology);
    if (!saved.ok()) {
      return absl::Status(saved.code(), absl::StrCat("cannot rewrite the old-format store ",
                                                     path_, ": ", saved.message()));
    }
  }
  return std::move(decoded->topology);
}

absl::Status FileTopologyStore::save(const mcmesh::v1::Topology& topology) {
  absl::StatusOr<std::string> encoded = encodeStore(
      topology, format_ == Format::Text ? StoreEncoding::Text : StoreEncoding::Binary);
  if (!encoded.ok()) {
    return encoded.status();
  }
  const std::string& data = *encoded;

  const std::string tmp = absl::StrCat(path_, ".tmp");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return errnoError("cannot create", tmp);
  }
  if (!writeAll(fd, data) || ::fsync(fd) != 0) {
    absl::Status status = errnoError("cannot write", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return status;
  }
  if (::close(fd) != 0) {
    absl::Status status = errnoError("cannot close", tmp);
    ::unlink(tmp.c_str());
    return status;
  }
  if (::rename(tmp.c_str(), path_.c_str()) != 0) {
    absl::Status status = errnoError("cannot rename onto", path_);
    ::unlink(tmp.c_str());
    return status;
  }
  // The rename is durable only once the directory entry is.
  const std::string dir = directoryOf(path_);
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    return errnoError("cannot open directory", dir);
  }
  const int rc = ::fsync(dir_fd);
  absl::Status status = rc == 0 ? absl::OkStatus() : errnoError("cannot fsync directory", dir);
  ::close(dir_fd);
  return status;
}

absl::StatusOr<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return errnoError("cannot open", path);
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) {
    return errnoError("cannot read", path);
  }
  return contents.str();
}

} // namespace control_plane
} // namespace mcmesh
