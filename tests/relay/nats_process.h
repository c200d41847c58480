// Test and benchmark helpers: nats-server processes with JetStream on free
// loopback ports, each with a fresh directory, stopped by their pids (one,
// or a cluster of three). No GoogleTest here: bench/ uses it too.
#ifndef ANNALS_TESTS_RELAY_NATS_PROCESS_H_
#define ANNALS_TESTS_RELAY_NATS_PROCESS_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace annals::testing {

inline int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return -1;
  }
  close(fd);
  return ntohs(addr.sin_port);
}

inline bool Accepts(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// One nats-server with JetStream on a free loopback port.
class NatsServer {
 public:
  // `extra`: more arguments (a cluster member's name and routes).
  explicit NatsServer(std::string dir, std::vector<std::string> extra = {})
      : dir_(std::move(dir)), extra_(std::move(extra)) {}
  ~NatsServer() { Kill(); }

  // On a free port, or on `port` if given.
  // False if it did not start (is nats-server installed?).
  [[nodiscard]] bool Start(int port = 0) {
    for (int attempt = 0; attempt < 3 && pid_ <= 0; ++attempt) {
      port_ = port > 0 ? port : FreePort();
      if (port_ > 0) Launch();  // the port may be taken meanwhile: then another
    }
    return pid_ > 0;
  }

  // Kills the server (SIGKILL: what it had not written is lost, as in a
  // crash) and starts it again on the same port and directory.
  [[nodiscard]] bool Restart() {
    Kill();
    for (int attempt = 0; attempt < 40 && pid_ <= 0; ++attempt) {
      Launch();
      if (pid_ <= 0) absl::SleepFor(absl::Milliseconds(50));
    }
    return pid_ > 0;
  }

  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  std::string url() const { return absl::StrCat("nats://127.0.0.1:", port_); }
  bool running() const { return pid_ > 0; }

 private:
  void Launch() {
    const std::string port = absl::StrCat(port_);
    const std::string log = dir_ + ".log";  // its log beside its data, out of the test's output
    std::vector<const char*> argv = {"nats-server", "-js",       "-sd", dir_.c_str(),
                                     "-a",          "127.0.0.1", "-p",  port.c_str()};
    for (const std::string& arg : extra_) argv.push_back(arg.c_str());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ < 0) return;
    if (pid_ == 0) {
      // Async-signal-safe calls only until exec (the test may run threads).
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      execvp("nats-server", const_cast<char* const*>(argv.data()));
      _exit(127);
    }
    for (int i = 0; i < 200 && !Accepts(port_); ++i) absl::SleepFor(absl::Milliseconds(25));
    if (!Accepts(port_)) Kill();
  }

  std::string dir_;
  std::vector<std::string> extra_;
  int port_ = -1;
  pid_t pid_ = -1;
};

// Three nats-servers clustered on loopback (JetStream in each): streams
// of 3 replicas survive one member's death.
class NatsCluster {
 public:
  explicit NatsCluster(const std::string& dir) {
    int routes[3];
    for (int& port : routes) port = FreePort();
    for (int i = 0; i < 3; ++i) {
      std::string others;
      for (int j = 0; j < 3; ++j) {
        if (j == i) continue;
        absl::StrAppend(&others, others.empty() ? "" : ",", "nats://127.0.0.1:", routes[j]);
      }
      members_.push_back(std::make_unique<NatsServer>(
          absl::StrCat(dir, "/n", i),
          std::vector<std::string>{
              "--server_name", absl::StrCat("n", i), "--cluster_name", "annals", "--cluster",
              absl::StrCat("nats://127.0.0.1:", routes[i]), "--routes", others}));
    }
  }

  [[nodiscard]] bool Start() {
    for (auto& member : members_) {
      if (!member->Start()) return false;
    }
    return true;
  }
  NatsServer& member(int i) { return *members_[i]; }
  // Every member, comma-separated: libnats picks one and fails over.
  std::string urls() const {
    std::string all;
    for (const auto& member : members_)
      absl::StrAppend(&all, all.empty() ? "" : ",", member->url());
    return all;
  }

 private:
  std::vector<std::unique_ptr<NatsServer>> members_;
};

}  // namespace annals::testing

#endif  // ANNALS_TESTS_RELAY_NATS_PROCESS_H_
