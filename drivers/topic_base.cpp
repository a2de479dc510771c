#include "drivers/topic_base.hpp"

#include <algorithm>

namespace communegw {

std::vector<std::string> bases_from_filters(const std::vector<std::string>& filters) {
  std::vector<std::string> bases;
  for (const auto& filter : filters) {
    std::string_view literal = filter;
    const auto wildcard = std::min(literal.find('+'), literal.find('#'));
    if (wildcard != std::string_view::npos) {
      literal = literal.substr(0, wildcard);
    } else if (const auto last = literal.rfind('/'); last != std::string_view::npos) {
      literal = literal.substr(0, last + 1);  // a plain topic: its parent is the base
    }
    while (!literal.empty() && literal.back() == '/') literal.remove_suffix(1);
    if (!literal.empty() && std::find(bases.begin(), bases.end(), literal) == bases.end()) bases.emplace_back(literal);
  }
  std::sort(bases.begin(), bases.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  return bases;
}

std::optional<topic_under_base> split_base(const std::vector<std::string>& bases, std::string_view topic) {
  for (const auto& base : bases) {
    if (topic.size() <= base.size() + 1 || topic.substr(0, base.size()) != base || topic[base.size()] != '/') continue;
    return topic_under_base{topic.substr(0, base.size()), topic.substr(base.size() + 1)};
  }
  return std::nullopt;
}

}  // namespace communegw
