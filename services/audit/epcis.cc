#include "services/audit/epcis.h"

#include <sodium.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/common/time_util.h"

namespace youma::audit {
namespace {

// Percent-encodes all but RFC 3986's unreserved characters (URN-safe).
std::string UrnPart(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&out, "%%%02X", c);
    }
  }
  return out;
}

std::string EpcisTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3S+08:00", t, common::ChinaTime());
}

// A name-based UUID (RFC 9562 version 8) from BLAKE2b of `name`.
std::string NameUuid(const std::string& name) {
  unsigned char h[16];
  crypto_generichash(h, sizeof h, reinterpret_cast<const unsigned char*>(name.data()), name.size(), nullptr, 0);
  h[6] = static_cast<unsigned char>((h[6] & 0x0f) | 0x80);
  h[8] = static_cast<unsigned char>((h[8] & 0x3f) | 0x80);
  std::string hex(32, '0');
  sodium_bin2hex(hex.data(), hex.size() + 1, h, sizeof h);
  return absl::StrCat("urn:uuid:", hex.substr(0, 8), "-", hex.substr(8, 4), "-", hex.substr(12, 4), "-",
                      hex.substr(16, 4), "-", hex.substr(20));
}

const char* RoleName(youma::v1::ScanRole role) {
  switch (role) {
    case youma::v1::SCAN_ROLE_CONSUMER: return "consumer";
    case youma::v1::SCAN_ROLE_STORE_OWNER: return "store_owner";
    case youma::v1::SCAN_ROLE_DEALER_INSPECTION: return "dealer_inspection";
    default: return "unknown";
  }
}

const char* VerdictName(youma::v1::ScanVerdict v) {
  switch (v) {
    case youma::v1::SCAN_VERDICT_GENUINE: return "genuine";
    case youma::v1::SCAN_VERDICT_COUNTERFEIT: return "counterfeit";
    case youma::v1::SCAN_VERDICT_REVOKED: return "revoked";
    case youma::v1::SCAN_VERDICT_NOT_ACTIVE: return "not_active";
    case youma::v1::SCAN_VERDICT_FROZEN: return "frozen";
    default: return "unknown";
  }
}

}  // namespace

std::string EpcisDocument::CodeUrn(uint64_t code_id) const {
  return absl::StrCat("urn:youma:", UrnPart(brand_), ":code:", code_id);
}

nlohmann::ordered_json EpcisDocument::Event(const char* type, absl::Time when, const std::string& key) const {
  return nlohmann::ordered_json{{"type", type},
                        {"eventID", NameUuid(absl::StrCat("youma-epcis-v1|", brand_, "|", key))},
                        {"eventTime", EpcisTime(when)},
                        {"eventTimeZoneOffset", "+08:00"}};
}

void EpcisDocument::Commissioning(absl::Time when, const std::vector<uint64_t>& code_ids, uint64_t batch_id,
                                  const std::string& gtin) {
  nlohmann::ordered_json e = Event("ObjectEvent", when, absl::StrCat("commissioning|", batch_id, "|", code_ids.front()));
  nlohmann::ordered_json epcs = nlohmann::ordered_json::array();
  for (uint64_t id : code_ids) epcs.push_back(CodeUrn(id));
  e["epcList"] = std::move(epcs);
  e["action"] = "ADD";
  e["bizStep"] = "commissioning";
  e["disposition"] = "active";
  e["youma:batch"] = batch_id;
  e["youma:gtin"] = gtin;
  events_.emplace_back(when, std::move(e));
}

void EpcisDocument::Aggregation(absl::Time when, uint64_t case_id, const std::vector<uint64_t>& bottle_ids,
                                const std::string& production_line, bool unpack) {
  nlohmann::ordered_json e = Event("AggregationEvent", when,
                           absl::StrCat(unpack ? "unpacking|" : "packing|", case_id, "|", bottle_ids.front(), "|",
                                        absl::ToUnixMicros(when)));
  e["parentID"] = CodeUrn(case_id);
  nlohmann::ordered_json children = nlohmann::ordered_json::array();
  for (uint64_t id : bottle_ids) children.push_back(CodeUrn(id));
  e["childEPCs"] = std::move(children);
  e["action"] = unpack ? "DELETE" : "ADD";
  e["bizStep"] = unpack ? "unpacking" : "packing";
  if (!production_line.empty()) e["youma:productionLine"] = production_line;
  events_.emplace_back(when, std::move(e));
}

void EpcisDocument::Shipping(absl::Time when, uint64_t case_id, uint64_t shipment_id, const std::string& dealer_id,
                             const std::vector<std::string>& territory) {
  nlohmann::ordered_json e = Event("ObjectEvent", when, absl::StrCat("shipping|", shipment_id, "|", case_id));
  e["epcList"] = nlohmann::ordered_json::array({CodeUrn(case_id)});
  e["action"] = "OBSERVE";
  e["bizStep"] = "shipping";
  e["disposition"] = "in_transit";
  e["bizTransactionList"] = nlohmann::ordered_json::array(
      {{{"type", "desadv"}, {"bizTransaction", absl::StrCat("urn:youma:", UrnPart(brand_), ":shipment:", shipment_id)}}});
  e["destinationList"] = nlohmann::ordered_json::array(
      {{{"type", "owning_party"},
        {"destination", absl::StrCat("urn:youma:", UrnPart(brand_), ":dealer:", UrnPart(dealer_id))}}});
  e["youma:territory"] = territory;
  events_.emplace_back(when, std::move(e));
}

void EpcisDocument::Observation(absl::Time when, uint64_t code_id, youma::v1::ScanRole role,
                                const std::string& region, youma::v1::RegionSource source, bool located,
                                double latitude, double longitude, youma::v1::ScanVerdict verdict,
                                const std::string& client_scan_id) {
  nlohmann::ordered_json e = Event("ObjectEvent", when, absl::StrCat("scan|", client_scan_id));
  e["epcList"] = nlohmann::ordered_json::array({CodeUrn(code_id)});
  e["action"] = "OBSERVE";
  // Opening a case in the shop is receiving it; anyone else checks the goods.
  e["bizStep"] = role == youma::v1::SCAN_ROLE_STORE_OWNER ? "receiving" : "inspecting";
  if (located) e["readPoint"] = {{"id", absl::StrFormat("geo:%.6f,%.6f", latitude, longitude)}};
  e["youma:role"] = RoleName(role);
  if (!region.empty() && region != "000000") {
    e["youma:region"] = region;
    e["youma:regionSource"] = source == youma::v1::REGION_SOURCE_IP ? "ip" : "gps";
  }
  e["youma:verdict"] = VerdictName(verdict);
  events_.emplace_back(when, std::move(e));
}

std::string EpcisDocument::Json(absl::Time created) const {
  std::vector<const std::pair<absl::Time, nlohmann::ordered_json>*> sorted;
  for (const auto& e : events_) sorted.push_back(&e);
  std::stable_sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto* e : sorted) list.push_back(e->second);
  const nlohmann::ordered_json doc = {
      {"@context",
       nlohmann::ordered_json::array({"https://ref.gs1.org/standards/epcis/epcis-context.jsonld",
                              {{"youma", "https://youma.dev/epcis/"}}})},
      {"type", "EPCISDocument"},
      {"schemaVersion", "2.0"},
      {"creationDate", EpcisTime(created)},
      {"epcisBody", {{"eventList", std::move(list)}}}};
  return doc.dump(2);
}

}  // namespace youma::audit
