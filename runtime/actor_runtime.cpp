#include "runtime/actor_runtime.hpp"

#include "actors/status_aggregator.hpp"
#include "actors/metadata_store.hpp"
#include "actors/scanner.hpp"
#include "actors/supervisor.hpp"
#include "actors/validation.hpp"

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
  config_.set("scheduler.max-threads", static_cast<std::size_t>(settings.scheduler_threads));
  system_ = std::make_unique<caf::actor_system>(config_);
  registry_ = std::make_shared<actors::device_registry>(device_infos(settings.devices));
  supervisor_ = system_->spawn(actors::supervisor, registry_, actors::restart_policy{});
  wait_until_devices_started();
  aggregator_ = system_->spawn(actors::status_aggregator, std::shared_ptr<const actors::device_registry>{registry_},
                               caf::timespan{settings.status_deadline});
  // Blocking I/O (SQLite, directory walks) runs on threads of its own, off the scheduler.
  store_ = system_->spawn<caf::detached>(actors::metadata_store, std::move(settings.store));
  scanner_ = system_->spawn<caf::detached>(actors::scanner, std::move(settings.model_roots), store_);
  validation_ = system_->spawn(actors::validation, settings.validation_workers);
  cache_ = system_->spawn(actors::cache, settings.cache_bytes, cache_board_);
  bridge_ = std::make_unique<actors::actor_bridge>(*system_, settings.scheduler_threads);
}

actors::scan_summary actor_runtime::initial_scan() {
  actors::scan_summary summary;
  caf::scoped_actor self{*system_};
  self->request(scanner_, caf::infinite, actors::scan_atom::value, std::string{})
    .receive([&](actors::scan_summary& result) { summary = std::move(result); },
             [](caf::error& error) { throw std::runtime_error("initial scan failed: " + caf::to_string(error)); });
  return summary;
}

// The supervisor starts the devices on its own thread; until then the registry has no
// handles, and the front end must not serve requests that would find none.
void actor_runtime::wait_until_devices_started() {
  caf::scoped_actor self{*system_};
  self->request(supervisor_, caf::timespan{std::chrono::seconds(30)}, actors::ready_atom::value)
    .receive([](actors::ok_atom) {},
             [](caf::error& error) {
               throw std::runtime_error("devices did not start: " + caf::to_string(error));
             });
}

actor_runtime::~actor_runtime() { stop(std::chrono::seconds(5)); }

bool actor_runtime::stop(std::chrono::milliseconds grace) {
  if (stopped_)
    return true;
  stopped_ = true;
  bridge_.reset();
  caf::anon_send_exit(aggregator_, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(validation_, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(scanner_, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(cache_, caf::exit_reason::user_shutdown);
  bool clean = false;
  caf::scoped_actor self{*system_};
  self->request(supervisor_, caf::timespan{grace}, actors::shutdown_atom::value)
    .receive([&](actors::ok_atom) { clean = true; }, [&](caf::error&) { clean = false; });
  caf::anon_send_exit(supervisor_, caf::exit_reason::user_shutdown);
  // Last: the store finishes what is in its mailbox (writes already acknowledged are on disk).
  caf::anon_send_exit(store_, caf::exit_reason::user_shutdown);
  return clean;
}

} // namespace modeld::runtime
