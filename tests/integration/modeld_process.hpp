// Runs the real modeld binary as a child process for integration tests: starts it on
// 127.0.0.1 port 0, learns its port from the `listening on` line, stops it with a signal.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace modeld::test {

struct process_result {
  int exit_code = -1; // -1: killed by a signal or still running
  std::string stdout_text;
  std::string stderr_text;
};

// Runs `binary` with `args` to completion (killed past `limit`), capturing both streams as
// they come, so a chatty program cannot stall on a full pipe.
process_result run_program(const std::string& binary, const std::vector<std::string>& args,
                           std::chrono::milliseconds limit = std::chrono::seconds(20));

// Runs modeld with `args` to completion (at most `limit`), capturing both streams.
process_result run_modeld(const std::vector<std::string>& args,
                          std::chrono::milliseconds limit = std::chrono::seconds(20));

class modeld_process {
public:
  // Starts modeld with `extra_args` plus a data dir (a temp one unless given) and an empty
  // temp model root, on 127.0.0.1:0 unless `extra_args` has a --listen (a test that restarts
  // modeld on the same port). A `launcher` (its first word an absolute path) runs modeld:
  // `{"/usr/sbin/ip", "netns", "exec", NS}` starts it in network namespace NS; the launcher
  // must exec modeld, so that pid() is modeld's.
  explicit modeld_process(std::vector<std::string> extra_args = {}, std::string data_dir = {},
                          std::vector<std::string> launcher = {});
  ~modeld_process();
  modeld_process(const modeld_process&) = delete;
  modeld_process& operator=(const modeld_process&) = delete;

  std::uint16_t port() const { return port_; }
  // The port of `metrics listening on HOST:PORT` (with --metrics-listen), if modeld printed one.
  std::optional<std::uint16_t> metrics_port() const { return metrics_port_; }
  // The port of `node NAME listening on HOST:PORT` (with --node-listen), if modeld printed one.
  std::optional<std::uint16_t> node_port() const { return node_port_; }
  pid_t pid() const { return pid_; }
  const std::string& data_dir() const { return data_dir_; }
  // What modeld wrote to stderr so far.
  std::string stderr_text() const;

  // Sends `signal` and waits for exit; returns the exit code (-1 if it did not exit in time).
  int stop(int signal, std::chrono::milliseconds limit = std::chrono::seconds(20));
  bool running();

private:
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::optional<std::uint16_t> metrics_port_;
  std::optional<std::uint16_t> node_port_;
  std::string base_dir_;
  std::string data_dir_;
};

// Writes the demo model root (scripts/make_demo_models.py) into `dir`, torch files included.
void write_demo_models(const std::string& dir);

// A temp directory removed at destruction.
struct temp_dir {
  temp_dir();
  ~temp_dir();
  std::string path;
};

} // namespace modeld::test
