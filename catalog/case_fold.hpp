// Case-insensitive matching of user text (tags). ICU is not linked, so this is a small fixed
// table: Unicode simple case folding for the scripts people tag models in.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace modeld::catalog {

// `utf8` with every letter of ASCII, Latin-1, Latin Extended-A/B, Greek, Cyrillic (U+0000 to
// U+052F), Latin Extended Additional and Greek Extended (U+1E00 to U+1FFF) replaced by its
// simple case folding (Unicode 14, statuses C and S of CaseFolding.txt: one code point for one,
// so "ß" stays "ß" and "İ" stays "İ"). Other code points, and bytes that are not UTF-8, are kept.
std::string fold_case(std::string_view utf8);

// True when `tags` holds `wanted` ignoring case: the get_models tag filter. Tags keep the case
// they were written in, so stored tags are folded here, not when written.
bool has_tag(const std::vector<std::string>& tags, std::string_view wanted);

} // namespace modeld::catalog
