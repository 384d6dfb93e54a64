// EPCIS 2.0 JSON (GS1) for a code's history: events are added as the
// history is read, and the document comes out sorted by event time.
//
//   EpcisDocument doc("moutai");
//   doc.Commissioning(batch_time, {case_id, bottle_id, ...}, batch_id, gtin);
//   doc.Aggregation(link_time, case_id, {bottle_id, ...}, "L3");
//   doc.Shipping(ship_time, case_id, shipment_id, "gz-001", {"44"});
//   doc.Observation(scan_time, bottle_id, youma::v1::SCAN_ROLE_CONSUMER, "440106", ...);
//   std::string json = doc.Json(absl::Now());
//
// Identifiers are URNs made from the code id, urn:youma:<brand>:code:<id>,
// never the printed code: that carries its tag or signature, and a history
// handed to a partner must not let anyone reprint a working label. Event ids
// are name-based UUIDs, so exporting the same history twice gives the same
// ids. Times are written in China Standard Time (+08:00).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "youma/v1/scan.pb.h"

namespace youma::audit {

class EpcisDocument {
 public:
  explicit EpcisDocument(std::string brand) : brand_(std::move(brand)) {}

  // The codes of one batch printed and commissioned (ObjectEvent ADD).
  void Commissioning(absl::Time when, const std::vector<uint64_t>& code_ids, uint64_t batch_id,
                     const std::string& gtin);
  // Bottles packed into a case (AggregationEvent ADD), or taken out (DELETE).
  void Aggregation(absl::Time when, uint64_t case_id, const std::vector<uint64_t>& bottle_ids,
                   const std::string& production_line, bool unpack = false);
  // A case shipped to a dealer (ObjectEvent OBSERVE, shipping, in_transit).
  void Shipping(absl::Time when, uint64_t case_id, uint64_t shipment_id, const std::string& dealer_id,
                const std::vector<std::string>& territory);
  // A scan (ObjectEvent OBSERVE): store owners receiving, consumers and
  // dealers inspecting; where (geo URI, adcode) and the verdict.
  void Observation(absl::Time when, uint64_t code_id, youma::v1::ScanRole role, const std::string& region,
                   youma::v1::RegionSource source, bool located, double latitude, double longitude,
                   youma::v1::ScanVerdict verdict, const std::string& client_scan_id);

  int events() const { return static_cast<int>(events_.size()); }
  // The EPCISDocument, pretty-printed.
  std::string Json(absl::Time created) const;

  std::string CodeUrn(uint64_t code_id) const;

 private:
  nlohmann::ordered_json Event(const char* type, absl::Time when, const std::string& key) const;

  std::string brand_;
  std::vector<std::pair<absl::Time, nlohmann::ordered_json>> events_;
};

}  // namespace youma::audit
