// protocol_load: a closed-loop load generator for modeld's NDJSON wire protocol.
//
// Each of --connections TCP connections keeps --pipeline requests outstanding:
//   {"request_id":"c<conn>-<n>","command":"<cmd>","data":<data>}\n
// and reads newline-delimited responses. Every response must carry the request_id of an
// outstanding request on that connection (pipelined answers may come in any order) and
// "success":true; anything else counts as an error. Latency is send -> response, on
// steady_clock. Responses that arrive during the first --warmup seconds are checked but not
// measured; the next --duration seconds are measured; then no new requests are sent and the
// outstanding ones are drained (bounded by --drain-timeout).
//
// Output, one line on stdout:
//   command=ping connections=50 pipeline=1 requests=N errors=E req_per_s=X p50_ms=.. p99_ms=..
//   p999_ms=.. (plus threads, mean_ms and max_ms)
// Exit status: 0 when responses came and none was wrong, 1 otherwise, 2 on bad usage.
//
// Build standalone: g++ -std=c++20 -O2 -DASIO_STANDALONE protocol_load.cpp -pthread

#ifndef ASIO_STANDALONE
#define ASIO_STANDALONE
#endif
#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using asio::ip::tcp;
constexpr auto use_nothrow = asio::experimental::as_tuple(asio::use_awaitable);

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  int connections = 50;
  int pipeline = 1;
  double duration_s = 5.0;
  double warmup_s = 1.0;
  double drain_timeout_s = 5.0;
  std::string command = "ping";
  std::string data = "{}";
  int threads = 1;
  int show_errors = 5;  // how many error descriptions to print on stderr
};

[[noreturn]] void usage(const char* argv0, const std::string& why) {
  if (!why.empty()) std::cerr << "protocol_load: " << why << "\n";
  std::cerr << "usage: " << argv0
            << " --port PORT [--host 127.0.0.1] [--connections 50] [--pipeline 1]\n"
               "       [--duration 5] [--warmup 1] [--command ping] [--data '{}'] [--threads 1]\n"
               "       [--drain-timeout 5] [--show-errors 5]\n";
  std::exit(2);
}

template <class T>
T parse_number(const char* argv0, std::string_view flag, std::string_view text) {
  T value{};
  if constexpr (std::is_floating_point_v<T>) {
    char* end = nullptr;
    std::string s(text);
    value = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0') usage(argv0, "bad number for " + std::string(flag));
  } else {
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || p != text.data() + text.size())
      usage(argv0, "bad number for " + std::string(flag));
  }
  return value;
}

Options parse_args(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string_view value;
    bool has_inline = false;
    if (auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_inline = true;
    }
    if (arg == "-h" || arg == "--help") usage(argv[0], "");
    auto next = [&]() -> std::string_view {
      if (has_inline) return value;
      if (i + 1 >= argc) usage(argv[0], "missing value for " + std::string(arg));
      return argv[++i];
    };
    if (arg == "--host") o.host = next();
    else if (arg == "--port") o.port = parse_number<std::uint16_t>(argv[0], arg, next());
    else if (arg == "--connections") o.connections = parse_number<int>(argv[0], arg, next());
    else if (arg == "--pipeline") o.pipeline = parse_number<int>(argv[0], arg, next());
    else if (arg == "--duration") o.duration_s = parse_number<double>(argv[0], arg, next());
    else if (arg == "--warmup") o.warmup_s = parse_number<double>(argv[0], arg, next());
    else if (arg == "--drain-timeout") o.drain_timeout_s = parse_number<double>(argv[0], arg, next());
    else if (arg == "--command") o.command = next();
    else if (arg == "--data") o.data = next();
    else if (arg == "--threads") o.threads = parse_number<int>(argv[0], arg, next());
    else if (arg == "--show-errors") o.show_errors = parse_number<int>(argv[0], arg, next());
    else usage(argv[0], "unknown argument " + std::string(arg));
  }
  if (o.port == 0) usage(argv[0], "--port is required");
  if (o.connections < 1) usage(argv[0], "--connections must be >= 1");
  if (o.pipeline < 1) usage(argv[0], "--pipeline must be >= 1");
  if (o.threads < 1) usage(argv[0], "--threads must be >= 1");
  if (o.duration_s <= 0) usage(argv[0], "--duration must be > 0");
  if (o.warmup_s < 0) usage(argv[0], "--warmup must be >= 0");
  if (o.command.empty() || o.command.find_first_of("\"\\\n") != std::string::npos)
    usage(argv[0], "--command must be a plain name");
  {
    auto d = std::string_view(o.data);
    while (!d.empty() && (d.front() == ' ' || d.front() == '\t')) d.remove_prefix(1);
    while (!d.empty() && (d.back() == ' ' || d.back() == '\t')) d.remove_suffix(1);
    if (d.size() < 2 || d.front() != '{' || d.back() != '}' ||
        o.data.find_first_of("\r\n") != std::string::npos)
      usage(argv[0], "--data must be a one-line JSON object");
    o.data = std::string(d);
  }
  return o;
}

