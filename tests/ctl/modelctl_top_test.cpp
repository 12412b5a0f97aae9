// modelctl top, the real binary on a real terminal: run inside tmux (a private server, a fixed
// size) against a real modeld, its screen read back with `tmux capture-pane` while modeld's
// devices crash and modeld itself goes away and comes back. Every wait is bounded.
#include "modelctl_runner.hpp"

#include "gpu/byte_size.hpp"
#include "tests/integration/load_server.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <functional>
#include <sstream>
#include <thread>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace modeld::test;
namespace json = boost::json;

namespace {

const std::string tmux_binary = "/usr/bin/tmux";
const std::string sd15 = "checkpoints/demo-sd15.safetensors";

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string quoted(const std::string& word) {
  std::string out = "'";
  for (char c : word)
    out += c == '\'' ? std::string{"'\\''"} : std::string(1, c);
  return out + "'";
}

// `modelctl ARGS` in a detached tmux session of its own server (-L: a private socket, so no
// user's tmux is touched), `width` x `height`. The shell prints modelctl's exit code and stays,
// so the pane can still be read after modelctl ended. The server is killed at destruction.
class tmux_pane {
public:
  tmux_pane(const std::vector<std::string>& args, int width, int height) {
    static std::atomic<int> sessions{0};
    socket_ = "modelctl-top-" + std::to_string(getpid()) + "-" + std::to_string(++sessions);
    std::string command = "/usr/bin/env -u MODELD_ADDR " + quoted(MODELCTL_BINARY);
    for (auto& a : args) { // appends, not " " + ...: g++ 12 -O3 warns (-Wrestrict, a false positive)
      command += ' ';
      command += quoted(a);
    }
    command += "; echo \"modelctl exited $?\"; sleep 600";
    auto started = tmux({"new-session", "-d", "-s", "top", "-x", std::to_string(width), "-y", std::to_string(height),
                         command});
    INFO(started.stderr_text);
    REQUIRE(started.exit_code == 0);
  }
  ~tmux_pane() { tmux({"kill-server"}); }
  tmux_pane(const tmux_pane&) = delete;
  tmux_pane& operator=(const tmux_pane&) = delete;

  std::string capture() { return tmux({"capture-pane", "-p", "-t", "top"}).stdout_text; }
  void send_keys(const std::string& keys) { tmux({"send-keys", "-t", "top", keys}); }

  // Captures the pane until `done` holds for it, at most `limit`; returns the last capture.
  std::string wait_until(const std::function<bool(const std::string&)>& done,
                         std::chrono::milliseconds limit = std::chrono::seconds(15)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    std::string shown = capture();
    while (!done(shown) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      shown = capture();
    }
    return shown;
  }

private:
  process_result tmux(std::vector<std::string> args) {
    // -f /dev/null: no user configuration; no TMUX, so that a test run inside tmux starts its own.
    args.insert(args.begin(), {"-u", "TMUX", tmux_binary, "-L", socket_, "-f", "/dev/null"});
    return run_program("/usr/bin/env", args, std::chrono::seconds(10));
  }

  std::string socket_;
};

// The words of the pane's line for `device_id` (DEVICE STATE BAR USED/BUDGET RESTARTS MODELS),
// empty when it is not shown.
std::vector<std::string> row_of(const std::string& pane, const std::string& device_id) {
  std::istringstream lines(pane);
  std::string line;
  while (std::getline(lines, line))
    if (line.rfind(device_id + " ", 0) == 0) {
      std::istringstream words(line);
      std::vector<std::string> out;
      for (std::string w; words >> w;)
        out.push_back(w);
      return out;
    }
  return {};
}

std::string state_of(const std::string& pane, const std::string& device_id) {
  auto row = row_of(pane, device_id);
  return row.size() >= 2 ? row[1] : "";
}

std::string restarts_of(const std::string& pane, const std::string& device_id) {
  auto row = row_of(pane, device_id);
  return row.size() >= 6 ? row[row.size() - 2] : "";
}

// A port on 127.0.0.1 that was free a moment ago, for a modeld that must come back on it.
std::uint16_t free_port() { return silent_port{false}.port; }

void require_tmux() {
  INFO("modelctl top is tested inside tmux, and " << tmux_binary
                                                  << " is missing: install it (scripts/install-deps.sh)");
  REQUIRE(std::filesystem::exists(tmux_binary));
}

} // namespace

