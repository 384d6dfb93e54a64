#include "services/storage/range_change_blocks.h"

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/storage/code_blocks.h"
#include "services/storage/mysql.h"

namespace youma::storage {
namespace {

// Changes cut at batch ends: the bottles of one case could cross one.
std::vector<ChangeSpan> SplitAtBatches(const std::vector<ChangeSpan>& changes, const BatchOf& batch_of) {
  std::vector<ChangeSpan> out;
  for (const ChangeSpan& change : changes) {
    for (const CodeRun& run : BatchRuns({{change.first, change.last}}, batch_of)) {
      out.push_back({change.change_id, run.first, run.last});
    }
  }
  return out;
}

// The allocator's mark: the next change id it gives (changes at or past it
// were recorded by an older youma). `lock` takes its row for the transaction.
uint64_t NextRangeChangeId(sql::Statement& st, bool lock) {
  std::unique_ptr<sql::ResultSet> rs(st.executeQuery(absl::StrCat(
      "SELECT next_code_id FROM code_id_allocator WHERE name = 'range_changes'", lock ? " FOR UPDATE" : "")));
  if (!rs->next()) throw sql::SQLException("code_id_allocator has no 'range_changes' row (migration 16)");
  return rs->getUInt64(1);
}

}  // namespace

uint64_t ReserveRangeChangeIds(sql::Connection& c, size_t n, size_t* indexed) {
  std::unique_ptr<sql::Statement> st(c.createStatement());
  uint64_t next = NextRangeChangeId(*st, /*lock=*/true);
  // Changes from `next` on were recorded by an older youma during an upgrade
  // (AUTO_INCREMENT ids, no pieces): indexed now, before ids are given above
  // them. (One that it records at this very moment may take an id reserved
  // here: one of the two inserts then fails on the duplicate key, and its
  // caller retries.)
  std::vector<ChangeSpan> missed;
  {
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery(absl::StrCat(
        "SELECT change_id, first_code_id, last_code_id FROM range_changes WHERE change_id >= ", next,
        " ORDER BY change_id FOR UPDATE")));
    while (rs->next()) missed.push_back({rs->getUInt64(1), rs->getUInt64(2), rs->getUInt64(3)});
  }
  if (!missed.empty()) {
    const std::map<uint64_t, uint64_t> batches = ReadBatchSizes(c);
    InsertRangeChangeBlocks(c, SplitAtBatches(missed, BatchesIn(batches)), /*ignore_existing=*/true);
    next = missed.back().change_id + 1;
  }
  if (indexed != nullptr) *indexed = missed.size();
  Execute(c, absl::StrCat("UPDATE code_id_allocator SET next_code_id = ", next + n,
                          " WHERE name = 'range_changes'"));
  return next;
}

bool HasUnindexedRangeChanges(sql::Connection& c) {
  std::unique_ptr<sql::Statement> st(c.createStatement());
  const uint64_t next = NextRangeChangeId(*st, /*lock=*/false);
  std::unique_ptr<sql::ResultSet> rs(
      st->executeQuery(absl::StrCat("SELECT 1 FROM range_changes WHERE change_id >= ", next, " LIMIT 1")));
  return rs->next();
}

void InsertRangeChangeBlocks(sql::Connection& c, const std::vector<ChangeSpan>& changes, bool ignore_existing) {
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
    Execute(c, absl::StrCat(ignore_existing ? "INSERT IGNORE" : "INSERT",
                            " INTO range_change_blocks (blk, change_id, first_code_id, last_code_id) VALUES ",
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
  InOneTransaction(c, [&] {
    std::vector<ChangeSpan> changes;
    {
      std::unique_ptr<sql::Statement> st(c.createStatement());
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery(
          "SELECT change_id, first_code_id, last_code_id FROM range_changes ORDER BY change_id FOR UPDATE"));
      while (rs->next()) changes.push_back({rs->getUInt64(1), rs->getUInt64(2), rs->getUInt64(3)});
    }
    // From scratch: a run cut short before its COMMIT leaves nothing behind.
    Execute(c, "DELETE FROM range_change_blocks");
    const std::map<uint64_t, uint64_t> batches = ReadBatchSizes(c);
    InsertRangeChangeBlocks(c, SplitAtBatches(changes, BatchesIn(batches)));
    Execute(c, absl::StrCat("UPDATE code_id_allocator SET next_code_id = ",
                            changes.empty() ? 1 : changes.back().change_id + 1, " WHERE name = 'range_changes'"));
  });
}

}  // namespace youma::storage