// Shared run parameters, fixed before any connection starts.
struct Plan {
  const Options* opt;
  tcp::endpoint endpoint;
  Clock::time_point warm_end;  // measuring starts
  Clock::time_point end;       // no new requests after this
  Clock::time_point deadline;  // sockets are closed by force after this
};

// Per-thread results; merged after the threads join.
struct Stats {
  std::vector<std::int64_t> latencies_ns;  // measured window only
  std::uint64_t measured = 0;              // responses that arrived in the window
  std::uint64_t total_ok = 0;              // all good responses, warmup and drain included
  std::uint64_t errors = 0;
  std::vector<std::string> error_samples;
  int max_samples = 0;

  void error(std::string what) {
    ++errors;
    if (static_cast<int>(error_samples.size()) < max_samples) error_samples.push_back(std::move(what));
  }
};

// Returns the string value of top-level-looking key `"key"` in `line`, or nullopt-like empty
// with found=false. Cheap scan: first occurrence of the quoted key followed by ':'.
bool find_string_field(std::string_view line, std::string_view quoted_key, std::string_view& out) {
  std::size_t pos = 0;
  while ((pos = line.find(quoted_key, pos)) != std::string_view::npos) {
    std::size_t p = pos + quoted_key.size();
    while (p < line.size() && (line[p] == ' ' || line[p] == '\t')) ++p;
    if (p < line.size() && line[p] == ':') {
      ++p;
      while (p < line.size() && (line[p] == ' ' || line[p] == '\t')) ++p;
      if (p >= line.size() || line[p] != '"') return false;
      ++p;
      std::size_t close = line.find('"', p);
      if (close == std::string_view::npos) return false;
      out = line.substr(p, close - p);
      return true;
    }
    pos = p;
  }
  return false;
}

bool success_is_true(std::string_view line) {
  constexpr std::string_view key = "\"success\"";
  std::size_t pos = 0;
  while ((pos = line.find(key, pos)) != std::string_view::npos) {
    std::size_t p = pos + key.size();
    while (p < line.size() && (line[p] == ' ' || line[p] == '\t')) ++p;
    if (p < line.size() && line[p] == ':') {
      ++p;
      while (p < line.size() && (line[p] == ' ' || line[p] == '\t')) ++p;
      return line.substr(p).starts_with("true");
    }
    pos = p;
  }
  return false;
}

std::string shorten(std::string_view s, std::size_t n = 300) {
  if (s.size() <= n) return std::string(s);
  return std::string(s.substr(0, n)) + "...";
}

struct Outstanding {
  std::uint64_t seq;
  Clock::time_point sent;
};

// One connection's state. The socket lives here so the per-thread watchdog can close it.
struct Conn {
  Conn(asio::io_context& ctx, int id) : socket(ctx), id(id) {}
  tcp::socket socket;
  int id;
  bool done = false;
};

class Worker {
 public:
  Worker(const Plan& plan, std::vector<int> conn_ids)
      : plan_(plan), watchdog_(ctx_), conn_ids_(std::move(conn_ids)) {
    stats_.max_samples = plan.opt->show_errors;
    // Preallocate for the expected sample count, generously; push_back grows beyond if needed.
    stats_.latencies_ns.reserve(1u << 20);
  }

  void run() {
    live_ = static_cast<int>(conn_ids_.size());
    for (int id : conn_ids_) {
      conns_.push_back(std::make_unique<Conn>(ctx_, id));
      asio::co_spawn(ctx_, connection(*conns_.back()), asio::detached);
    }
    watchdog_.expires_at(plan_.deadline);
    watchdog_.async_wait([this](const asio::error_code& ec) {
      if (ec) return;
      timed_out_ = true;
      for (auto& c : conns_) {
        asio::error_code ignored;
        if (!c->done) c->socket.close(ignored);
      }
    });
    ctx_.run();
  }

  Stats& stats() { return stats_; }

 private:
  void finished(Conn& c) {
    c.done = true;
    if (--live_ == 0) watchdog_.cancel();
  }

