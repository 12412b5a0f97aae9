// Serializes response JSON the way clients read it best: like boost::json::serialize, but
// doubles in plain shortest round-trip notation ("2.18", not Boost's "2.18E0"), which
// dashboards display as they are and every JSON parser reads.
#pragma once

#include <boost/json/value.hpp>

#include <boost/json/array.hpp>

#include <string>
#include <vector>

namespace modeld::protocol {

void write_json(const boost::json::value& value, std::string& out);
std::string to_json(const boost::json::value& value);

// ["a", "b"] from a list of strings (tags, model ids, components).
boost::json::array string_array(const std::vector<std::string>& values);

} // namespace modeld::protocol
