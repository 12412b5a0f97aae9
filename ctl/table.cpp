#include "ctl/table.hpp"

#include <algorithm>

namespace modeld::ctl {

std::size_t display_width(const std::string& text) {
  return static_cast<std::size_t>(
    std::count_if(text.begin(), text.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

table::table(std::vector<std::string> headers) : headers_(std::move(headers)), right_(headers_.size(), false) {}

table& table::align_right(std::size_t column) {
  if (column < right_.size())
    right_[column] = true;
  return *this;
}

void table::add_row(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

void table::print(std::ostream& out) const {
  std::vector<std::size_t> widths(headers_.size());
  for (std::size_t c = 0; c < headers_.size(); ++c) {
    widths[c] = display_width(headers_[c]);
    for (auto& row : rows_)
      widths[c] = std::max(widths[c], display_width(row[c]));
  }
  auto print_row = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      std::string padding(widths[c] - display_width(cells[c]), ' ');
      if (c > 0)
        line += "  ";
      line += right_[c] ? padding + cells[c] : cells[c] + padding;
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out << line << '\n';
  };
  print_row(headers_);
  for (auto& row : rows_)
    print_row(row);
}

void print_fields(std::ostream& out, const std::vector<std::pair<std::string, std::string>>& fields) {
  std::size_t width = 0;
  for (auto& [key, value] : fields)
    width = std::max(width, display_width(key));
  for (auto& [key, value] : fields)
    out << key << ':' << std::string(width - display_width(key) + 1, ' ') << value << '\n';
}

} // namespace modeld::ctl