TEST_CASE("modelctl top refuses without a terminal, and reports a server that is not there", "[ctl][top]") {
  auto piped = run_modelctl({"top"});
  CHECK(piped.exit_code == 2);
  CHECK(contains(piped.err, "modelctl: top needs a terminal"));
  CHECK(piped.out.empty());
  CHECK(run_modelctl({"top", "--json"}, {.terminal = true}).exit_code == 2);
  CHECK(run_modelctl({"top", "--interval-ms", "10"}, {.terminal = true}).exit_code == 2);

  modeld_process server;
  auto port = server.port();
  server.stop(SIGKILL);
  auto nobody = modelctl(port, {"top"}, {.terminal = true});
  CHECK(nobody.exit_code == 3);
  CHECK(contains(nobody.out, "modelctl: cannot connect to modeld at 127.0.0.1:" + std::to_string(port)));
}

TEST_CASE("modelctl top authenticates, refuses an unknown device, and gives the terminal back on Ctrl-C",
          "[ctl][top]") {
  temp_dir dir;
  write_file(dir.path + "/token", "s3cret\n");
  modeld_process server({"--auth-token-file", dir.path + "/token"});
  auto port = server.port();
  // `script` gives modelctl a terminal; its TERM is set here, as ctest may run without one.
  ctl_options on_terminal{.env = {"TERM=xterm"}, .terminal = true};

  auto without = modelctl(port, {"top"}, on_terminal);
  CHECK(without.exit_code == 1);
  CHECK(contains(without.out, "modelctl: UNAUTHENTICATED: "));
  auto unknown = modelctl(port, {"--token-file", dir.path + "/token", "top", "--device", "cpu:9"}, on_terminal);
  CHECK(unknown.exit_code == 1);
  CHECK(contains(unknown.out, "modelctl: DEVICE_NOT_FOUND: "));

  auto interrupted = on_terminal;
  interrupted.interrupt_after_s = 2.0;
  auto shown = modelctl(port, {"--token-file", dir.path + "/token", "top", "--interval-ms", "100"}, interrupted);
  INFO(shown.out);
  CHECK(shown.exit_code == 130);
  CHECK(contains(shown.out, "devices reachable"));
  // xterm's alternate screen was entered, and left again at the end.
  auto entered = shown.out.rfind("\x1b[?1049h");
  auto left = shown.out.rfind("\x1b[?1049l");
  REQUIRE(entered != std::string::npos);
  REQUIRE(left != std::string::npos);
  CHECK(left > entered);
}

