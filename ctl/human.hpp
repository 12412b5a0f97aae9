// Turning reply values into text for people: sizes in binary units, times in ms, absent values
// as "-". Every renderer uses these, so one value reads the same in every command.
#pragma once

#include <boost/json/value.hpp>

#include <initializer_list>
#include <string>
#include <string_view>

namespace modeld::ctl {

// The value at `path` under `root` (objects only), or null when any step is missing.
const boost::json::value* find(const boost::json::value& root, std::initializer_list<std::string_view> path);

// Strings as they are, numbers in plain notation, booleans yes/no, arrays comma-joined,
// objects as compact JSON, null and absent as "-".
std::string text(const boost::json::value* value);
std::string text(const boost::json::value& root, std::initializer_list<std::string_view> path);

// A byte count as "2.18MiB" (gpu/byte_size's spelling); "-" when absent or not a count.
std::string bytes(const boost::json::value* value);
std::string bytes(const boost::json::value& root, std::initializer_list<std::string_view> path);

// Milliseconds as "12.3 ms"; "-" when absent.
std::string millis(const boost::json::value* value);

// A large count as "1.07M", "860K", "512".
std::string count(const boost::json::value* value);

// A Unix time in ms as ISO 8601 UTC ("2026-11-30T16:50:00Z"); "-" when absent.
std::string time_of_ms(const boost::json::value* value);

} // namespace modeld::ctl
