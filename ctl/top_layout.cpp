#include "ctl/top_layout.hpp"

#include "ctl/human.hpp"
#include "ctl/table.hpp"

#include <boost/json/value.hpp>

#include <algorithm>
#include <cstdio>

namespace modeld::ctl::top {
namespace {

// Below this the table and its header cannot be shown in any useful way.
constexpr std::size_t min_width = 40;
constexpr std::size_t min_height = 8;
constexpr std::size_t state_width = 12; // "unresponsive"
constexpr std::size_t restarts_width = 8;
constexpr std::size_t max_bar_width = 40;
constexpr std::size_t folded_bar_width = 12;

std::string pad(const std::string& text, std::size_t width) {
  auto shown = display_width(text);
  return shown >= width ? text : text + std::string(width - shown, ' ');
}

std::string pad_left(const std::string& text, std::size_t width) {
  auto shown = display_width(text);
  return shown >= width ? text : std::string(width - shown, ' ') + text;
}

std::string number(const count& n) { return n ? std::to_string(*n) : "-"; }

std::string fixed(double value, const char* format) {
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}

std::string rate_text(const std::optional<double>& rate) { return rate ? fixed(*rate, "%.2f") : "-"; }

// "16:50:00Z": the time part of human.hpp's ISO 8601 UTC spelling, as the other commands show
// times in UTC.
std::string clock_text(std::int64_t ms) {
  const boost::json::value at(ms);
  auto iso = time_of_ms(&at);
  return iso.size() > 11 ? iso.substr(11) : iso;
}

tone tone_of_state(const std::string& state) {
  if (state == "ready" || state == "healthy")
    return tone::plain;
  if (state == "busy")
    return tone::busy;
  if (state == "failed" || state == "unreachable" || state == "down")
    return tone::error;
  return tone::warning;
}

tone tone_of(severity level) {
  switch (level) {
  case severity::warning:
    return tone::warning;
  case severity::error:
    return tone::error;
  case severity::info:
    break;
  }
  return tone::plain;
}

line title_line(const model& state, const link_state& link) {
  std::string text = "modeld " + link.server + "  ";
  auto last = state.latest_at_ms() ? "status at " + clock_text(*state.latest_at_ms()) : std::string{"no status yet"};
  if (!link.connected) {
    text += "disconnected, retrying";
    if (link.retry_in)
      text += " in " + fixed(static_cast<double>(link.retry_in->count()) / 1000.0, "%.1f") + " s";
    if (link.attempt > 0)
      text += " (attempt " + std::to_string(link.attempt + 1) + ")";
    if (!link.reason.empty())
      text += ": " + link.reason;
    return {text + "  " + last, tone::error};
  }
  auto& latest = state.latest();
  if (!latest)
    return {text + "connected, waiting for the first status", tone::heading};
  text += latest->health + "  " + number(latest->devices_reachable) + "/" + number(latest->devices_total) +
          " devices reachable  every " + std::to_string(link.interval.count()) + " ms  " + last + "  q quits";
  return {text, latest->health == "healthy" ? tone::heading : tone_of_state(latest->health)};
}

line cache_line(const snapshot& s) {
  auto& c = s.cache;
  std::string hit_rate = "-";
  if (c.hits && c.misses && *c.hits + *c.misses > 0)
    hit_rate = fixed(100.0 * static_cast<double>(*c.hits) / static_cast<double>(*c.hits + *c.misses), "%.1f") + "% of " +
               std::to_string(*c.hits + *c.misses) + " lookups";
  return {"cache  " + bytes_text(c.used) + "/" + bytes_text(c.budget) + " " + memory_bar(c.used, c.budget, 12) +
          "  hits " + hit_rate + "  entries " + number(c.entries) + "  evictions " + number(c.evictions) + "  read " +
          bytes_text(c.bytes_read)};
}

line rates_line(const rates& r) {
  std::string read = "-";
  if (r.bytes_read)
    read = bytes_text(static_cast<std::uint64_t>(*r.bytes_read)) + "/s";
  return {"per second  requests " + rate_text(r.requests) + " (failed " + rate_text(r.failed_requests) +
          ")  loads " + rate_text(r.loads) + " (failed " + rate_text(r.failed_loads) + ")  unloads " +
          rate_text(r.unloads) + "  evictions " + rate_text(r.evictions) + "  cache hits " + rate_text(r.cache_hits) + "  misses " + rate_text(r.cache_misses) +
          "  read " + read};
}

line workers_line(const snapshot& s) {
  // The worker pools' queues, the load queue first: what waits, and how busy the workers are.
  std::string text = "queued";
  bool queued = false;
  for (auto& p : s.pools) {
    text += "  " + p.name + " " + number(p.queued) + " (busy " + number(p.busy) + "/" + number(p.workers) + ")";
    queued = queued || (p.queued && *p.queued > 0);
  }
  return {text, queued ? tone::busy : tone::plain};
}

line services_line(const snapshot& s) {
  std::string text = "services";
  tone shade = tone::plain;
  for (auto& v : s.services) {
    text += "  " + v.name + " " + v.state;
    if (v.restarts && *v.restarts > 0)
      text += " (restarts " + std::to_string(*v.restarts) + ")";
    if (v.state != "ready")
      shade = tone_of_state(v.state);
  }
  return {text, shade};
}

// The device table's columns, sized to the devices and the terminal.
struct columns {
  std::size_t id = 6, memory = 11, bar = 0, models = 6;

