#include "modelctl_runner.hpp"

#include "tests/integration/modeld_process.hpp"

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace modeld::test {
namespace {

std::string shell_quoted(const std::string& word) {
  std::string quoted = "'";
  for (char c : word)
    quoted += c == '\'' ? std::string{"'\\''"} : std::string(1, c);
  return quoted + "'";
}

} // namespace

ctl_result run_modelctl(const std::vector<std::string>& args, const ctl_options& options) {
  std::vector<std::string> command{"/usr/bin/env", "-u", "MODELD_ADDR"};
  command.insert(command.end(), options.env.begin(), options.env.end());
  if (options.interrupt_after_s) // --preserve-status: modelctl's own exit code, not timeout's 124
    command.insert(command.end(), {"/usr/bin/timeout", "--preserve-status", "-s", "INT",
                                   std::to_string(*options.interrupt_after_s)});
  command.push_back(MODELCTL_BINARY);
  command.insert(command.end(), args.begin(), args.end());
  process_result run;
  if (options.terminal) {
    std::string line = "exec";
    for (auto& word : command) { // appends, not " " + ...: g++ 12 -O3 warns (-Wrestrict, a false positive)
      line += ' ';
      line += shell_quoted(word);
    }
    run = run_program("/usr/bin/script", {"-qec", line, "/dev/null"}, options.limit);
  } else {
    run = run_program(command.front(), {command.begin() + 1, command.end()}, options.limit);
  }
  return {run.exit_code, run.stdout_text, run.stderr_text};
}

ctl_result modelctl(std::uint16_t port, std::vector<std::string> args, const ctl_options& options) {
  args.insert(args.begin(), {"--port", std::to_string(port)});
  return run_modelctl(args, options);
}

std::string field_of(const std::string& out, const std::string& key) {
  std::size_t at = 0;
  while (at < out.size()) {
    auto end = out.find('\n', at);
    auto line = out.substr(at, end == std::string::npos ? std::string::npos : end - at);
    if (line.rfind(key + ":", 0) == 0) {
      auto value = line.substr(key.size() + 1);
      value.erase(0, value.find_first_not_of(' '));
      value.erase(value.find_last_not_of(" \r") + 1);
      return value;
    }
    if (end == std::string::npos)
      break;
    at = end + 1;
  }
  return "(no such line)";
}

boost::json::value json_of(const ctl_result& result) {
  INFO("stdout: " << result.out << "\nstderr: " << result.err);
  REQUIRE(result.exit_code == 0);
  REQUIRE(!result.out.empty());
  REQUIRE(result.out.back() == '\n');
  REQUIRE(result.out.find('\n') == result.out.size() - 1); // one document, one line
  return boost::json::parse(result.out);
}

silent_port::silent_port(bool listening) {
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  socklen_t length = sizeof address;
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0);
  port = ntohs(address.sin_port);
  if (listening)
    REQUIRE(listen(fd, 8) == 0);
}

silent_port::~silent_port() { close(fd); }

} // namespace modeld::test
