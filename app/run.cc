// runMcmesh: parse options, bind, daemonize (unless -D), drop privileges, run.
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>

#include "absl/debugging/failure_signal_handler.h"
#include "absl/debugging/symbolize.h"
#include "absl/strings/str_cat.h"
#include "filters/builtin_filters.h"
#include "proxy/admin/admin_server.h"
#include "app/run.h"
#include "proxy/control_plane_link.h"
#include "proxy/log.h"
#include "proxy/options.h"
#include "proxy/server.h"
#include "proxy/topology_convert.h"

namespace {

int dropPrivileges(const mcmesh::Options& options) {
  if (!options.group.empty()) {
    struct group* g = getgrnam(options.group.c_str());
    if (g == nullptr || setgid(g->gr_gid) != 0) {
      std::cerr << "mcmesh: cannot switch to group '" << options.group << "'\n";
      return 2;
    }
  }
  if (!options.user.empty()) {
    struct passwd* p = getpwnam(options.user.c_str());
    if (p == nullptr) {
      std::cerr << "mcmesh: unknown user '" << options.user << "'\n";
      return 2;
    }
    if (getuid() == 0 && (setgroups(0, nullptr) != 0 ||
                          (options.group.empty() && setgid(p->pw_gid) != 0) ||
                          setuid(p->pw_uid) != 0)) {
      std::cerr << "mcmesh: cannot switch to user '" << options.user << "'\n";
      return 2;
    }
  }
  return 0;
}

void daemonize() {
  if (fork() != 0) _exit(0);
  setsid();
  int fd = open("/dev/null", O_RDWR);
  if (fd >= 0) {
    dup2(fd, STDIN_FILENO);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    if (fd > STDERR_FILENO) close(fd);
  }
}

}  // namespace

namespace mcmesh {

int runMcmesh(int argc, char** argv, const std::function<void(FilterRegistry&)>& add_filters) {
  // Before any thread starts, so every thread inherits it. SIGHUP, SIGTERM and SIGINT are
  // handled by Server (logged; a drain); these would otherwise kill the process.
  // SIGHUP is ignored too until Server::init() installs its logging handler.
  for (int sig : {SIGPIPE, SIGUSR1, SIGUSR2, SIGALRM, SIGHUP}) std::signal(sig, SIG_IGN);
#ifndef MCMESH_SANITIZED
  // A crash (SIGSEGV, SIGABRT, ...) prints the signal and a symbolized stack to stderr before
  // the process dies of it, so a crash in production or CI says where. SIGTERM's handler is
  // replaced by the Server's drain handler in init(). Sanitizers bring their own reports.
  absl::InitializeSymbolizer(argv[0]);
  absl::InstallFailureSignalHandler(absl::FailureSignalHandlerOptions());
#endif
  auto options = mcmesh::parseOptions(argc, argv);
  if (!options.ok()) {
    std::cerr << "mcmesh: " << options.status().message() << "\n(run mcmesh -h for help)\n";
    return 2;
  }
  if (options->help) {
    std::cout << mcmesh::usageText();
    return 0;
  }
  mcmesh::LogLevel level = mcmesh::LogLevel::kInfo;
  if (options->verbose > 0) level = mcmesh::LogLevel::kDebug;
  if (!options->log_level.empty()) mcmesh::parseLogLevel(options->log_level, &level);
  mcmesh::setLogLevel(level);

  mcmesh::FilterRegistry registry;
  mcmesh::registerBuiltinFilters(registry);
  if (add_filters) add_filters(registry);
  mcmesh::Server server(*options, std::move(registry));
  if (!options->config_path.empty()) {
    // A bootstrap file wins over -s/-b; the control plane, when set, replaces it later.
    auto topology = mcmesh::readTopologyFile(options->config_path);
    auto config = topology.ok() ? mcmesh::clusterConfigFromTopology(*topology, options->cluster,
                                                                    *options)
                                : absl::StatusOr<mcmesh::upstream::ClusterConfig>(topology.status());
    if (!config.ok()) {
      std::cerr << "mcmesh: " << config.status().message() << "\n";
      return 2;
    }
    auto st = server.applyClusterConfig(std::move(*config));
    if (!st.ok()) {
      std::cerr << "mcmesh: " << options->config_path << ": " << st.message() << "\n";
      return 2;
    }
  } else if (!options->servers.empty()) {
    auto config = mcmesh::clusterConfigFromOptions(*options);
    if (!config.ok()) {
      std::cerr << "mcmesh: " << config.status().message() << "\n";
      return 2;
    }
    auto st = server.applyClusterConfig(std::move(*config));
    if (!st.ok()) {
      std::cerr << "mcmesh: " << st.message() << "\n";
      return 2;
    }
  }
  auto st = server.init();
  if (!st.ok()) {
    std::cerr << "mcmesh: " << st.message() << "\n";
    return 1;
  }
  // Bound before dropping privileges and daemonizing, so a taken port fails start-up visibly.
  std::unique_ptr<mcmesh::admin::AdminServer> admin;
  if (options->admin_port != 0) {
    auto created = mcmesh::admin::AdminServer::create(server, options->admin_host,
                                                      options->admin_port);
    if (!created.ok()) {
      std::cerr << "mcmesh: " << created.status().message() << "\n";
      return 1;
    }
    admin = std::move(*created);
  }
  if (int rc = dropPrivileges(*options); rc != 0) return rc;
  if (!options->foreground) daemonize();
  std::unique_ptr<ControlPlaneLink> control_plane;
  if (!options->control_plane.empty()) {
    control_plane = std::make_unique<ControlPlaneLink>(server, *options);
    control_plane->start();
  }
  int rc = server.run();
  if (control_plane != nullptr) control_plane->stop();
  return rc;
}

}  // namespace mcmesh
