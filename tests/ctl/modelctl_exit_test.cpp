// modelctl's exit codes (0 ok, 1 modeld's error, 2 usage, 3 transport, 130 Ctrl-C), its address
// rules (flags over MODELD_ADDR over the default), tokens, and the progress bar on a terminal.
#include "modelctl_runner.hpp"

#include "tests/integration/demo_server.hpp"
#include "tests/integration/json_checks.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>

using namespace modeld::test;
namespace json = boost::json;

namespace {

const std::string sd15 = "checkpoints/demo-sd15.safetensors";

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

} // namespace

TEST_CASE("usage errors exit 2 with a message; --help and --version exit 0", "[ctl]") {
  for (auto args : std::vector<std::vector<std::string>>{{},
                                                          {"frobnicate"},
                                                          {"load"},
                                                          {"models", "show"},
                                                          {"validate"},
                                                          {"validate", "x", "--level", "paranoid"},
                                                          {"validate", "x", "--path", "y"},
                                                          {"--port", "70000", "ping"},
                                                          {"--port", "seven", "ping"},
                                                          {"--timeout-ms", "0", "ping"},
                                                          {"ping", "--no-such-flag"},
                                                          {"models", "--limit", "5000"},
                                                          {"models", "--loaded", "--not-loaded"}}) {
    auto run = run_modelctl(args);
    INFO("modelctl " << [&] { std::string s; for (auto& a : args) s += a + " "; return s; }() << "\n" << run.err);
    CHECK(run.exit_code == 2);
    CHECK(contains(run.err, "modelctl: "));
    CHECK(run.out.empty());
  }
  auto garbage = run_modelctl({"ping"}, {.env = {"MODELD_ADDR=nonsense"}});
  CHECK(garbage.exit_code == 2);
  CHECK(contains(garbage.err, "modelctl: MODELD_ADDR 'nonsense' is not HOST:PORT"));
  auto missing_token = run_modelctl({"--token-file", "/nonexistent/token", "ping"});
  CHECK(missing_token.exit_code == 2);
  CHECK(contains(missing_token.err, "--token-file '/nonexistent/token' cannot be read"));

  auto help = run_modelctl({"--help"});
  CHECK(help.exit_code == 0);
  for (auto word : {"status", "devices", "models", "scan", "validate", "meta", "load", "unload", "cache", "bench",
                    "results", "fault", "ping", "MODELD_ADDR", "Exit codes"})
    CHECK(contains(help.out, word));
  CHECK(contains(run_modelctl({"load", "--help"}).out, "--evict"));
  CHECK(run_modelctl({"--version"}).out == "0.1.0\n");
}

TEST_CASE("no server, a lost connection or no answer in time exit 3", "[ctl]") {
  silent_port refused(false);
  auto nobody = run_modelctl({"--port", std::to_string(refused.port), "ping"});
  CHECK(nobody.exit_code == 3);
  CHECK(contains(nobody.err, "modelctl: cannot connect to modeld at 127.0.0.1:" + std::to_string(refused.port)));
  CHECK(nobody.out.empty());

  silent_port mute(true);
  auto started = std::chrono::steady_clock::now();
  auto unanswered = run_modelctl({"--port", std::to_string(mute.port), "--timeout-ms", "200", "status"});
  CHECK(unanswered.exit_code == 3);
  CHECK(contains(unanswered.err, "timed out waiting for the answer"));
  // 200 ms plus the 2 s modelctl allows for modeld's own TIMEOUT answer, and no more.
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(6));

  modeld_process server;
  auto port = server.port();
  CHECK(modelctl(port, {"ping"}).exit_code == 0);
  server.stop(SIGKILL);
  CHECK(modelctl(port, {"ping"}).exit_code == 3);
}