TEST_CASE("modelctl top shows devices, a loaded model and a device crash live", "[ctl][top]") {
  require_tmux();
  load_server s("cpu:0=1GiB,cpu:1=1GiB,cpu:2=1GiB,cpu:3=1GiB", {"--enable-fault-injection"});
  auto loaded = data_of(s.call("post_model_load", {{"model_id", sd15}, {"device_id", "cpu:2"}}));
  auto size = modeld::gpu::format_byte_size(loaded.at("memory_used_bytes").to_number<std::uint64_t>());

  tmux_pane pane({"--port", std::to_string(s.server->port()), "top", "--interval-ms", "200"}, 160, 40);
  auto shown = pane.wait_until([&](const std::string& p) {
    return row_of(p, "cpu:3").size() >= 6 && contains(p, sd15) && contains(p, "loads 0.00");
  });
  INFO(shown);
  for (auto id : {"cpu:0", "cpu:1", "cpu:2", "cpu:3"}) {
    CHECK(state_of(shown, id) == "ready");
    CHECK(restarts_of(shown, id) == "0");
  }
  CHECK(contains(shown, "healthy  4/4 devices reachable  every 200 ms"));
  auto cpu2 = row_of(shown, "cpu:2");
  REQUIRE(cpu2.size() >= 6);
  CHECK(cpu2[cpu2.size() - 3] == size + "/1GiB");
  CHECK(cpu2.back() == "1");
  CHECK(contains(shown, "    " + sd15 + "  fp16"));
  CHECK(contains(shown, size + "  idle "));
  CHECK(row_of(shown, "cpu:1").back() == "0");

  data_of(s.call("inject_fault", {{"target", "device:cpu:1"}, {"mode", "crash"}}));
  // The supervisor restarts it after 100 ms: the screen shows it restarting, or, if that fell
  // between two events, the restart count that grew.
  auto crashed = pane.wait_until([](const std::string& p) {
    return state_of(p, "cpu:1") == "restarting" || restarts_of(p, "cpu:1") == "1";
  });
  INFO(crashed);
  CHECK((state_of(crashed, "cpu:1") == "restarting" || restarts_of(crashed, "cpu:1") == "1"));
  auto back = pane.wait_until([](const std::string& p) {
    return state_of(p, "cpu:1") == "ready" && restarts_of(p, "cpu:1") == "1";
  });
  INFO(back);
  CHECK(state_of(back, "cpu:1") == "ready");
  CHECK(restarts_of(back, "cpu:1") == "1");
  CHECK(contains(back, "cpu:1 restarted (restarts 1): "));
  CHECK(contains(back, "injected crash"));
  CHECK(restarts_of(back, "cpu:0") == "0");
  CHECK(row_of(back, "cpu:2")[row_of(back, "cpu:2").size() - 3] == size + "/1GiB"); // the others did not move

  pane.send_keys("q");
  auto ended = pane.wait_until([](const std::string& p) { return contains(p, "modelctl exited"); });
  INFO(ended);
  CHECK(contains(ended, "modelctl exited 0"));
}

TEST_CASE("modelctl top says it is disconnected, retries, and resubscribes to a restarted modeld", "[ctl][top]") {
  require_tmux();
  auto port = free_port();
  auto listen = "127.0.0.1:" + std::to_string(port);
  auto first = std::make_unique<modeld_process>(std::vector<std::string>{"--listen", listen});
  REQUIRE(first->port() == port);

  tmux_pane pane({"--port", std::to_string(port), "top", "--interval-ms", "200"}, 120, 30);
  auto shown = pane.wait_until([](const std::string& p) { return state_of(p, "cpu:1") == "ready"; });
  INFO(shown);
  CHECK(state_of(shown, "cpu:1") == "ready");
  CHECK(row_of(shown, "cpu:2").empty());

  first->stop(SIGKILL);
  auto lost = pane.wait_until([](const std::string& p) { return contains(p, "disconnected, retrying"); });
  INFO(lost);
  CHECK(contains(lost, "disconnected, retrying"));
  CHECK(contains(lost, "connection lost: "));

  // Another modeld on the same port, with a third device to tell it from the first.
  modeld_process second({"--listen", listen, "--devices", "cpu:0=1GiB,cpu:1=1GiB,cpu:2=1GiB"});
  auto again = pane.wait_until([](const std::string& p) {
    return state_of(p, "cpu:2") == "ready" && !contains(p, "disconnected");
  });
  INFO(again);
  CHECK(state_of(again, "cpu:2") == "ready");
  CHECK_FALSE(contains(again, "disconnected"));
  CHECK(contains(again, "connected to modeld at " + listen));

  pane.send_keys("q");
  CHECK(contains(pane.wait_until([](const std::string& p) { return contains(p, "modelctl exited"); }),
                 "modelctl exited 0"));
}
