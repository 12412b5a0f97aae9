#include "modeld_process.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string_view>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

namespace modeld::test {
namespace fs = std::filesystem;
namespace {

using clock = std::chrono::steady_clock;

pid_t spawn(std::string binary, const std::vector<std::string>& args, int stdout_fd, int stderr_fd) {
  std::vector<char*> argv;
  argv.push_back(binary.data());
  std::vector<std::string> copies = args;
  for (auto& a : copies)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(stdout_fd, STDOUT_FILENO);
    dup2(stderr_fd, STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, STDIN_FILENO);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

// Waits for `pid` up to `limit`; returns its exit code, or nullopt if it is still running.
std::optional<int> wait_for(pid_t pid, std::chrono::milliseconds limit) {
  auto deadline = clock::now() + limit;
  while (true) {
    int status = 0;
    pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid)
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (clock::now() >= deadline)
      return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// Appends what `fd` has now to `text`; false at end of file.
bool read_available(int fd, std::string& text) {
  std::array<char, 4096> buffer{};
  auto n = read(fd, buffer.data(), buffer.size());
  if (n <= 0)
    return false;
  text.append(buffer.data(), static_cast<std::size_t>(n));
  return true;
}

// The first complete line of `text` that starts with `prefix`.
std::optional<std::string> line_starting(const std::string& text, std::string_view prefix) {
  std::size_t start = 0;
  for (auto end = text.find('\n'); end != std::string::npos; start = end + 1, end = text.find('\n', start))
    if (text.compare(start, prefix.size(), prefix) == 0)
      return text.substr(start, end - start);
  return std::nullopt;
}

// The port of a `... HOST:PORT` line.
std::uint16_t port_of(const std::string& line) {
  return static_cast<std::uint16_t>(std::stoi(line.substr(line.rfind(':') + 1)));
}

std::string make_temp_dir() {
  std::string pattern = (fs::temp_directory_path() / "modeld-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr)
    throw std::runtime_error("mkdtemp failed");
  return pattern;
}

} // namespace

temp_dir::temp_dir() : path(make_temp_dir()) {}
temp_dir::~temp_dir() {
  std::error_code ec;
  fs::remove_all(path, ec);
}

process_result run_program(const std::string& binary, const std::vector<std::string>& args,
                           std::chrono::milliseconds limit) {
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe failed");
  pid_t pid = spawn(binary, args, out_pipe[1], err_pipe[1]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  process_result result;
  // Read both streams until both end (the program and whatever inherited them exited) or the
  // limit passes.
  std::array<pollfd, 2> streams{pollfd{out_pipe[0], POLLIN, 0}, pollfd{err_pipe[0], POLLIN, 0}};
  std::array<std::string*, 2> texts{&result.stdout_text, &result.stderr_text};
  auto deadline = clock::now() + limit;
  while ((streams[0].fd >= 0 || streams[1].fd >= 0) && clock::now() < deadline) {
    if (poll(streams.data(), streams.size(), 20) <= 0)
      continue;
    for (std::size_t i = 0; i < streams.size(); ++i)
      if (streams[i].fd >= 0 && (streams[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0 &&
          !read_available(streams[i].fd, *texts[i]))
        streams[i].fd = -1; // poll skips negative descriptors
  }
  auto code = wait_for(pid, std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::max(clock::duration::zero(), deadline - clock::now())));
  if (!code) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  result.exit_code = code.value_or(-1);
  close(out_pipe[0]);
  close(err_pipe[0]);
  return result;
}

process_result run_modeld(const std::vector<std::string>& args, std::chrono::milliseconds limit) {
  return run_program(MODELD_BINARY, args, limit);
}

void write_demo_models(const std::string& dir) {
  auto command = std::string{"python3 "} + MODELD_SOURCE_DIR + "/scripts/make_demo_models.py " + dir + " >/dev/null";
  REQUIRE(std::system(command.c_str()) == 0);
  // The script leaves the torch files out, and says so, where /usr/bin/python3 has no torch;
  // the tests of those files must then fail, not pass without them.
  for (auto file : {"checkpoints/tiny-sd-unet.ckpt", "torchscript/tiny-mlp.pt"}) {
    INFO(file << " was not written: /usr/bin/python3 needs torch (python3-torch, scripts/install-deps.sh)");
    REQUIRE(fs::exists(fs::path(dir) / file));
  }
}

modeld_process::modeld_process(std::vector<std::string> extra_args, std::string data_dir,
                               std::vector<std::string> launcher) {
  base_dir_ = make_temp_dir();
  data_dir_ = data_dir.empty() ? base_dir_ + "/data" : data_dir;
  auto model_root = base_dir_ + "/models";
  fs::create_directories(model_root);
  std::vector<std::string> args{"--data-dir", data_dir_, "--model-root", model_root};
  bool has_devices = false, has_listen = false;
  for (auto& a : extra_args) {
    has_devices = has_devices || a == "--devices";
    has_listen = has_listen || a == "--listen";
  }
  if (!has_listen)
    args.insert(args.end(), {"--listen", "127.0.0.1:0"});
  if (!has_devices)
    args.insert(args.end(), {"--devices", "cpu:0=1GiB,cpu:1=1GiB"});
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  int out_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error("pipe failed");
  int log = open((base_dir_ + "/stderr.log").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (!launcher.empty()) {
    args.insert(args.begin(), MODELD_BINARY);
    args.insert(args.begin(), launcher.begin() + 1, launcher.end());
  }
  pid_ = spawn(launcher.empty() ? MODELD_BINARY : launcher.front(), args, out_pipe[1], log);
  close(out_pipe[1]);
  close(log);
  // Read stdout until the `listening on HOST:PORT` line, at most 30 s. With --metrics-listen a
  // `metrics listening on HOST:PORT` line comes before it.
  std::string seen;
  auto deadline = clock::now() + std::chrono::seconds(30);
  while (clock::now() < deadline && !line_starting(seen, "listening on ")) {
    pollfd p{out_pipe[0], POLLIN, 0};
    if (poll(&p, 1, 100) > 0) {
      char buffer[256];
      auto n = read(out_pipe[0], buffer, sizeof buffer);
      if (n <= 0)
        break;
      seen.append(buffer, static_cast<std::size_t>(n));
    }
  }
  close(out_pipe[0]);
  auto listening = line_starting(seen, "listening on ");
  if (!listening) {
    stop(SIGKILL);
    FAIL("modeld did not start; stdout: " << seen << "; stderr: " << stderr_text());
  }
  port_ = port_of(*listening);
  if (auto metrics = line_starting(seen, "metrics listening on "))
    metrics_port_ = port_of(*metrics);
  if (auto node = line_starting(seen, "node "); node && node->find(" listening on ") != std::string::npos)
    node_port_ = port_of(*node);
}

modeld_process::~modeld_process() {
  if (pid_ > 0)
    stop(SIGKILL);
  std::error_code ec;
  fs::remove_all(base_dir_, ec);
}

int modeld_process::stop(int signal, std::chrono::milliseconds limit) {
  if (pid_ <= 0)
    return -1;
  kill(pid_, signal);
  auto code = wait_for(pid_, limit);
  if (!code) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  pid_ = -1;
  return code.value_or(-1);
}

std::string modeld_process::stderr_text() const {
  std::ifstream log(base_dir_ + "/stderr.log");
  return {std::istreambuf_iterator<char>(log), std::istreambuf_iterator<char>()};
}

bool modeld_process::running() {
  return pid_ > 0 && waitpid(pid_, nullptr, WNOHANG) == 0;
}

} // namespace modeld::test
