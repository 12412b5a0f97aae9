// Aligned plain-text tables and key/value lists for human output: columns padded to their
// widest cell, two spaces apart, no trailing blanks, so `grep` and `awk` work on them too.
#pragma once

#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace modeld::ctl {

class table {
public:
  explicit table(std::vector<std::string> headers);

  // Numbers read better aligned to the right.
  table& align_right(std::size_t column);
  void add_row(std::vector<std::string> cells);
  bool empty() const { return rows_.empty(); }
  void print(std::ostream& out) const;

private:
  std::vector<std::string> headers_;
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;
};

// "key:   value" lines with the values aligned.
void print_fields(std::ostream& out, const std::vector<std::pair<std::string, std::string>>& fields);

// Display width in columns: UTF-8 code points, not bytes (model ids may hold any name).
std::size_t display_width(const std::string& text);

} // namespace modeld::ctl
