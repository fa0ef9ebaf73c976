// Implements FileTopologyStore: temp file, fsync, rename, fsync of the directory.
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
#include "absl/strings/str_join.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"

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

// Collects text-format parse errors so the message says where the file is wrong.
class ErrorCollector : public google::protobuf::io::ErrorCollector {
public:
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    errors_.push_back(absl::StrCat("line ", line + 1, " column ", column + 1, ": ", message));
  }
  std::string joined() const { return absl::StrJoin(errors_, "; "); }

private:
  std::vector<std::string> errors_;
};

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
  if (format_ == Format::Text) {
    absl::StatusOr<mcmesh::v1::Topology> parsed = parseTextTopology(*data);
    if (!parsed.ok()) {
      return absl::DataLossError(
          absl::StrCat("store ", path_, " is not a valid topology: ", parsed.status().message()));
    }
    return parsed;
  }
  mcmesh::v1::Topology topology;
  if (!topology.ParseFromString(*data)) {
    return absl::DataLossError(absl::StrCat("store ", path_, " is not a valid binary topology"));
  }
  return topology;
}

absl::Status FileTopologyStore::save(const mcmesh::v1::Topology& topology) {
  std::string data;
  if (format_ == Format::Text) {
    if (!google::protobuf::TextFormat::PrintToString(topology, &data)) {
      return absl::InternalError("cannot print topology as text");
    }
  } else if (!topology.SerializeToString(&data)) {
    return absl::InternalError("cannot serialize topology");
  }

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

absl::StatusOr<mcmesh::v1::Topology> parseTextTopology(absl::string_view text) {
  mcmesh::v1::Topology topology;
  ErrorCollector errors;
  google::protobuf::TextFormat::Parser parser;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &topology)) {
    return absl::InvalidArgumentError(absl::StrCat("bad text topology: ", errors.joined()));
  }
  return topology;
}

} // namespace control_plane
} // namespace mcmesh