  asio::awaitable<void> connection(Conn& c) {
    const Options& opt = *plan_.opt;
    const std::string prefix = "{\"request_id\":\"c" + std::to_string(c.id) + "-";
    const std::string suffix = "\",\"command\":\"" + opt.command + "\",\"data\":" + opt.data + "}\n";
    const std::string id_prefix = "c" + std::to_string(c.id) + "-";

    // socket.async_connect, not asio::async_connect: binding the returned endpoint in a
    // coroutine frame trips GCC 12 ("array used as initializer").
    auto [cerr_] = co_await c.socket.async_connect(plan_.endpoint, use_nothrow);
    if (cerr_) {
      stats_.error("connection " + std::to_string(c.id) + ": connect: " + cerr_.message());
      finished(c);
      co_return;
    }
    asio::error_code ignored;
    c.socket.set_option(tcp::no_delay(true), ignored);

    std::vector<Outstanding> outstanding;
    outstanding.reserve(static_cast<std::size_t>(opt.pipeline));
    std::uint64_t next_seq = 0;
    std::string wbuf;
    wbuf.reserve((prefix.size() + suffix.size() + 20) * static_cast<std::size_t>(opt.pipeline));
    std::vector<char> rbuf(64 * 1024);
    std::size_t rbegin = 0, rend = 0;
    std::array<char, 24> digits{};

    for (;;) {
      // Top up to `pipeline` outstanding requests, unless the measured window is over.
      auto now = Clock::now();
      if (now < plan_.end && static_cast<int>(outstanding.size()) < opt.pipeline) {
        wbuf.clear();
        while (static_cast<int>(outstanding.size()) < opt.pipeline) {
          std::uint64_t seq = next_seq++;
          auto [p, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), seq);
          (void)ec;
          wbuf += prefix;
          wbuf.append(digits.data(), p);
          wbuf += suffix;
          outstanding.push_back({seq, now});
        }
        auto [werr, n] = co_await asio::async_write(c.socket, asio::buffer(wbuf), use_nothrow);
        (void)n;
        if (werr) {
          stats_.error("connection " + std::to_string(c.id) + ": write: " + werr.message());
          break;
        }
      }
      if (outstanding.empty()) break;  // window over and everything answered

      // Read until at least one complete line is buffered.
      std::size_t scan_from = rbegin;
      std::size_t nl;
      for (;;) {
        auto* found = static_cast<char*>(std::memchr(rbuf.data() + scan_from, '\n', rend - scan_from));
        if (found) {
          nl = static_cast<std::size_t>(found - rbuf.data());
          break;
        }
        scan_from = rend;
        if (rend == rbuf.size()) {
          if (rbegin > 0) {  // compact
            std::memmove(rbuf.data(), rbuf.data() + rbegin, rend - rbegin);
            scan_from -= rbegin;
            rend -= rbegin;
            rbegin = 0;
          } else {
            rbuf.resize(rbuf.size() * 2);  // a line longer than the buffer
          }
        }
        auto [rerr, n] = co_await c.socket.async_read_some(
            asio::buffer(rbuf.data() + rend, rbuf.size() - rend), use_nothrow);
        if (rerr) {
          if (timed_out_)
            stats_.error("connection " + std::to_string(c.id) + ": " +
                         std::to_string(outstanding.size()) + " request(s) unanswered at the deadline");
          else
            stats_.error("connection " + std::to_string(c.id) + ": read: " + rerr.message() + " with " +
                         std::to_string(outstanding.size()) + " request(s) outstanding");
          stats_.errors += outstanding.size() > 0 ? outstanding.size() - 1 : 0;
          finished(c);
          co_return;
        }
        rend += n;
      }

      // Handle every complete line in the buffer.
      auto recv = Clock::now();
      bool in_window = recv >= plan_.warm_end && recv < plan_.end;
      while (true) {
        std::string_view line(rbuf.data() + rbegin, nl - rbegin);
        rbegin = nl + 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (!line.empty()) {
          std::string_view rid;
          if (!find_string_field(line, "\"request_id\"", rid)) {
            stats_.error("connection " + std::to_string(c.id) + ": response without request_id: " +
                         shorten(line));
          } else {
            std::uint64_t seq = 0;
            bool parsed = false;
            if (rid.starts_with(id_prefix)) {
              auto digits_sv = rid.substr(id_prefix.size());
              auto [p, ec] = std::from_chars(digits_sv.data(), digits_sv.data() + digits_sv.size(), seq);
              parsed = ec == std::errc{} && p == digits_sv.data() + digits_sv.size();
            }
            auto it = parsed ? std::find_if(outstanding.begin(), outstanding.end(),
                                            [seq](const Outstanding& o) { return o.seq == seq; })
                             : outstanding.end();
            if (it == outstanding.end()) {
              stats_.error("connection " + std::to_string(c.id) + ": response for unknown request_id '" +
                           std::string(rid) + "': " + shorten(line));
            } else {
              auto sent = it->sent;
              *it = outstanding.back();
              outstanding.pop_back();
              if (!success_is_true(line)) {
                // Show the error object rather than a long data prefix.
                auto at = line.find("\"error\"");
                stats_.error("connection " + std::to_string(c.id) + ": not successful: " +
                             (at == std::string_view::npos ? shorten(line) : "..." + shorten(line.substr(at))));
              } else {
                ++stats_.total_ok;
                if (in_window) {
                  ++stats_.measured;
                  stats_.latencies_ns.push_back(
                      std::chrono::duration_cast<std::chrono::nanoseconds>(recv - sent).count());
                }
              }
            }
          }
        }
        auto* found = static_cast<char*>(std::memchr(rbuf.data() + rbegin, '\n', rend - rbegin));
        if (!found) break;
        nl = static_cast<std::size_t>(found - rbuf.data());
      }
      if (rbegin == rend) rbegin = rend = 0;
    }

