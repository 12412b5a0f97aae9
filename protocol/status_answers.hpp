// Answers of get_device_status, get_model_status (and get_vram_model_status) and the pushes of
// subscribe_status, read from published state: the device registry and board, the services'
// registry, the cache board, the worker pools' gauges and the front end's request counts. No actor is asked, so a status answer never waits on a device,
// hung or not.
//
// A status answer is serialized once and shared: the text of each shape, device filter and key
// style is kept while every source it was read from is unchanged (each publishes a new snapshot
// on a change, so a pointer comparison tells) and for at most `status_text_lifetime`, because
// the ages and the liveness it shows move with time. Many clients polling status cost one
// rendering per change or per lifetime, not one per request.
#pragma once

#include "actors/cache.hpp"
#include "actors/registry.hpp"
#include "actors/service_registry.hpp"
#include "actors/worker_pool.hpp"
#include "protocol/key_style.hpp"
#include "protocol/request_metrics.hpp"

#include <boost/json/value.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

namespace modeld::protocol {

enum class status_shape { device, model }; // get_device_status; get_model_status

inline constexpr std::chrono::milliseconds status_text_lifetime{10};

// Where status is read from.
struct status_sources {
  std::shared_ptr<const actors::device_registry> registry;
  std::shared_ptr<const actors::service_registry> services;
  std::shared_ptr<const actors::cache_board> cache_board;
  actors::worker_pools::gauges pools;
  const request_metrics* requests = nullptr; // the front end's request counts; null: none shown
};

// The answer's data now, as JSON in snake_case.
boost::json::value status_data(const status_sources& sources, status_shape shape, const std::string& device_id);

class status_texts {
public:
  // The answer's data serialized in `style`; `device_id` empty: every device.
  std::shared_ptr<const std::string> read(const status_sources& sources, status_shape shape,
                                          const std::string& device_id, key_case style);

private:
  // What a text was rendered from; held, so that a pointer is never reused while compared.
  struct read_from {
    std::shared_ptr<const actors::device_registry::entries> devices;
    std::shared_ptr<const actors::board_snapshot> board;
    std::shared_ptr<const actors::service_registry::entries> services;
    std::shared_ptr<const actors::cache_report> cache; // null for the device shape
    std::shared_ptr<const actors::peer_board::snapshot> peers; // null without --join
    bool operator==(const read_from&) const = default;
  };
  struct text {
    read_from sources;
    std::chrono::steady_clock::time_point rendered;
    std::shared_ptr<const std::string> json;
  };
  using key = std::tuple<status_shape, std::string, key_case>; // bounded: device ids are checked first

  std::mutex mutex_;
  std::map<key, text> texts_;
};

} // namespace modeld::protocol
