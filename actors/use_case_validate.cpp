// The validation use case: resolve the model at the scanner, answer a stored result for the
// same file state (size and mtime) from the metadata store, or have the validation service
// scan it and the store remember it before answering (so what a client reads next, get_model's
// checksum and validity, already shows it).
#include "actors/use_cases.hpp"

#include "catalog/report_json.hpp"

#include <caf/typed_response_promise.hpp>

#include <memory>
#include <string>
#include <utility>

namespace modeld::actors {
namespace {

struct validate_flow {
  validate_request request;
  caf::typed_response_promise<validate_result> promise;
  located_file file;
  validation_cache_key key;
};
using flow_pointer = std::shared_ptr<validate_flow>;

void answer(use_case_pointer self, const flow_pointer& flow, validate_result result) {
  forget(self, flow->request.ticket);
  flow->promise.deliver(std::move(result));
}

void refuse(use_case_pointer self, const flow_pointer& flow, failure why) {
  validate_result result;
  result.error = std::move(why);
  answer(self, flow, std::move(result));
}

void report(use_case_pointer self, const flow_pointer& flow, std::string result_json, bool from_cache) {
  answer(self, flow, {true, {}, flow->file.model_id, from_cache, std::move(result_json)});
}

// A store that fails to remember the result (restarting, disk full) costs only the cache
// entry: the answer stands.
void remember(use_case_pointer self, const flow_pointer& flow, validation_outcome outcome) {
  auto json = outcome.result_json;
  auto done = [self, flow, json](auto&&...) { report(self, flow, json, false); };
  watched_request<ok_atom>(self, self->state.services->store(), caf::infinite, done, done, remember_atom::value,
                           validation_record{flow->key, std::move(outcome.result_json), outcome.sha256, outcome.autov2});
}

void scan(use_case_pointer self, const flow_pointer& flow) {
  auto& request = flow->request;
  if (self->state.dropped.count(request.ticket) > 0)
    return refuse(self, flow, {errc::cancelled, "validation was cancelled"});
  auto validation = self->state.services->validation();
  working_on(self, request.ticket, validation);
  validation_job job{request.ticket, flow->file.path, flow->file.file, request.level, request.progress};
  watched_request<validation_outcome>(
    self, validation, caf::infinite,
    [self, flow](validation_outcome& outcome) {
      if (outcome.cancelled)
        return refuse(self, flow, {errc::cancelled, "validation was cancelled"});
      if (!outcome.describes_file) // the file changed while it was read: not remembered
        return report(self, flow, std::move(outcome.result_json), false);
      remember(self, flow, std::move(outcome));
    },
    [self, flow, validation](const caf::error& error) {
      if (validation)
        self->send(validation, drop_atom::value, flow->request.ticket); // the scan may stop
      refuse(self, flow, failure_of(error, "validation"));
    },
    validate_atom::value, std::move(job));
}

void look_up(use_case_pointer self, const flow_pointer& flow) {
  auto& file = flow->file;
  flow->key = {file.model_id, std::string{catalog::to_string(flow->request.level)}, file.size_bytes, file.mtime_ns};
  // A store that cannot answer (restarting, hung until the request ends) only means a new scan.
  watched_request<std::string>(
    self, self->state.services->store(), caf::infinite,
    [self, flow](std::string& stored) {
      if (!stored.empty())
        return report(self, flow, std::move(stored), true);
      scan(self, flow);
    },
    [self, flow](const caf::error&) { scan(self, flow); }, cached_atom::value, flow->key);
}

} // namespace

caf::result<validate_result> start_validate(use_case_pointer self, validate_request& request) {
  auto flow = std::make_shared<validate_flow>();
  flow->request = std::move(request);
  flow->promise = self->make_response_promise<validate_result>();
  self->state.started.insert(flow->request.ticket);
  watched_request<located_file>(
    self, self->state.scanner, caf::infinite,
    [self, flow](located_file& file) {
      if (!file.found)
        return refuse(self, flow, located_failure(file.error));
      flow->file = std::move(file);
      look_up(self, flow);
    },
    [self, flow](const caf::error& error) { refuse(self, flow, failure_of(error, "resolving the model")); },
    resolve_atom::value, flow->request.name, flow->request.is_path);
  return flow->promise;
}

} // namespace modeld::actors
