// Code-id ranges stored so that the ranges holding a code are found by
// equality lookups: the layout behind shipment_territories and
// range_change_blocks.
//
//   std::vector<CodeBlockPiece> pieces;
//   AppendCodeBlockPieces(first, last, &pieces);   // write one row per piece
//   std::vector<uint64_t> keys;
//   AppendCodeBlockProbes(code_id, batch.code_count, &keys);
//   SELECT ... WHERE blk IN (keys)   -> every piece holding code_id, and others
//
// A range is cut into at most two pieces per level l = 0..7. A piece at level
// l covers whole aligned units of 64^l codes inside one aligned block of
// 64^(l+1) codes, and is keyed by (l, that block). The piece holding code c is
// therefore in block (l, c / 64^(l+1)) at one of the levels: reading those few
// blocks finds every range holding c, with no "nearest range below c" search,
// which MySQL can only do with one statement per code. A range that lies
// inside one batch of n codes has pieces only at the levels with 64^l <= n, so
// a code of that batch needs 2 to 5 keys for real batch sizes. Ranges that
// may cross a batch's end are cut at it first (BatchRuns).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include <cppconn/connection.h>

namespace youma::storage {

// Levels 0..kTopCodeBlockLevel: 64^8 = 2^48 codes, every 48-bit code id.
inline constexpr int kTopCodeBlockLevel = 7;

// The block key of `code_id` at `level` (0..kTopCodeBlockLevel).
uint64_t CodeBlockKey(int level, uint64_t code_id);
// The highest level a piece of a range inside a batch of `batch_codes` codes can have.
int TopCodeBlockLevel(uint64_t batch_codes);

struct CodeBlockPiece {
  uint64_t block = 0;
  uint64_t first = 0;
  uint64_t last = 0;
  bool operator==(const CodeBlockPiece&) const = default;
};

// The pieces of codes first..last (inclusive), in code order, appended to `out`.
void AppendCodeBlockPieces(uint64_t first, uint64_t last, std::vector<CodeBlockPiece>* out);

// The block keys to read to find the pieces holding `code_id`, a code of a
// batch of `batch_codes` codes, appended to `keys`.
void AppendCodeBlockProbes(uint64_t code_id, uint64_t batch_codes, std::vector<uint64_t>* keys);

// Inclusive code ids inside one batch of `batch_codes` codes.
struct CodeRun {
  uint64_t first = 0;
  uint64_t last = 0;
  uint64_t batch_codes = 0;
};

// The batch holding a code id: its first code id and its number of codes.
using BatchOf = std::function<std::optional<std::pair<uint64_t, uint64_t>>(uint64_t code_id)>;

// Every batch's first code id and number of codes (for migrations' backfills).
std::map<uint64_t, uint64_t> ReadBatchSizes(sql::Connection& c);
// BatchOf over such a map, which must outlive it.
BatchOf BatchesIn(const std::map<uint64_t, uint64_t>& batches);

// `ranges` (inclusive, any order, may overlap) merged, in order, and cut at
// batch ends. A code no batch holds stays in its range (it cannot be scanned).
std::vector<CodeRun> BatchRuns(std::vector<std::pair<uint64_t, uint64_t>> ranges, const BatchOf& batch_of);

// Appends `intervals` (inclusive, any order) to `out`, merging those that
// overlap or touch each other or out's last.
void AppendMerged(std::vector<std::pair<uint64_t, uint64_t>> intervals,
                  std::vector<std::pair<uint64_t, uint64_t>>* out);

}  // namespace youma::storage
