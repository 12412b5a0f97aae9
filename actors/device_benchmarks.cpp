#include "actors/device_benchmarks.hpp"

#include "actors/cache.hpp"
#include "actors/device_loads.hpp"
#include "actors/epoch.hpp"

#include <chrono>

namespace modeld::actors {
namespace {

benchmark_reply failed(failure why) {
  benchmark_reply reply;
  reply.error = std::move(why);
  return reply;
}

benchmark_reply failed(errc code, std::string message) {
  return failed(failure{code, std::move(message)});
}

} // namespace

benchmark_reply run_benchmark_order(const benchmark_order& order, const std::string& device) {
  auto reader = reader_of(order.path, order.file);
  if (auto* refusal = std::get_if<failure>(&reader))
    return failed(refusal->code, refusal->message);
  const auto& file = std::get<gpu::file_reader>(reader);
  if (auto refusal = host_room_for_bytes(order.model_id, file.size()))
    return failed(refusal->code, refusal->message);
  auto started = std::chrono::steady_clock::now();
  auto buffer = gpu::read_host_buffer(file, order.request.progress);
  if (auto* reason = std::get_if<std::string>(&buffer))
    return failed(errc::model_not_found, "cannot read '" + order.path + "': " + *reason);
  benchmark_reply reply;
  reply.disk_to_host_ms = ms_since(started);
  gpu::load_request request{device, {}, gpu::load_dtype::keep, order.request.cancel, order.request.progress};
  auto loaded = gpu::load_weights(*order.report, *std::get<std::shared_ptr<const gpu::host_buffer>>(buffer), request);
  if (auto* error = std::get_if<gpu::load_error>(&loaded))
    return failed(error->out_of_memory ? errc::insufficient_memory : errc::internal,
                  "loading for the benchmark failed: " + error->message);
  auto& success = std::get<gpu::load_success>(loaded);
  reply.host_to_device_ms = success.timing.host_to_device_ms;
  reply.loaded_bytes = success.weights->bytes();
  if (order.inference) {
    auto measured = gpu::run_benchmark(*success.weights, device, order.request);
    if (auto* reason = std::get_if<std::string>(&measured))
      return failed(errc::invalid_request, *reason);
    reply.measurement = std::get<gpu::benchmark_measurement>(measured);
    reply.inference_ran = true;
  }
  reply.facts = gpu::describe_device(device);
  reply.ok = true;
  return reply;
}

namespace {

// system_info of `reply`: this device as its memory account has it, not the host.
void add_system_info(const device_state& state, benchmark_reply& reply) {
  const auto& info = state.info;
  reply.device_name = info.kind == "cpu" ? info.id + " (" + info.name + ")" : info.name;
  reply.memory_total = state.memory.total();
  reply.memory_budget = state.memory.budget();
  reply.memory_used = state.memory.used();
}

} // namespace

caf::result<benchmark_reply> start_benchmark(device_pointer self, benchmark_order& order) {
  auto& state = self->state;
  touch(state, order.model_id); // a benchmark of a model held here is a use of it
  gpu::load_request request{torch_device(state.info), {}, gpu::load_dtype::keep, nullptr, {}};
  auto planned = gpu::planned_bytes(*order.report, request);
  if (auto* reason = std::get_if<std::string>(&planned))
    return failed(errc::invalid_request, *reason);
  auto needed = std::get<std::uint64_t>(planned);
  if (self->clock().now() < state.oom_until)
    return failed(out_of_memory(state.info.id + " is out of memory (injected fault)", shortfall(state, needed)));
  if (!state.memory.try_reserve(needed))
    return failed(out_of_memory("the benchmark of '" + order.model_id + "' needs " + std::to_string(needed) +
                                  " bytes; " + state.info.id + " has " + std::to_string(state.memory.free()) + " free",
                                shortfall(state, needed)));
  auto ticket = order.ticket;
  auto& running = state.benchmarks[ticket];
  running.promise = self->make_response_promise<benchmark_reply>();
  order.cancel = running.cancel; // the worker's copy of the order keeps the flag alive
  order.request.cancel = running.cancel.get();
  auto device_id = state.info.id;
  auto finish = [self, ticket, needed](benchmark_reply reply) {
    add_system_info(self->state, reply); // before the run's reservation goes
    self->state.memory.cancel_reservation(needed);
    auto it = self->state.benchmarks.find(ticket);
    if (it == self->state.benchmarks.end())
      return;
    if (!it->second.answered)
      it->second.promise.deliver(std::move(reply));
    self->state.benchmarks.erase(it);
    publish_status(self);
  };
  blocking_job work{[order, device = torch_device(state.info)] {
    return caf::make_message(run_benchmark_order(order, device));
  }};
  self->request(state.pools.benchmarks, caf::infinite, run_atom::value, std::move(work))
    .then(
      [finish, device_id](benchmark_reply& reply) {
        reply.device_id = device_id;
        finish(std::move(reply));
      },
      [self, finish](caf::error& error) {
        finish(failed(errc::internal, self->system().render(error)));
      });
  return running.promise;
}

void drop_benchmark(device_pointer self, std::uint64_t ticket) {
  auto it = self->state.benchmarks.find(ticket);
  if (it == self->state.benchmarks.end() || it->second.answered)
    return;
  it->second.cancel->store(true);
  it->second.answered = true;
  it->second.promise.deliver(failed(errc::cancelled, "the benchmark was cancelled: its requester went away"));
}

} // namespace modeld::actors