TEST_CASE("MODELD_ADDR is the default address; --host and --port win over it", "[ctl]") {
  modeld_process server;
  auto live = "127.0.0.1:" + std::to_string(server.port());
  silent_port refused(false);
  auto dead = "127.0.0.1:" + std::to_string(refused.port);

  auto from_env = run_modelctl({"ping"}, {.env = {"MODELD_ADDR=" + live}});
  CHECK(from_env.exit_code == 0);
  CHECK(contains(from_env.out, "modeld at " + live + " answered"));
  CHECK(run_modelctl({"--port", std::to_string(server.port()), "ping"}, {.env = {"MODELD_ADDR=" + dead}}).exit_code == 0);
  CHECK(run_modelctl({"--port", std::to_string(refused.port), "ping"}, {.env = {"MODELD_ADDR=" + live}}).exit_code == 3);
  CHECK(run_modelctl({"--host", "localhost", "ping"}, {.env = {"MODELD_ADDR=10.255.255.1:" + std::to_string(server.port())}})
          .exit_code == 0);
}

TEST_CASE("--token-file authenticates with hello; without it modeld refuses (exit 1)", "[ctl]") {
  temp_dir dir;
  write_file(dir.path + "/token", "s3cret\n");
  write_file(dir.path + "/wrong", "guess\n");
  modeld_process server({"--auth-token-file", dir.path + "/token"});
  auto port = server.port();

  CHECK(json_of(modelctl(port, {"--token-file", dir.path + "/token", "devices", "--json"})).at("devices").as_array().size() == 2);
  auto without = modelctl(port, {"devices"});
  CHECK(without.exit_code == 1);
  CHECK(contains(without.err, "modelctl: UNAUTHENTICATED: "));
  CHECK(contains(without.err, "pass --token-file FILE"));
  auto wrong = modelctl(port, {"--token-file", dir.path + "/wrong", "devices"});
  CHECK(wrong.exit_code == 1);
  CHECK(contains(wrong.err, "modelctl: UNAUTHENTICATED: hello carried no valid token"));
}

TEST_CASE("a progress bar on a terminal only; Ctrl-C cancels the request in flight", "[ctl]") {
  demo_server s({"--enable-fault-injection"});
  auto port = s.server->port();

  auto piped = modelctl(port, {"load", sd15, "--device", "cpu:0"});
  CHECK(piped.exit_code == 0);
  CHECK(piped.err.empty()); // no bar, no carriage returns in a log
  data_of(s.call("post_model_unload", {}));
  data_of(s.call("delete_model_cache", {}));

  auto on_terminal = modelctl(port, {"load", sd15, "--device", "cpu:1"}, {.terminal = true});
  CHECK(on_terminal.exit_code == 0);
  INFO(on_terminal.out);
  CHECK(contains(on_terminal.out, "reading ["));
  CHECK(contains(on_terminal.out, "100%"));
  CHECK(contains(on_terminal.out, "\r\033[K")); // the bar is erased before the answer prints
  CHECK(contains(on_terminal.out, "loaded " + sd15 + " on cpu:1"));

  // A hung device holds the load; Ctrl-C sends cancel and modeld answers CANCELLED at once.
  data_of(s.call("inject_fault", {{"target", "device:cpu:0"}, {"mode", "hang"}, {"duration_ms", 20000}}));
  auto started = std::chrono::steady_clock::now();
  auto interrupted = modelctl(port, {"load", "vae/demo-vae.safetensors", "--device", "cpu:0"},
                              {.terminal = true, .interrupt_after_s = 1.0});
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(8));
  INFO(interrupted.out);
  CHECK(interrupted.exit_code == 130);
  CHECK(contains(interrupted.out, "modelctl: interrupted: sent cancel for request modelctl-"));
  CHECK(contains(interrupted.out, "modeld answered CANCELLED"));
  auto loaded = data_of(s.call("get_models", {{"loaded", true}}));
  CHECK(loaded.at("total") == 1); // sd15 on cpu:1 only: the cancelled load did not happen
}
