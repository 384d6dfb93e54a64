// Which shipment carries each code now: the table `shipment_territories`.
// A code shipped twice belongs to the later shipment ("the latest shipment
// wins"), decided when that shipment is written, so the table never holds
// two rows for one code and a scan finds its code's row without a search.
//
//   // Writing a shipment (inside its transaction, brand's shipments queued):
//   PaintShipmentTerritory(c, BatchRuns(ranges, batch_of), shipment_id);
//   // Reading, for a group of scans: one IN list of block keys.
//   for (code : codes) AppendCodeBlockProbes(code, batch_codes, &keys);
//   SELECT ... FROM shipment_territories WHERE blk IN (keys)  -> FindTerritoryRow
//
// The rows are laid out as services/storage/code_blocks.h describes.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <cppconn/connection.h>

#include "services/storage/code_blocks.h"

namespace youma::storage {

struct TerritoryRow {
  uint64_t block = 0;  // CodeBlockKey
  uint64_t first = 0;
  uint64_t last = 0;
  uint64_t shipment_id = 0;
  bool operator==(const TerritoryRow&) const = default;
};

// The rows that store codes first..last for `shipment_id`, appended to `out`.
void AppendTerritoryRows(uint64_t first, uint64_t last, uint64_t shipment_id, std::vector<TerritoryRow>* out);

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

// Writes shipment `shipment_id` of `runs` (from BatchRuns) over the table.
// Call inside the shipment's transaction, after taking its brand's row in
// shipment_locks (LockBrandShipments): painting reads, then rewrites, the rows
// it overlaps. Throws sql::SQLException as Connector/C++ does.
void PaintShipmentTerritory(sql::Connection& c, const std::vector<CodeRun>& runs, uint64_t shipment_id);

// Takes the brand's row in shipment_locks for the transaction (the brand's
// shipments are written one at a time: the one written last is the latest)
// and paints the brand's shipments that an older youma wrote without painting
// (a rolling upgrade). Returns the highest shipment id painted. Throws as above.
uint64_t LockBrandShipments(sql::Connection& c, const std::string& brand, const BatchOf& batch_of);
// Records `shipment_id` as the brand's last painted shipment (same transaction).
void MarkShipmentPainted(sql::Connection& c, const std::string& brand, uint64_t shipment_id);

// The brands with shipments that an older youma wrote without painting them
// (past the brand's painted_through, or a brand with no row in
// shipment_locks): LockBrandShipments paints them. One index probe per brand.
// Throws as above.
std::vector<std::string> BrandsWithUnpaintedShipments(sql::Connection& c);

// Fills shipment_territories (and shipment_locks) from every shipment recorded
// in shipment_ranges, in shipment order, in one transaction: migration 15.
void BackfillShipmentTerritories(sql::Connection& c);

}  // namespace youma::storage