  // `folded`: the models' ids share the device's line, so the bar leaves them more room.
  columns(const snapshot& s, std::size_t width, bool folded) {
    for (auto& d : s.devices) {
      id = std::max(id, std::min<std::size_t>(display_width(d.device_id), 24));
      memory = std::max(memory, display_width(memory_text(d)));
    }
    std::size_t fixed_part = id + 2 + state_width + 2 + memory + 2 + restarts_width + 2;
    // The bar takes what the other columns leave, keeping 12 for MODELS; too narrow, none.
    std::size_t left = width > fixed_part + 12 + 2 ? width - fixed_part - 12 - 2 : 0;
    bar = left >= 8 ? std::min(left, folded ? folded_bar_width : max_bar_width) : 0;
    std::size_t used = fixed_part + (bar > 0 ? bar + 2 : 0);
    models = width > used ? width - used : 0;
  }

  static std::string memory_text(const device_row& d) { return bytes_text(d.used) + "/" + bytes_text(d.budget); }

  std::string row(const std::string& device, const std::string& state, const std::string& bar_text,
                  const std::string& memory_cell, const std::string& restarts, const std::string& models_cell) const {
    std::string text = pad(fit(device, id), id) + "  " + pad(state, state_width) + "  ";
    if (bar > 0)
      text += pad(bar_text, bar) + "  ";
    return text + pad_left(memory_cell, memory) + "  " + pad_left(restarts, restarts_width) + "  " + models_cell;
  }
};

line device_line(const device_row& d, const columns& c, bool folded) {
  std::string models = "-";
  if (d.used) { // a restarting or failed device reports no models
    models = std::to_string(d.models.size());
    if (folded && !d.models.empty()) {
      std::string ids;
      for (auto& m : d.models)
        ids += (ids.empty() ? "" : ", ") + m.model_id;
      models += ": " + ids;
    }
  }
  return {c.row(d.device_id, d.state, memory_bar(d.used, d.budget, c.bar), columns::memory_text(d),
                number(d.restarts), models),
          tone_of_state(d.state)};
}

// The models of one device, each on a line under it: id, dtype, size, time since last use.
// `id_width`: the widest model id of every device, so that all model lines align.
void model_lines(const device_row& d, std::size_t id_width, std::int64_t now_ms, std::vector<line>& out) {
  for (auto& m : d.models)
    out.push_back({"    " + pad(fit(m.model_id, id_width), id_width) + "  " + pad(m.dtype, 5) + "  " +
                     pad_left(bytes_text(m.bytes), 10) + "  idle " + idle_text(m.last_used_ms, now_ms),
                   tone::dim});
}

} // namespace

std::string fit(const std::string& text, std::size_t width) {
  std::size_t columns = 0;
  for (std::size_t i = 0; i < text.size(); ++i)
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80 && columns++ == width)
      return text.substr(0, i);
  return text;
}

std::string memory_bar(const count& used, const count& budget, std::size_t width) {
  if (width < 3)
    return std::string(width, ' ');
  std::size_t inside = width - 2;
  // Appended, not "[" + ...: g++ 12 -O3 warns on that (-Wrestrict, a false positive).
  std::string bar = "[";
  if (!used || !budget || *budget == 0) {
    bar.append(inside, ' ');
  } else {
    double fraction = std::min(1.0, static_cast<double>(*used) / static_cast<double>(*budget));
    auto filled = static_cast<std::size_t>(fraction * static_cast<double>(inside) + 0.5);
    if (filled == 0 && *used > 0)
      filled = 1; // something is there: show it
    bar.append(filled, '#').append(inside - filled, '.');
  }
  bar += ']';
  return bar;
}

