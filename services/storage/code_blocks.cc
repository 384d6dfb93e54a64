#include "services/storage/code_blocks.h"

#include <algorithm>
#include <memory>

#include <cppconn/resultset.h>
#include <cppconn/statement.h>

namespace youma::storage {
namespace {

constexpr int kLevelBits = 6;  // a block at level l holds 64 units of level l

constexpr uint64_t Unit(int level) { return uint64_t{1} << (kLevelBits * level); }

}  // namespace

uint64_t CodeBlockKey(int level, uint64_t code_id) {
  return (static_cast<uint64_t>(level) << 56) | (code_id >> (kLevelBits * (level + 1)));
}

int TopCodeBlockLevel(uint64_t batch_codes) {
  int level = 0;
  while (level < kTopCodeBlockLevel && Unit(level + 1) <= batch_codes) ++level;
  return level;
}

void AppendCodeBlockPieces(uint64_t first, uint64_t last, std::vector<CodeBlockPiece>* out) {
  uint64_t x = first;
  while (x <= last) {
    // The highest level whose unit starts at x and fits before `last`.
    int level = 0;
    while (level < kTopCodeBlockLevel && x % Unit(level + 1) == 0 && last - x >= Unit(level + 1) - 1) ++level;
    // As many whole units as fit before `last` and inside x's block.
    const uint64_t block_size = Unit(level) << kLevelBits;
    const uint64_t to_block_end = block_size - x % block_size;
    const uint64_t units = std::min(last - x + 1, to_block_end) / Unit(level);
    const uint64_t end = x + units * Unit(level) - 1;
    out->push_back({CodeBlockKey(level, x), x, end});
    if (end == last) break;
    x = end + 1;
  }
}

void AppendCodeBlockProbes(uint64_t code_id, uint64_t batch_codes, std::vector<uint64_t>* keys) {
  for (int level = 0; level <= TopCodeBlockLevel(batch_codes); ++level) keys->push_back(CodeBlockKey(level, code_id));
}

void AppendMerged(std::vector<std::pair<uint64_t, uint64_t>> intervals,
                  std::vector<std::pair<uint64_t, uint64_t>>* out) {
  std::sort(intervals.begin(), intervals.end());
  for (const auto& i : intervals) {
    if (!out->empty() && i.first <= out->back().second + 1) {
      out->back().second = std::max(out->back().second, i.second);
    } else {
      out->push_back(i);
    }
  }
}

std::map<uint64_t, uint64_t> ReadBatchSizes(sql::Connection& c) {
  std::map<uint64_t, uint64_t> batches;
  std::unique_ptr<sql::Statement> st(c.createStatement());
  std::unique_ptr<sql::ResultSet> rs(st->executeQuery("SELECT batch_id, code_count FROM batches"));
  while (rs->next()) batches[rs->getUInt64(1)] = rs->getUInt64(2);
  return batches;
}

BatchOf BatchesIn(const std::map<uint64_t, uint64_t>& batches) {
  return [&batches](uint64_t code_id) -> std::optional<std::pair<uint64_t, uint64_t>> {
    auto it = batches.upper_bound(code_id);
    if (it == batches.begin()) return std::nullopt;
    --it;
    if (code_id - it->first >= it->second) return std::nullopt;
    return *it;
  };
}

std::vector<CodeRun> BatchRuns(std::vector<std::pair<uint64_t, uint64_t>> ranges, const BatchOf& batch_of) {
  std::vector<std::pair<uint64_t, uint64_t>> merged;
  AppendMerged(std::move(ranges), &merged);
  std::vector<CodeRun> out;
  for (auto [first, last] : merged) {
    while (true) {
      const auto batch = batch_of(first);
      if (!batch || batch->first + batch->second - 1 >= last) {
        out.push_back({first, last, batch ? batch->second : last - first + 1});
        break;
      }
      const uint64_t batch_last = batch->first + batch->second - 1;
      out.push_back({first, batch_last, batch->second});
      first = batch_last + 1;
    }
  }
  return out;
}

}  // namespace youma::storage
