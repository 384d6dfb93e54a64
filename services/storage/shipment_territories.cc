#include "services/storage/shipment_territories.h"

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/storage/mysql.h"

namespace youma::storage {
namespace {

// Statements of at most this many rows or conditions.
constexpr size_t kChunk = 1000;

void InsertRows(sql::Connection& c, const std::vector<TerritoryRow>& rows) {
  for (size_t start = 0; start < rows.size(); start += kChunk) {
    std::string sql = "INSERT INTO shipment_territories (blk, first_code_id, last_code_id, shipment_id) VALUES ";
    for (size_t i = start; i < std::min(rows.size(), start + kChunk); ++i) {
      const TerritoryRow& r = rows[i];
      absl::StrAppend(&sql, i == start ? "(" : ",(", r.block, ",", r.first, ",", r.last, ",", r.shipment_id, ")");
    }
    Execute(c, sql);
  }
}

void DeleteRows(sql::Connection& c, const std::vector<TerritoryRow>& rows) {
  for (size_t start = 0; start < rows.size(); start += kChunk) {
    std::string sql = "DELETE FROM shipment_territories WHERE ";
    for (size_t i = start; i < std::min(rows.size(), start + kChunk); ++i) {
      absl::StrAppend(&sql, i == start ? "" : " OR ", "(blk = ", rows[i].block, " AND first_code_id = ",
                      rows[i].first, ")");
    }
    Execute(c, sql);
  }
}

// Whether `row` shares a code with one of `runs` (sorted, disjoint).
bool Overlaps(const TerritoryRow& row, const std::vector<CodeRun>& runs) {
  auto it = std::lower_bound(runs.begin(), runs.end(), row.first,
                             [](const CodeRun& r, uint64_t first) { return r.last < first; });
  return it != runs.end() && it->first <= row.last;
}

// The current rows sharing a code with `runs`: at each level, the blocks the
// runs touch (merged into intervals), read whole and filtered here.
std::vector<TerritoryRow> ReadOverlapping(sql::Connection& c, const std::vector<CodeRun>& runs) {
  std::vector<std::pair<uint64_t, uint64_t>> blocks;
  for (int level = 0; level <= kTopCodeBlockLevel; ++level) {
    std::vector<std::pair<uint64_t, uint64_t>> at_level;
    for (const CodeRun& run : runs) {
      if (level > TopCodeBlockLevel(std::max(run.batch_codes, run.last - run.first + 1))) continue;
      at_level.push_back({CodeBlockKey(level, run.first), CodeBlockKey(level, run.last)});
    }
    AppendMerged(std::move(at_level), &blocks);  // levels' keys never touch
  }
  std::vector<TerritoryRow> out;
  for (size_t start = 0; start < blocks.size(); start += kChunk) {
    std::string sql = "SELECT blk, first_code_id, last_code_id, shipment_id FROM shipment_territories WHERE ";
    for (size_t i = start; i < std::min(blocks.size(), start + kChunk); ++i) {
      absl::StrAppend(&sql, i == start ? "" : " OR ", "blk BETWEEN ", blocks[i].first, " AND ", blocks[i].second);
    }
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery(sql));
    while (rs->next()) {
      TerritoryRow row{rs->getUInt64(1), rs->getUInt64(2), rs->getUInt64(3), rs->getUInt64(4)};
      if (Overlaps(row, runs)) out.push_back(row);
    }
  }
  return out;
}

// A brand's shipment ranges as stored in shipment_ranges, by shipment.
std::map<uint64_t, std::vector<std::pair<uint64_t, uint64_t>>> RangesByShipment(sql::ResultSet& rs) {
  std::map<uint64_t, std::vector<std::pair<uint64_t, uint64_t>>> out;
  while (rs.next()) out[rs.getUInt64(1)].push_back({rs.getUInt64(2), rs.getUInt64(3)});
  return out;
}

}  // namespace

void AppendTerritoryRows(uint64_t first, uint64_t last, uint64_t shipment_id, std::vector<TerritoryRow>* out) {
  std::vector<CodeBlockPiece> pieces;
  AppendCodeBlockPieces(first, last, &pieces);
  for (const CodeBlockPiece& p : pieces) out->push_back({p.block, p.first, p.last, shipment_id});
}

TerritoryChange PaintShipment(const std::vector<TerritoryRow>& overlapped, const std::vector<CodeRun>& runs,
                              uint64_t shipment_id) {
  TerritoryChange change;
  change.removed = overlapped;
  for (const TerritoryRow& row : overlapped) {
    // What of the row the runs leave uncovered stays with its shipment.
    uint64_t x = row.first;
    bool rest = true;
    auto it = std::lower_bound(runs.begin(), runs.end(), row.first,
                               [](const CodeRun& r, uint64_t first) { return r.last < first; });
    for (; it != runs.end() && it->first <= row.last; ++it) {
      if (it->first > x) AppendTerritoryRows(x, it->first - 1, row.shipment_id, &change.added);
      if (it->last >= row.last) {
        rest = false;
        break;
      }
      x = it->last + 1;
    }
    if (rest) AppendTerritoryRows(x, row.last, row.shipment_id, &change.added);
  }
  for (const CodeRun& run : runs) AppendTerritoryRows(run.first, run.last, shipment_id, &change.added);
  return change;
}

const TerritoryRow* FindTerritoryRow(const std::map<uint64_t, TerritoryRow>& rows, uint64_t code_id) {
  auto it = rows.upper_bound(code_id);
  if (it == rows.begin()) return nullptr;
  --it;
  return it->second.last >= code_id ? &it->second : nullptr;
}

