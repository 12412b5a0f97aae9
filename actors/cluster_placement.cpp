#include "actors/cluster_placement.hpp"

#include "actors/peer_board.hpp"

#include <algorithm>
#include <tuple>

namespace modeld::actors {
namespace {

std::string reason_of(const placement_choice& choice, std::optional<std::uint64_t> model_bytes) {
  const auto where = choice.node.empty() ? std::string{"this node's"} : "node " + choice.node + "'s";
  if (choice.cached)
    return "the model is in " + where + " RAM cache; " + std::to_string(choice.free_bytes) + " bytes free";
  if (choice.fits)
    return "the most free memory (" + std::to_string(choice.free_bytes) + " bytes) of the devices where its " +
           std::to_string(*model_bytes) + " bytes fit";
  return "the most free memory (" + std::to_string(choice.free_bytes) + " bytes) of the ready devices";
}

} // namespace

std::vector<placement_choice> placement_order(const cluster_status& status, const std::set<std::string>& caching_nodes,
                                              std::optional<std::uint64_t> model_bytes) {
  std::vector<placement_choice> choices;
  for (const auto& report : status.devices) {
    if (!report.answered) // ready or busy: a busy device takes work in turn
      continue;
    placement_choice choice;
    choice.device_id = report.info.id;
    if (auto remote = split_remote_id(report.info.id))
      choice.node = remote->node;
    choice.free_bytes = report.status.free_bytes;
    choice.cached = caching_nodes.count(choice.node) > 0;
    choice.fits = model_bytes && *model_bytes <= choice.free_bytes;
    choices.push_back(std::move(choice));
  }
  // Cached first, then fitting, then the most free memory; this node first at a tie; the order
  // of the listing last (a stable sort).
  std::stable_sort(choices.begin(), choices.end(), [](const placement_choice& a, const placement_choice& b) {
    return std::make_tuple(!a.cached, !a.fits, -static_cast<double>(a.free_bytes), !a.node.empty()) <
           std::make_tuple(!b.cached, !b.fits, -static_cast<double>(b.free_bytes), !b.node.empty());
  });
  for (auto& choice : choices)
    choice.reason = reason_of(choice, model_bytes);
  return choices;
}

} // namespace modeld::actors