    c.socket.shutdown(tcp::socket::shutdown_both, ignored);
    c.socket.close(ignored);
    finished(c);
  }

  const Plan& plan_;
  asio::io_context ctx_{1};
  asio::steady_timer watchdog_;
  std::vector<int> conn_ids_;
  std::vector<std::unique_ptr<Conn>> conns_;  // destroyed before ctx_ (declared after it)
  Stats stats_;
  int live_ = 0;
  bool timed_out_ = false;
};

double percentile_ms(const std::vector<std::int64_t>& sorted, double q) {
  if (sorted.empty()) return 0.0;
  auto idx = static_cast<std::size_t>(q * static_cast<double>(sorted.size() - 1) + 0.5);
  idx = std::min(idx, sorted.size() - 1);
  return static_cast<double>(sorted[idx]) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = parse_args(argc, argv);

  Plan plan;
  plan.opt = &opt;
  {
    asio::error_code ec;
    auto addr = asio::ip::make_address(opt.host, ec);
    if (ec) {
      asio::io_context tmp;
      tcp::resolver resolver(tmp);
      auto results = resolver.resolve(opt.host, std::to_string(opt.port), ec);
      if (ec || results.empty()) {
        std::cerr << "protocol_load: cannot resolve " << opt.host << ": " << ec.message() << "\n";
        return 1;
      }
      plan.endpoint = results.begin()->endpoint();
    } else {
      plan.endpoint = tcp::endpoint(addr, opt.port);
    }
  }

  const int threads = std::min(opt.threads, opt.connections);
  std::vector<std::vector<int>> ids(static_cast<std::size_t>(threads));
  for (int i = 0; i < opt.connections; ++i) ids[static_cast<std::size_t>(i % threads)].push_back(i);

  auto start = Clock::now();
  auto secs = [](double s) { return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)); };
  plan.warm_end = start + secs(opt.warmup_s);
  plan.end = plan.warm_end + secs(opt.duration_s);
  plan.deadline = plan.end + secs(opt.drain_timeout_s);

  std::vector<std::unique_ptr<Worker>> workers;
  for (auto& v : ids) workers.push_back(std::make_unique<Worker>(plan, std::move(v)));
  std::vector<std::thread> pool;
  for (std::size_t i = 1; i < workers.size(); ++i) pool.emplace_back([&w = *workers[i]] { w.run(); });
  workers[0]->run();
  for (auto& t : pool) t.join();

  // Merge.
  std::vector<std::int64_t> lat;
  std::uint64_t measured = 0, total_ok = 0, errors = 0;
  std::vector<std::string> samples;
  for (auto& w : workers) {
    auto& s = w->stats();
    measured += s.measured;
    total_ok += s.total_ok;
    errors += s.errors;
    lat.insert(lat.end(), s.latencies_ns.begin(), s.latencies_ns.end());
    for (auto& e : s.error_samples)
      if (static_cast<int>(samples.size()) < opt.show_errors) samples.push_back(e);
  }
  std::sort(lat.begin(), lat.end());
  double mean_ms = 0;
  if (!lat.empty()) {
    long double sum = 0;
    for (auto v : lat) sum += v;
    mean_ms = static_cast<double>(sum / lat.size() / 1e6L);
  }

  for (auto& e : samples) std::cerr << "protocol_load: error: " << e << "\n";
  if (errors > samples.size() && !samples.empty())
    std::cerr << "protocol_load: ... " << (errors - samples.size()) << " more error(s)\n";

  std::printf(
      "command=%s connections=%d pipeline=%d requests=%llu errors=%llu req_per_s=%.1f "
      "p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f threads=%d mean_ms=%.3f max_ms=%.3f\n",
      opt.command.c_str(), opt.connections, opt.pipeline, static_cast<unsigned long long>(measured),
      static_cast<unsigned long long>(errors), static_cast<double>(measured) / opt.duration_s,
      percentile_ms(lat, 0.50), percentile_ms(lat, 0.99), percentile_ms(lat, 0.999), threads, mean_ms,
      lat.empty() ? 0.0 : static_cast<double>(lat.back()) / 1e6);
  std::fflush(stdout);

  if (measured == 0 || total_ok == 0) {
    std::cerr << "protocol_load: no responses in the measured window\n";
    return 1;
  }
  return errors == 0 ? 0 : 1;
}
