// Which shipment carries each code now: the table `shipment_territories`.
// A code shipped twice belongs to the later shipment ("the latest shipment
// wins"), decided when that shipment is written, so the table never holds
// two rows for one code and a scan finds its code's row without a search.
//
//   // Writing a shipment (inside its transaction, brand's shipments queued):
//   PaintShipmentTerritory(c, ShippedRuns(ranges, batch_of), shipment_id);
//   // Reading, for a group of scans: one IN list of block keys.
//   for (code : codes) AppendTerritoryProbes(code, batch_codes, &keys);
//   SELECT ... FROM shipment_territories WHERE blk IN (keys)  -> FindTerritoryRow
//
// Layout. A run of codes with one shipment is stored as at most two rows per
// level l = 0..7. A row at level l covers whole aligned units of 64^l codes
// inside one aligned block of 64^(l+1) codes, and is keyed by (l, that block).
// The row holding code c is therefore in block (l, c / 64^(l+1)) at one of the
// levels: reading those few blocks finds it, with no "nearest range below c"
// search, which MySQL can only do with one statement per code. Runs never
// cross a batch, so a code of a batch of n codes needs only the levels with
// 64^l <= n (2 to 5 for real batches).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <cppconn/connection.h>

namespace youma::storage {

// Inclusive code ids shipped together, inside one batch of `batch_codes` codes.
struct CodeRun {
  uint64_t first = 0;
  uint64_t last = 0;
  uint64_t batch_codes = 0;
};

struct TerritoryRow {
  uint64_t block = 0;  // (level << 56) | (first >> 6 * (level + 1))
  uint64_t first = 0;
  uint64_t last = 0;
  uint64_t shipment_id = 0;
  bool operator==(const TerritoryRow&) const = default;
};

// The batch holding a code id: its first code id and its number of codes.
using BatchOf = std::function<std::optional<std::pair<uint64_t, uint64_t>>(uint64_t code_id)>;

// `ranges` (inclusive, any order, may overlap) merged and cut at batch ends.
// A code no batch holds stays in its range (it cannot be scanned anyway).
std::vector<CodeRun> ShippedRuns(std::vector<std::pair<uint64_t, uint64_t>> ranges, const BatchOf& batch_of);

// The rows that store codes first..last for `shipment_id`, appended to `out`.
void AppendTerritoryRows(uint64_t first, uint64_t last, uint64_t shipment_id, std::vector<TerritoryRow>* out);

// The block keys to read to find the row holding `code_id`, a code of a batch
// of `batch_codes` codes, appended to `keys`.
void AppendTerritoryProbes(uint64_t code_id, uint64_t batch_codes, std::vector<uint64_t>* keys);

// What writing a shipment changes: `removed` are the rows sharing a code with
// its runs; `added` stores the runs and what the removed rows keep.
struct TerritoryChange {
  std::vector<TerritoryRow> removed;
  std::vector<TerritoryRow> added;
};
// `runs` sorted and disjoint; `overlapped` exactly the current rows that share
// a code with them.
TerritoryChange PaintShipment(const std::vector<TerritoryRow>& overlapped, const std::vector<CodeRun>& runs,
                              uint64_t shipment_id);

// The row of `rows` (keyed by first code id, disjoint) holding `code_id`.
const TerritoryRow* FindTerritoryRow(const std::map<uint64_t, TerritoryRow>& rows, uint64_t code_id);

// Writes shipment `shipment_id` of `runs` (from ShippedRuns) over the table.
// Call inside the shipment's transaction, after taking its brand's row in
// shipment_locks (LockBrandShipments): painting reads, then rewrites, the rows
// it overlaps. Throws sql::SQLException as Connector/C++ does.
void PaintShipmentTerritory(sql::Connection& c, const std::vector<CodeRun>& runs, uint64_t shipment_id);

// Takes the brand's row in shipment_locks for the transaction (the brand's
// shipments are written one at a time, in shipment-id order) and paints the
// brand's shipments that an older youma wrote without painting (a rolling
// upgrade). Returns the id of the last shipment painted. Throws as above.
uint64_t LockBrandShipments(sql::Connection& c, const std::string& brand, const BatchOf& batch_of);
// Records `shipment_id` as the brand's last painted shipment (same transaction).
void MarkShipmentPainted(sql::Connection& c, const std::string& brand, uint64_t shipment_id);

// Fills shipment_territories (and shipment_locks) from every shipment recorded
// in shipment_ranges, in shipment order, in one transaction: migration 15.
void BackfillShipmentTerritories(sql::Connection& c);

}  // namespace youma::storage
