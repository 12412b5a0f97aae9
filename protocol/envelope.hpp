// The request and response envelopes of PROTOCOL.md with every normalization rule: key
// styles, `action`/`domain` aliases, `model.` command prefixes, flat fields beside the
// envelope (data wins), nulls as absent fields, stream and timeout_ms.
#pragma once

#include "protocol/errors.hpp"
#include "protocol/key_style.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace modeld::protocol {

class connection_leases;

struct request {
  boost::json::value request_id; // as the client sent it; null when it sent none
  std::string domain;            // model, device or system
  std::string command;           // snake_case, without a domain prefix
  boost::json::object data;
  bool stream = false;
  std::optional<std::chrono::milliseconds> timeout;
  // With stream: true, sends one progress event ({stage, done_bytes, ...}) to the client;
  // callable from any thread. Empty otherwise.
  std::function<void(boost::json::object)> emit_event;
  // The leases of the connection the request came on (leases.hpp); null outside a session.
  std::shared_ptr<connection_leases> leases;
};

struct rejected_request {
  boost::json::value request_id; // null when the line carried no usable id
  protocol_error error;
};

std::variant<request, rejected_request> parse_request(std::string_view line);

// A request id as text, for cancel lookups and log lines: "17" and 17 name the same request.
std::string request_id_text(const boost::json::value& id);

// Response lines, each ending in '\n'.
std::string success_line(const boost::json::value& request_id, boost::json::value data,
                         double processing_time_ms, key_case style);
// A success line around data already serialized in `style` and kept elsewhere (a published
// snapshot's text, sent as it is, never copied): the bytes before the data and after it.
struct line_frame {
  std::string head;
  std::string tail;
};
line_frame success_frame(const boost::json::value& request_id, double processing_time_ms, key_case style);
std::string error_line(const boost::json::value& request_id, const protocol_error& error,
                       double processing_time_ms, key_case style);
std::string event_line(boost::json::object event, key_case style);

} // namespace modeld::protocol
