// JSON shapes derived from a formats::model_report: the `data` of post_model_validate
// (PROTOCOL.md "Shapes worth pinning") and the catalog fields of a discovered file. Kept
// as JSON text, the form in which the store caches validation results.
#pragma once

#include "catalog/records.hpp"
#include "formats/component_identity.hpp"
#include "formats/inspect.hpp"

#include <boost/json/object.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace modeld::catalog {

std::string_view to_string(formats::validation_level level);

// {is_valid, validation_details{format, level, file{...}, structure{...}, security{...},
// checksums?, numerics?}, issues[], data{architecture, type, precision, parameter_count,
// tensor_count, components[], embedded{}}}
// structure{} keeps JSON types: sizes, counts and versions are numbers, `legacy` a boolean.
boost::json::object validation_json(const formats::model_report& report, formats::validation_level level);

// Gives a validation result the structure{} types of validation_json, for results stored
// before structure values were typed (they held every value as a string).
void type_structure_values(boost::json::object& validation_result);

// The first error issue of `report` as "CODE: message"; empty when it has none (is valid).
std::string invalid_reason(const formats::model_report& report);

// is_valid and the reason (as invalid_reason) of a validation_json result; a result without a
// boolean is_valid counts as valid.
std::pair<bool, std::string> validity_of(const boost::json::object& validation_result);

// Catalog fields of `entry` from a basic-level report of its file, its validity included
// (format stays "unknown" when no parser could be chosen for the content).
void fill_catalog_entry(catalog_entry& entry, const formats::model_report& report);

// The component identities a catalog entry's components_json keeps (`identity` of each
// component, once a load computed it for the file as it is).
std::vector<formats::component_identity> component_identities(const std::string& components_json);
// `components_json` with the identity of each component `identities` names set.
std::string with_component_identities(const std::string& components_json,
                                      const std::vector<formats::component_identity>& identities);

} // namespace modeld::catalog
