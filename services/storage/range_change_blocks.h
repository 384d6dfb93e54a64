// range_change_blocks: every range change (range_changes: activate, freeze,
// unfreeze, revoke) cut into block pieces (code_blocks.h), so that a scan
// group reads the changes that can hold its codes, however many changes their
// batches have (a batch activated on shipment, case by case, has thousands).
//
//   // Writing, inside the transaction that records the changes:
//   const uint64_t id = ReserveRangeChangeIds(c, n);   // ids id .. id + n - 1, in order
//   INSERT INTO range_changes (change_id, ...) VALUES (id, ...), ...
//   InsertRangeChangeBlocks(c, {{id, first, last}, ...});
//   // Reading, for a group of scans:
//   for (code : codes) AppendCodeBlockProbes(code, batch_codes, &keys);
//   batch.Add(RangeChangesHoldingSql(keys), ...)   // ordered by change id
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <cppconn/connection.h>

namespace youma::storage {

// A recorded change's id and codes (inside one batch).
struct ChangeSpan {
  uint64_t change_id = 0;
  uint64_t first = 0;
  uint64_t last = 0;
};

// Reserves `n` consecutive change ids, above every id in range_changes, for
// the caller's transaction (the allocator row stays locked until it ends, so
// changes get ids in the order they are recorded). First indexes the changes
// an older youma recorded without pieces (a rolling upgrade). Throws
// sql::SQLException.
// `indexed`, when given, says how many older changes were indexed.
uint64_t ReserveRangeChangeIds(sql::Connection& c, size_t n, size_t* indexed = nullptr);

// Whether range_changes holds changes that an older youma recorded without
// pieces (ids from the allocator's mark on): ReserveRangeChangeIds(c, 0)
// indexes them. Reads one index entry, locks nothing. Throws sql::SQLException.
bool HasUnindexedRangeChanges(sql::Connection& c);

// Writes the pieces of `changes` (each inside one batch); with
// `ignore_existing`, pieces already written are left as they are. Throws
// sql::SQLException.
void InsertRangeChangeBlocks(sql::Connection& c, const std::vector<ChangeSpan>& changes,
                             bool ignore_existing = false);

// A statement returning change_id, batch_id, action, first_code_id,
// last_code_id, effective_time of every change with a piece in one of `keys`
// (each change once per piece found), ordered by change id.
std::string RangeChangesHoldingSql(std::vector<uint64_t> keys);

// Fills range_change_blocks from every change in range_changes and sets the
// id allocator above them, in one transaction: migration 16.
void BackfillRangeChangeBlocks(sql::Connection& c);

}  // namespace youma::storage