void PaintShipmentTerritory(sql::Connection& c, const std::vector<CodeRun>& runs, uint64_t shipment_id) {
  const TerritoryChange change = PaintShipment(ReadOverlapping(c, runs), runs, shipment_id);
  DeleteRows(c, change.removed);
  InsertRows(c, change.added);
}

uint64_t LockBrandShipments(sql::Connection& c, const std::string& brand, const BatchOf& batch_of) {
  const std::string quoted = Quote(c, brand);
  Execute(c, absl::StrCat("INSERT INTO shipment_locks (brand, painted_through) VALUES (", quoted,
                          ", 0) ON DUPLICATE KEY UPDATE brand = brand"));
  std::unique_ptr<sql::Statement> st(c.createStatement());
  uint64_t painted = 0;
  {
    std::unique_ptr<sql::ResultSet> rs(
        st->executeQuery(absl::StrCat("SELECT painted_through FROM shipment_locks WHERE brand = ", quoted)));
    if (rs->next()) painted = rs->getUInt64(1);
  }
  // Shipments past the mark were written by a youma that did not paint.
  std::unique_ptr<sql::ResultSet> rs(st->executeQuery(absl::StrCat(
      "SELECT r.shipment_id, r.first_code_id, r.last_code_id FROM shipments s JOIN shipment_ranges r "
      "ON r.shipment_id = s.shipment_id WHERE s.brand = ",
      quoted, " AND s.shipment_id > ", painted, " ORDER BY r.shipment_id, r.first_code_id")));
  const auto missed = RangesByShipment(*rs);
  for (const auto& [shipment_id, ranges] : missed) {
    PaintShipmentTerritory(c, BatchRuns(ranges, batch_of), shipment_id);
    painted = shipment_id;
  }
  if (!missed.empty()) MarkShipmentPainted(c, brand, painted);
  return painted;
}

void MarkShipmentPainted(sql::Connection& c, const std::string& brand, uint64_t shipment_id) {
  // Never down: ids that a database hands out from per-server caches (TiDB)
  // need not grow in the order shipments are written.
  Execute(c, absl::StrCat("UPDATE shipment_locks SET painted_through = GREATEST(painted_through, ", shipment_id,
                          ") WHERE brand = ", Quote(c, brand)));
}

std::vector<std::string> BrandsWithUnpaintedShipments(sql::Connection& c) {
  std::unique_ptr<sql::Statement> st(c.createStatement());
  std::unique_ptr<sql::ResultSet> rs(st->executeQuery(
      // Each brand's last shipment by a loose scan of shipments_brand
      // (brand, shipment_id): one index probe per brand.
      "SELECT m.brand FROM (SELECT brand, MAX(shipment_id) AS last_id FROM shipments GROUP BY brand) m "
      "LEFT JOIN shipment_locks l ON l.brand = m.brand WHERE m.last_id > COALESCE(l.painted_through, 0) "
      "ORDER BY m.brand"));
  std::vector<std::string> brands;
  while (rs->next()) brands.push_back(rs->getString(1));
  return brands;
}

void BackfillShipmentTerritories(sql::Connection& c) {
  const std::map<uint64_t, uint64_t> batches = ReadBatchSizes(c);
  const BatchOf batch_of = BatchesIn(batches);
  std::unique_ptr<sql::Statement> st(c.createStatement());
  std::vector<std::string> brands;
  {
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery("SELECT DISTINCT brand FROM shipments ORDER BY brand"));
    while (rs->next()) brands.push_back(rs->getString(1));
  }
  InOneTransaction(c, [&] {
    // From scratch: a run cut short before its COMMIT leaves nothing behind.
    Execute(c, "DELETE FROM shipment_territories");
    Execute(c, "DELETE FROM shipment_locks");
    for (const std::string& brand : brands) {
      // The brand's shipments painted in memory, then written: a brand's
      // codes never share a row with another brand's.
      std::map<uint64_t, TerritoryRow> rows;
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery(absl::StrCat(
          "SELECT r.shipment_id, r.first_code_id, r.last_code_id FROM shipments s JOIN shipment_ranges r "
          "ON r.shipment_id = s.shipment_id WHERE s.brand = ",
          Quote(c, brand), " ORDER BY r.shipment_id, r.first_code_id")));
      uint64_t painted = 0;
      for (const auto& [shipment_id, ranges] : RangesByShipment(*rs)) {
        const std::vector<CodeRun> runs = BatchRuns(ranges, batch_of);
        std::vector<TerritoryRow> overlapped;
        for (const CodeRun& run : runs) {
          auto it = rows.upper_bound(run.first);
          if (it != rows.begin() && std::prev(it)->second.last >= run.first) --it;
          for (; it != rows.end() && it->first <= run.last; ++it) {
            // A row spanning two runs is met by both.
            if (overlapped.empty() || overlapped.back().first != it->first) overlapped.push_back(it->second);
          }
        }
        const TerritoryChange change = PaintShipment(overlapped, runs, shipment_id);
        for (const TerritoryRow& r : change.removed) rows.erase(r.first);
        for (const TerritoryRow& r : change.added) rows[r.first] = r;
        painted = shipment_id;
      }
      std::vector<TerritoryRow> all;
      all.reserve(rows.size());
      for (const auto& [first, row] : rows) all.push_back(row);
      InsertRows(c, all);
      Execute(c, absl::StrCat("INSERT INTO shipment_locks (brand, painted_through) VALUES (", Quote(c, brand), ", ",
                              painted, ")"));
    }
  });
}

}  // namespace youma::storage
