#include "services/storage/range_change_blocks.h"

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/storage/code_blocks.h"
#include "services/storage/mysql.h"

namespace youma::storage {

uint64_t ReserveRangeChangeIds(sql::Connection& c, size_t n) {
  // Above the table's own largest id too: an older youma, still running
  // during an upgrade, takes ids from range_changes' AUTO_INCREMENT.
  Execute(c, absl::StrCat("UPDATE code_id_allocator SET next_code_id = GREATEST(next_code_id, "
                          "(SELECT COALESCE(MAX(change_id), 0) + 1 FROM range_changes)) + ",
                          n, " WHERE name = 'range_changes'"));
  std::unique_ptr<sql::Statement> st(c.createStatement());
  std::unique_ptr<sql::ResultSet> rs(
      st->executeQuery("SELECT next_code_id FROM code_id_allocator WHERE name = 'range_changes'"));
  if (!rs->next()) throw sql::SQLException("code_id_allocator has no 'range_changes' row (migration 16)");
  return rs->getUInt64(1) - n;
}

void InsertRangeChangeBlocks(sql::Connection& c, const std::vector<ChangeSpan>& changes) {
  std::vector<std::string> rows;
  std::vector<CodeBlockPiece> pieces;
  for (const ChangeSpan& change : changes) {
    pieces.clear();
    AppendCodeBlockPieces(change.first, change.last, &pieces);
    for (const CodeBlockPiece& p : pieces) {
      rows.push_back(absl::StrCat("(", p.block, ",", change.change_id, ",", p.first, ",", p.last, ")"));
    }
  }
  constexpr size_t kChunk = 1000;
  for (size_t start = 0; start < rows.size(); start += kChunk) {
    const size_t end = std::min(rows.size(), start + kChunk);
    Execute(c, absl::StrCat("INSERT INTO range_change_blocks (blk, change_id, first_code_id, last_code_id) VALUES ",
                            absl::StrJoin(rows.begin() + start, rows.begin() + end, ",")));
  }
}

std::string RangeChangesHoldingSql(std::vector<uint64_t> keys) {
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return absl::StrCat(
      "SELECT rc.change_id, rc.batch_id, rc.action, rc.first_code_id, rc.last_code_id, rc.effective_time "
      "FROM range_change_blocks b JOIN range_changes rc ON rc.change_id = b.change_id WHERE b.blk IN (",
      keys.empty() ? "NULL" : absl::StrJoin(keys, ","), ") ORDER BY b.change_id");
}

void BackfillRangeChangeBlocks(sql::Connection& c) {
  const std::map<uint64_t, uint64_t> batches = ReadBatchSizes(c);
  const BatchOf batch_of = BatchesIn(batches);
  std::vector<ChangeSpan> spans;
  {
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(
        st->executeQuery("SELECT change_id, first_code_id, last_code_id FROM range_changes ORDER BY change_id"));
    while (rs->next()) {
      // Cut at batch ends: bottles of one case could cross one.
      for (const CodeRun& run : BatchRuns({{rs->getUInt64(2), rs->getUInt64(3)}}, batch_of)) {
        spans.push_back({rs->getUInt64(1), run.first, run.last});
      }
    }
  }
  InOneTransaction(c, [&] {
    // From scratch: a run cut short before its COMMIT leaves nothing behind.
    Execute(c, "DELETE FROM range_change_blocks");
    InsertRangeChangeBlocks(c, spans);
  });
}

}  // namespace youma::storage
