#include "ctl/top.hpp"

#include "ctl/exit_codes.hpp"
#include "ctl/human.hpp"
#include "ctl/top_layout.hpp"
#include "ctl/top_model.hpp"
#include "ctl/top_view.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <csignal>
#include <iostream>
#include <limits>
#include <memory>
#include <variant>

#include <unistd.h>

namespace modeld::ctl {
namespace json = boost::json;
namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// One turn of the loop waits this long for modeld before it reads the keys: the keys' latency.
constexpr milliseconds turn{100};
// While the screen is up, a reconnection attempt holds the keys: keep it short. modeld answers
// hello and subscribe_status at once (status is published state), so 1 s is ample; the client
// adds its 2 s grace.
constexpr milliseconds reconnect_connect_limit{2000};
constexpr milliseconds reconnect_request_limit{1000};
// Reconnection backoff: doubling from the first to the last, then staying there.
constexpr milliseconds first_backoff{250};
constexpr milliseconds max_backoff{5000};

// Set by SIGINT, SIGTERM and SIGHUP: the loop ends and the terminal is restored, which their
// default action (ending the process in curses mode) would not do.
volatile std::sig_atomic_t stop_signal = 0;

extern "C" void note_stop_signal(int signal) { stop_signal = signal; }

class stop_signals {
public:
  stop_signals() {
    struct sigaction action {};
    action.sa_handler = note_stop_signal;
    sigemptyset(&action.sa_mask);
    for (std::size_t i = 0; i < std::size(signals_); ++i)
      sigaction(signals_[i], &action, &previous_[i]);
  }
  ~stop_signals() {
    for (std::size_t i = 0; i < std::size(signals_); ++i)
      sigaction(signals_[i], &previous_[i], nullptr);
  }
  stop_signals(const stop_signals&) = delete;
  stop_signals& operator=(const stop_signals&) = delete;

private:
  static constexpr int signals_[] = {SIGINT, SIGTERM, SIGHUP};
  struct sigaction previous_[std::size(signals_)] {};
};

std::int64_t wall_ms() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct subscription {
  std::unique_ptr<client> connection;
  std::string id;
  milliseconds interval;
};

// Connects, authenticates and subscribes; modeld's refusal comes back as its answer line.
// Throws transport_error.
std::variant<subscription, json::object> subscribe(const global_options& options, const top_options& top,
                                                   const std::optional<std::string>& token, milliseconds connect_limit,
                                                   milliseconds request_limit) {
  auto connection = std::make_unique<client>(options.server, connect_limit);
  // Ctrl-C is top's to handle (it restores the terminal), not a `cancel`.
  call_options plain{request_limit, {}, false};
  if (token) {
    auto hello = authenticate(*connection, *token, plain);
    if (!succeeded(hello.line))
      return std::move(hello.line);
  }
  json::object data{{"interval_ms", top.interval.count()}};
  if (top.device)
    data["device_id"] = *top.device;
  auto answer = connection->call("subscribe_status", std::move(data), plain);
  if (!succeeded(answer.line))
    return std::move(answer.line);
  const json::value reply(std::move(answer.line));
  auto* id = find(reply, {"data", "subscription_id"});
  if (id == nullptr || !id->is_string())
    throw transport_error("modeld answered subscribe_status without a subscription_id");
  // modeld says which interval it pushes at; that is the one to show.
  auto* interval = find(reply, {"data", "interval_ms"});
  auto pushed = interval && interval->is_number() ? milliseconds(interval->to_number<std::int64_t>()) : top.interval;
  return subscription{std::move(connection), std::string{id->get_string()}, pushed};
}

std::string refusal_text(const json::object& line) {
  auto code = error_field(line, "code");
  return (code.empty() ? std::string{"ERROR"} : code) + ": " + error_field(line, "message");
}

// The status data of a line, when it is an event of our subscription.
const json::value* status_of(const json::object& line, const std::string& subscription_id) {
  auto* event = line.if_contains("event");
  auto* id = line.if_contains("subscription_id");
  if (event == nullptr || *event != "status" || id == nullptr || *id != subscription_id.c_str())
    return nullptr;
  return line.if_contains("data");
}

// The screen's loop: events from modeld, keys, painting, reconnection. Returns the exit code.
class top_loop {
public:
  top_loop(const global_options& options, const top_options& top, std::optional<std::string> token,
           subscription first)
    : options_(options), top_(top), token_(std::move(token)), live_(std::move(first)) {
    link_.server = to_string(options.server);
    connected();
  }

  int run(top::terminal& screen) {
    while (true) {
      if (stop_signal != 0)
        return stop_signal == SIGINT ? exit_interrupted : 128 + stop_signal;
      if (live_)
        read_events();
      else if (clock::now() >= next_attempt_)
        reconnect();
      if (!live_)
        link_.retry_in = std::max(milliseconds{0}, std::chrono::duration_cast<milliseconds>(next_attempt_ - clock::now()));
      // With no connection to wait on, the keys are what the turn waits for.
      auto wait = live_ ? milliseconds{0} : std::min(turn, *link_.retry_in);
      for (auto typed = screen.next_key(wait); typed != top::key::none; typed = screen.next_key(milliseconds{0}))
        if (!steer(typed))
          return exit_ok;
      auto shown = top::lay_out(model_, link_, screen.size(), scroll_, wall_ms());
      scroll_ = shown.scroll;
      page_ = std::max<std::size_t>(1, shown.page);
      screen.paint(shown);
    }
  }

private:
  void connected() {
    link_.connected = true;
    link_.interval = live_->interval;
    link_.reason.clear();
    link_.attempt = 0;
    link_.retry_in.reset();
    backoff_ = first_backoff;
    last_event_ = clock::now();
    model_.on_connected(link_.server, wall_ms());
  }

