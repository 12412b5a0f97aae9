#include "runtime/actor_runtime.hpp"

#include "actors/use_cases.hpp"

#include "actors/errors.hpp"
#include "actors/metadata_store.hpp"
#include "actors/scanner.hpp"
#include "actors/service_supervisor.hpp"
#include "actors/supervisor.hpp"
#include "actors/validation.hpp"

#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

namespace modeld::runtime {
namespace {

std::vector<actors::device_info> device_infos(const std::vector<gpu::device_description>& devices) {
  std::vector<actors::device_info> infos;
  for (auto& d : devices)
    infos.push_back({d.id, std::string{gpu::to_string(d.kind)}, d.index, d.name, d.total_bytes, d.budget_bytes});
  return infos;
}

} // namespace

actor_runtime::actor_runtime(runtime_settings settings) {
  add_errc_category(config_);
  config_.set("scheduler.max-threads", static_cast<std::size_t>(settings.scheduler_threads));
  // An idle scheduler worker polls briefly, then sleeps on its condition variable (woken by
  // the next job). CAF's default polls 500 more times with 50 us sleeps in between first, a
  // wake-up every 50 us per idle worker that took a tenth of the CPU from the front end on a
  // small host while nothing reached the actors (status and ping never do).
  config_.set("work-stealing.moderate-poll-attempts", std::size_t{0});
  if (settings.node.clustered()) { // CAF's network layer, only for a node of several
    config_.load<caf::io::middleman>();
    actors::add_node_message_types(config_);
  }
  system_ = std::make_unique<caf::actor_system>(config_);
  registry_ = std::make_shared<actors::device_registry>(device_infos(settings.devices), settings.status_deadline);
  pools_ = actors::spawn_worker_pools(*system_, settings.pools);
  supervisor_ = system_->spawn(actors::supervisor, registry_, actors::restart_policy{}, pools_);
  wait_until_started(supervisor_, "devices");
  // Blocking I/O (SQLite, directory walks) runs on threads of its own, off the scheduler.
  // A restarted store reopens nothing: the SQLite connection outlives its actors.
  actors::service_spawners spawners;
  spawners[static_cast<std::size_t>(actors::service::metadata_store)] = [store = settings.store,
                                                                          board = catalog_board_](caf::actor_system& sys) {
    return caf::actor_cast<caf::strong_actor_ptr>(sys.spawn<caf::detached>(actors::metadata_store, store, board));
  };
  spawners[static_cast<std::size_t>(actors::service::cache)] = [bytes = settings.cache_bytes, board = cache_board_,
                                                                 pools = pools_, rule = settings.cache_eviction](
                                                                  caf::actor_system& sys) {
    return caf::actor_cast<caf::strong_actor_ptr>(sys.spawn(actors::cache, bytes, board, pools, rule));
  };
  spawners[static_cast<std::size_t>(actors::service::validation)] = [workers = settings.validation_workers](
                                                                      caf::actor_system& sys) {
    return caf::actor_cast<caf::strong_actor_ptr>(sys.spawn(actors::validation, workers));
  };
  service_supervisor_ = system_->spawn(actors::service_supervisor, services_, std::move(spawners),
                                       actors::restart_policy{});
  wait_until_started(service_supervisor_, "services");
  scanner_ = system_->spawn<caf::detached>(actors::scanner, std::move(settings.model_roots),
                                           std::shared_ptr<const actors::service_registry>{services_});
  use_cases_ = system_->spawn(actors::use_cases, std::shared_ptr<const actors::device_registry>{registry_},
                              std::shared_ptr<const actors::service_registry>{services_}, scanner_,
                              std::shared_ptr<const actors::cache_board>{cache_board_},
                              std::shared_ptr<const actors::catalog_board>{catalog_board_});
  bridge_ = std::make_unique<actors::actor_bridge>(*system_, settings.scheduler_threads);
  start_node(settings.node);
}

void actor_runtime::start_node(const node_options& node) {
  if (!node.joins.empty()) {
    std::vector<std::string> addresses;
    for (const auto& join : node.joins)
      addresses.push_back(join.host + ":" + std::to_string(join.port));
    auto board = std::make_shared<actors::peer_board>(addresses, node.secret);
    registry_->join(board);
    for (std::size_t i = 0; i < node.joins.size(); ++i)
      peers_.push_back(system_->spawn(actors::peer, i, node.joins[i].host, node.joins[i].port, node.secret, board));
  }
  if (!node.listen)
    return;
  node_ = system_->spawn(actors::node, node.name, node.secret,
                         std::shared_ptr<const actors::device_registry>{registry_},
                         std::shared_ptr<const actors::cache_board>{cache_board_}, use_cases_);
  auto published = system_->middleman().publish(node_, node.listen->port, node.listen->host.c_str(), true);
  if (!published) {
    stop(std::chrono::seconds(5)); // the constructor throws: no destructor stops the actors
    throw std::runtime_error("cannot listen on " + node.listen->host + ":" + std::to_string(node.listen->port) +
                             " for --node-listen: " + system_->render(published.error()));
  }
  node_port_ = *published;
}

actors::scan_summary actor_runtime::initial_scan() {
  actors::scan_summary summary;
  caf::scoped_actor self{*system_};
  self->request(scanner_, caf::infinite, actors::scan_atom::value, actors::scan_request{})
    .receive([&](actors::scan_summary& result) { summary = std::move(result); },
             [](caf::error& error) { throw std::runtime_error("initial scan failed: " + caf::to_string(error)); });
  return summary;
}

// A supervisor starts its children on its own thread; until then the registry has no
// handles, and the front end must not serve requests that would find none.
void actor_runtime::wait_until_started(const actors::supervisor_actor& supervisor, const char* what) {
  caf::scoped_actor self{*system_};
  self->request(supervisor, caf::timespan{std::chrono::seconds(30)}, actors::ready_atom::value)
    .receive([](actors::ok_atom) {},
             [what](caf::error& error) {
               throw std::runtime_error(std::string{what} + " did not start: " + caf::to_string(error));
             });
}

actor_runtime::~actor_runtime() { stop(std::chrono::seconds(5)); }

bool actor_runtime::stop(std::chrono::milliseconds grace) {
  if (stopped_)
    return true;
  stopped_ = true;
  bridge_.reset();
  caf::anon_send_exit(use_cases_, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(scanner_, caf::exit_reason::user_shutdown);
  for (auto& peer : peers_)
    caf::anon_send_exit(peer, caf::exit_reason::user_shutdown);
  if (node_) {
    system_->middleman().unpublish(node_);
    caf::anon_send_exit(node_, caf::exit_reason::user_shutdown);
  }
  caf::scoped_actor self{*system_};
  auto stop_children = [&](const actors::supervisor_actor& supervisor) {
    bool done = false;
    self->request(supervisor, caf::timespan{grace}, actors::shutdown_atom::value)
      .receive([&](actors::ok_atom) { done = true; }, [&](caf::error&) { done = false; });
    caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
    return done;
  };
  bool clean = stop_children(supervisor_);
  // Last: validation, the cache, then the store (writes already acknowledged are on disk).
  clean = stop_children(service_supervisor_) && clean;
  actors::stop_worker_pools(pools_); // their running jobs were cancelled with their actors
  return clean;
}

} // namespace modeld::runtime