std::string idle_text(const count& last_used_ms, std::int64_t now_ms) {
  if (!last_used_ms)
    return "-";
  // Measured against this host's clock: a skewed remote host shows 0s rather than a negative age.
  auto seconds = std::max<std::int64_t>(0, now_ms - static_cast<std::int64_t>(*last_used_ms)) / 1000;
  char buffer[32];
  if (seconds < 60)
    std::snprintf(buffer, sizeof buffer, "%llds", static_cast<long long>(seconds));
  else if (seconds < 3600)
    std::snprintf(buffer, sizeof buffer, "%lldm%02llds", static_cast<long long>(seconds / 60),
                  static_cast<long long>(seconds % 60));
  else if (seconds < 86400)
    std::snprintf(buffer, sizeof buffer, "%lldh%02lldm", static_cast<long long>(seconds / 3600),
                  static_cast<long long>(seconds % 3600 / 60));
  else
    std::snprintf(buffer, sizeof buffer, "%lldd%02lldh", static_cast<long long>(seconds / 86400),
                  static_cast<long long>(seconds % 86400 / 3600));
  return buffer;
}

frame lay_out(const model& state, const link_state& link, screen_size size, std::size_t scroll, std::int64_t now_ms) {
  frame out;
  auto add = [&](line l) {
    l.text = fit(l.text, size.width);
    out.lines.push_back(std::move(l));
  };
  if (size.width < min_width || size.height < min_height) {
    add({"terminal too small for top (" + std::to_string(size.width) + "x" + std::to_string(size.height) +
           ", at least " + std::to_string(min_width) + "x" + std::to_string(min_height) + "); q quits",
         tone::warning});
    while (out.lines.size() < size.height)
      add({});
    out.lines.resize(size.height);
    return out;
  }

  add(title_line(state, link));
  auto& latest = state.latest();
  static const snapshot none;
  const snapshot& s = latest ? *latest : none;
  // Short terminals keep the devices and drop the header lines of least use first.
  if (size.height >= 12) {
    add(latest ? cache_line(s) : line{"cache  -"});
    add(rates_line(state.current_rates()));
  }
  if (size.height >= 20) {
    add(workers_line(s));
    add(services_line(s));
  }
  std::size_t event_rows = size.height >= 30 ? 6 : size.height >= 20 ? 4 : 2;
  std::size_t region = size.height - out.lines.size() - 1 /* table heading */ - 1 /* events heading */ - event_rows;

  // Every model under its device when that fits, or when the devices are few enough that
  // scrolling through their models reads better; else one line per device.
  std::size_t full_lines = s.devices.size();
  for (auto& d : s.devices)
    full_lines += d.models.size();
  out.folded = full_lines > region && s.devices.size() * 2 > region;
  columns c(s, size.width, out.folded);
  std::size_t id_width = 0;
  for (auto& d : s.devices)
    for (auto& m : d.models)
      id_width = std::max(id_width, display_width(m.model_id));
  constexpr std::size_t after_id = 4 + 2 + 5 + 2 + 10 + 2 + 12; // indent, dtype, size, "idle 3m07s"
  id_width = std::min(id_width, size.width > after_id + 8 ? size.width - after_id : 8);
  std::vector<line> body;
  for (auto& d : s.devices) {
    body.push_back(device_line(d, c, out.folded));
    if (!out.folded)
      model_lines(d, id_width, now_ms, body);
  }
  if (!latest)
    body.push_back({link.connected ? "waiting for the first status event" : "no status received yet", tone::dim});
  out.page = region;
  out.max_scroll = body.size() > region ? body.size() - region : 0;
  out.scroll = std::min(scroll, out.max_scroll);

  add({c.row("DEVICE", "STATE", c.bar > 0 ? "MEMORY" : "", "USED/BUDGET", "RESTARTS", "MODELS"), tone::heading});
  for (std::size_t i = 0; i < region; ++i)
    add(out.scroll + i < body.size() ? body[out.scroll + i] : line{});

  // Right under the table, where the eye looks for more of it: which lines are shown.
  std::string events = "-- changes ";
  if (out.max_scroll > 0)
    events += "(table lines " + std::to_string(out.scroll + 1) + "-" + std::to_string(out.scroll + region) + " of " +
              std::to_string(body.size()) + ": arrows, PgUp/PgDn) ";
  add({events + std::string(size.width > events.size() ? size.width - events.size() : 0, '-'), tone::heading});
  auto& changes = state.changes();
  std::size_t shown = std::min(event_rows, changes.size());
  for (std::size_t i = 0; i < event_rows - shown; ++i)
    add({});
  for (auto it = changes.end() - static_cast<std::ptrdiff_t>(shown); it != changes.end(); ++it)
    add({clock_text(it->at_ms) + " " + it->text, tone_of(it->level)});
  return out;
}

} // namespace modeld::ctl::top