  void lost(const std::string& reason) {
    live_.reset();
    model_.on_disconnected(reason, wall_ms());
    link_.connected = false;
    link_.reason = reason;
    next_attempt_ = clock::now() + backoff_;
  }

  // Takes every event that has arrived, waiting one turn for the first.
  void read_events() {
    try {
      auto deadline = clock::now() + turn;
      while (auto line = live_->connection->next_message(deadline)) {
        if (auto* data = status_of(*line, live_->id)) {
          model_.on_status(*data, clock::now(), wall_ms());
          last_event_ = clock::now();
        }
        deadline = clock::now();
      }
      // A modeld that keeps the connection open but stopped pushing (stopped, or a network
      // that drops packets silently) is as good as gone: reconnect.
      auto silence = std::max(3 * live_->interval, live_->interval + milliseconds{3000});
      if (clock::now() - last_event_ > silence)
        throw transport_error("no status event from modeld at " + link_.server + " for " +
                              std::to_string(std::chrono::duration_cast<milliseconds>(silence).count()) + " ms");
    } catch (const transport_error& e) {
      lost(e.what());
    }
  }

  void reconnect() {
    try {
      auto attempt = subscribe(options_, top_, token_, std::min(options_.timeout, reconnect_connect_limit),
                               std::min(options_.timeout, reconnect_request_limit));
      if (auto* refused = std::get_if<json::object>(&attempt)) {
        // Once connected, a refusal may pass (a modeld restarting with other flags): keep
        // trying, and show it.
        link_.reason = "modeld refused: " + refusal_text(*refused);
      } else {
        live_ = std::move(std::get<subscription>(attempt));
        connected();
        return;
      }
    } catch (const transport_error& e) {
      link_.reason = e.what();
    }
    ++link_.attempt;
    backoff_ = std::min(backoff_ * 2, max_backoff);
    next_attempt_ = clock::now() + backoff_;
  }

  // False when the key ends top.
  bool steer(top::key typed) {
    switch (typed) {
    case top::key::quit:
      return false;
    case top::key::up:
      scroll_ -= std::min<std::size_t>(scroll_, 1);
      break;
    case top::key::down:
      ++scroll_; // lay_out clamps it
      break;
    case top::key::page_up:
      scroll_ -= std::min(scroll_, page_);
      break;
    case top::key::page_down:
      scroll_ += page_;
      break;
    case top::key::home:
      scroll_ = 0;
      break;
    case top::key::end:
      scroll_ = std::numeric_limits<std::size_t>::max() / 2;
      break;
    case top::key::resize: // the next frame is laid out for the new size
    case top::key::other:
    case top::key::none:
      break;
    }
    return true;
  }

  const global_options& options_;
  const top_options& top_;
  std::optional<std::string> token_;
  std::optional<subscription> live_;
  top::model model_;
  top::link_state link_;
  clock::time_point last_event_;
  clock::time_point next_attempt_;
  milliseconds backoff_ = first_backoff;
  std::size_t scroll_ = 0;
  std::size_t page_ = 1;
};

} // namespace

void add_top_command(CLI::App& app, top_options& options) {
  auto* sub = app.add_subcommand("top", "Live full-screen view of devices, models, cache and changes (subscribe_status)");
  sub->add_option_function<std::uint64_t>(
       "--interval-ms", [&options](std::uint64_t ms) { options.interval = milliseconds(ms); },
       "How often modeld pushes status (default 1000, at least 50)")
    ->check(CLI::Range(std::uint64_t{50}, std::uint64_t{3600000}));
  sub->add_option_function<std::string>(
    "--device", [&options](const std::string& id) { options.device = id; }, "Only this device");
}

int run_top(const global_options& options, const top_options& top) {
  if (options.json) {
    std::cerr << "modelctl: top draws a live screen and has no --json; scripts use `modelctl status --json`\n";
    return exit_usage;
  }
  if (isatty(STDOUT_FILENO) != 1 || isatty(STDIN_FILENO) != 1) {
    std::cerr << "modelctl: top needs a terminal on stdin and stdout; scripts use `modelctl status` "
                 "or `modelctl status --json`\n";
    return exit_usage;
  }
  std::optional<std::string> token;
  if (!token_for(options, token))
    return exit_usage;
  // The first connection is made before the screen is taken: a wrong address or token is
  // reported and exits as with every other subcommand. Only a connection that was up is retried.
  std::optional<subscription> first;
  try {
    auto attempt = subscribe(options, top, token, std::min(options.timeout, connect_limit), options.timeout);
    if (auto* refused = std::get_if<json::object>(&attempt))
      return report_error(*refused, token.has_value());
    first = std::move(std::get<subscription>(attempt));
  } catch (const transport_error& e) {
    std::cerr << "modelctl: " << e.what() << '\n';
    return exit_transport;
  }
  stop_signals signals;
  top_loop loop(options, top, std::move(token), std::move(*first));
  std::unique_ptr<top::terminal> screen;
  try {
    screen = std::make_unique<top::terminal>();
  } catch (const std::runtime_error& e) {
    std::cerr << "modelctl: top: " << e.what() << '\n';
    return exit_usage;
  }
  try {
    return loop.run(*screen);
  } catch (...) {
    screen.reset(); // the terminal back first, so that what ends modelctl can be read
    throw;
  }
}

} // namespace modeld::ctl
