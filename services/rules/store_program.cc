#include "services/rules/store_program.h"

#include <sodium.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "services/common/geo.h"
#include "services/common/status_macros.h"
#include "services/common/time_util.h"
#include "services/issuer/issuer.h"

namespace youma::rules {
namespace {

using common::DistanceKm;
using common::Located;
using common::SqlTime;
using storage::Prepare;

// Store ids stay below 2^53 so that JavaScript clients read them exactly.
constexpr uint64_t kStoreIdMask = (uint64_t{1} << 53) - 1;

absl::Status Invalid(std::string message) { return absl::InvalidArgumentError(std::move(message)); }

absl::Status CheckAdcode(const std::string& region, const char* field) {
  const bool digits = region.size() == 6 && std::all_of(region.begin(), region.end(), absl::ascii_isdigit);
  if (!digits) {
    return Invalid(absl::StrCat(field, " '", region, "' is not a 6-digit GB/T 2260 adcode (e.g. 440106)"));
  }
  return absl::OkStatus();
}

absl::Status CheckRegister(const youma::v1::RegisterStoreRequest& r) {
  if (r.owner_user_id().empty() || r.owner_user_id().size() > 128) {
    return Invalid("owner_user_id (the owner's openid) is required, at most 128 bytes");
  }
  if (r.name().empty() || r.name().size() > 200) return Invalid("a store needs a name of 1 to 200 bytes");
  YOUMA_RETURN_IF_ERROR(CheckAdcode(r.region(), "region"));
  if (r.latitude() < -90 || r.latitude() > 90 || r.longitude() < -180 || r.longitude() > 180 ||
      std::isnan(r.latitude()) || std::isnan(r.longitude())) {
    return Invalid("latitude must be within [-90, 90] and longitude within [-180, 180] (both 0: unknown)");
  }
  const bool phone_ok = r.phone().size() >= 5 && r.phone().size() <= 20 &&
                        std::all_of(r.phone().begin(), r.phone().end(), [](char c) {
                          return absl::ascii_isdigit(c) || c == '+' || c == '-' || c == ' ';
                        });
  if (!phone_ok) return Invalid("phone must be 5 to 20 characters of digits, '+', '-' or spaces");
  if (r.device_id().empty() || r.device_id().size() > 128) {
    return Invalid("device_id (the registering phone) is required, at most 128 bytes");
  }
  return absl::OkStatus();
}

absl::StatusOr<youma::v1::StorePolicy> LoadPolicy(sql::Connection& c, const std::string& brand) {
  youma::v1::StorePolicy policy;
  auto st = Prepare(c, "SELECT policy FROM store_policies WHERE brand = ?");
  st->setString(1, brand);
  std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
  if (rs->next() && !policy.ParseFromString(rs->getString(1))) {
    return absl::DataLossError(absl::StrCat("the store policy of brand ", brand, " does not parse"));
  }
  policy.set_brand(brand);
  return WithDefaults(policy);
}

// The columns every store read selects, in this order.
constexpr char kStoreColumns[] =
    "store_id, brand, owner_user_id, name, region, latitude, longitude, phone, device_id, register_time";

youma::v1::Store StoreFromRow(sql::ResultSet& rs) {
  youma::v1::Store s;
  s.set_store_id(rs.getUInt64(1));
  s.set_brand(rs.getString(2));
  s.set_owner_user_id(rs.getString(3));
  s.set_name(rs.getString(4));
  s.set_region(rs.getString(5));
  if (!rs.isNull(6)) s.set_latitude(rs.getDouble(6));
  if (!rs.isNull(7)) s.set_longitude(rs.getDouble(7));
  s.set_phone(rs.getString(8));
  s.set_device_id(rs.getString(9));
  *s.mutable_register_time() = common::ToProtoTime(common::ParseSqlTime(rs.getString(10)));
  return s;
}

// The query for stores of the brand within `radius_m` of a point (a bounding
// box on the index; callers check the exact distance), tagged with `tag` in
// its first column so that several can go in one UNION ALL.
std::string NearQuery(sql::Connection& c, const std::string& brand, double lat, double lng, double radius_m,
                      uint64_t except, uint64_t tag) {
  const double dlat = radius_m / 111'000.0;
  const double dlng = radius_m / (111'000.0 * std::max(0.01, std::cos(lat * 3.14159265358979323846 / 180)));
  return absl::StrCat("(SELECT ", tag, ", store_id, owner_user_id, latitude, longitude FROM stores WHERE brand = ",
                      storage::Quote(c, brand), " AND latitude BETWEEN ", storage::SqlDouble(lat - dlat), " AND ",
                      storage::SqlDouble(lat + dlat), " AND longitude BETWEEN ", storage::SqlDouble(lng - dlng),
                      " AND ", storage::SqlDouble(lng + dlng), " AND store_id <> ", except, ")");
}

// Stores of the brand within `radius_m` of a point: (store id, owner).
std::vector<std::pair<uint64_t, std::string>> StoresNear(sql::Connection& c, const std::string& brand, double lat,
                                                         double lng, double radius_m, uint64_t except) {
  std::unique_ptr<sql::Statement> st(c.createStatement());
  std::unique_ptr<sql::ResultSet> rs(st->executeQuery(NearQuery(c, brand, lat, lng, radius_m, except, 0)));
  std::vector<std::pair<uint64_t, std::string>> out;
  while (rs->next()) {
    if (DistanceKm(lat, lng, rs->getDouble(4), rs->getDouble(5)) * 1000 <= radius_m) {
      out.emplace_back(rs->getUInt64(2), rs->getString(3));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// What a store's totals, verification and flags are judged on.
struct Evidence {
  struct Open {
    std::string region;
    int source = 0;
    bool located = false;
    double lat = 0, lng = 0;
    absl::Time time;     // when the owner's phone scanned it
    absl::Time arrived;  // when the scan reached the server
  };
  int64_t cases_opened = 0, consumer_scans = 0, rebate_fen = 0;
  std::vector<Open> opens;                              // the latest thousand, latest first
  std::vector<std::pair<uint64_t, std::string>> near;   // other stores within the radius: id, owner; by id
  std::vector<uint64_t> same_device;                    // up to 20 other stores of its device, by id
};

// The evidence of every store in `stores`, in at most four queries however
// many there are (a page of ListStores is a hundred stores).
std::map<uint64_t, Evidence> GatherEvidence(sql::Connection& c, const youma::v1::StorePolicy& policy,
                                            const std::vector<youma::v1::Store*>& stores) {
  std::map<uint64_t, Evidence> out;
  if (stores.empty()) return out;
  std::string ids, opens, near, devices;
  std::set<std::pair<std::string, std::string>> seen_devices;
  for (const youma::v1::Store* s : stores) {
    out[s->store_id()];
    absl::StrAppend(&ids, ids.empty() ? "" : ",", s->store_id());
    // The latest thousand case opens are evidence enough.
    absl::StrAppend(&opens, opens.empty() ? "" : " UNION ALL ",
                    "(SELECT store_id, region, region_source, latitude, longitude, open_time, record_time FROM case_stores "
                    "WHERE store_id = ", s->store_id(), " ORDER BY open_time DESC LIMIT 1000)");
    if (Located(s->latitude(), s->longitude())) {
      absl::StrAppend(&near, near.empty() ? "" : " UNION ALL ",
                      NearQuery(c, s->brand(), s->latitude(), s->longitude(), policy.duplicate_radius_m(),
                                s->store_id(), s->store_id()));
    }
    if (seen_devices.emplace(s->brand(), s->device_id()).second) {
      // One more than kept: the store itself may be among them.
      absl::StrAppend(&devices, devices.empty() ? "" : " UNION ALL ",
                      "(SELECT store_id, brand, device_id FROM stores WHERE brand = ", storage::Quote(c, s->brand()),
                      " AND device_id = ", storage::Quote(c, s->device_id()), " ORDER BY store_id LIMIT 21)");
    }
  }
  auto query = [&c](const std::string& sql, const std::function<void(sql::ResultSet&)>& row) {
    std::unique_ptr<sql::Statement> st(c.createStatement());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery(sql));
    while (rs->next()) row(*rs);
  };
  query(absl::StrCat("SELECT store_id, COALESCE(SUM(cases_opened),0), COALESCE(SUM(consumer_scans),0), "
                     "COALESCE(SUM(rebate_fen),0) FROM store_daily WHERE store_id IN (", ids, ") GROUP BY store_id"),
        [&out](sql::ResultSet& rs) {
          Evidence& e = out[rs.getUInt64(1)];
          e.cases_opened = rs.getInt64(2);
          e.consumer_scans = rs.getInt64(3);
          e.rebate_fen = rs.getInt64(4);
        });
  query(opens, [&out](sql::ResultSet& rs) {
    const bool located = !rs.isNull(4);
    out[rs.getUInt64(1)].opens.push_back({rs.getString(2), rs.getInt(3), located,
                                          located ? static_cast<double>(rs.getDouble(4)) : 0.0,
                                          located ? static_cast<double>(rs.getDouble(5)) : 0.0,
                                          common::ParseSqlTime(rs.getString(6)), common::ParseSqlTime(rs.getString(7))});
  });
  for (auto& [id, e] : out) {
    std::stable_sort(e.opens.begin(), e.opens.end(),
                     [](const Evidence::Open& a, const Evidence::Open& b) { return a.time > b.time; });
  }
  if (!near.empty()) {
    std::map<uint64_t, const youma::v1::Store*> by_id;
    for (const youma::v1::Store* s : stores) by_id[s->store_id()] = s;
    query(near, [&](sql::ResultSet& rs) {
      const youma::v1::Store& s = *by_id.at(rs.getUInt64(1));
      if (DistanceKm(s.latitude(), s.longitude(), rs.getDouble(4), rs.getDouble(5)) * 1000 <=
          policy.duplicate_radius_m()) {
        out[s.store_id()].near.emplace_back(rs.getUInt64(2), rs.getString(3));
      }
    });
    for (auto& [id, e] : out) std::sort(e.near.begin(), e.near.end());
  }
  std::map<std::pair<std::string, std::string>, std::vector<uint64_t>> by_device;
  query(devices, [&by_device](sql::ResultSet& rs) {
    by_device[{rs.getString(2), rs.getString(3)}].push_back(rs.getUInt64(1));
  });
  for (const youma::v1::Store* s : stores) {
    std::vector<uint64_t>& others = out[s->store_id()].same_device;
    for (uint64_t id : by_device[{s->brand(), s->device_id()}]) {
      if (id != s->store_id() && others.size() < 20) others.push_back(id);
    }
  }
  return out;
}

// Verification, flags and totals of one store, from its evidence.
void Evaluate(const youma::v1::StorePolicy& policy, const Evidence& e, youma::v1::Store* s) {
  s->mutable_stats()->set_cases_opened(e.cases_opened);
  s->mutable_stats()->set_consumer_scans(e.consumer_scans);
  s->mutable_stats()->set_rebate_fen(e.rebate_fen);
  const std::vector<Evidence::Open>& opens = e.opens;
  const std::string city = s->region().substr(0, 4), province = s->region().substr(0, 2);
  int in_city = 0, in_region_any = 0;
  std::set<std::string> days, elsewhere;
  for (const Evidence::Open& o : opens) {
    const bool gps = o.source == youma::v1::REGION_SOURCE_GPS;
    if (gps && o.region.substr(0, 4) == city) {
      ++in_city;
      // Days by arrival: an owner cannot make a history of many days by
      // sending, in one sitting, scans dated on past days.
      days.insert(common::ChinaDay(o.arrived));
    }
    if ((gps && o.region.substr(0, 4) == city) || (!gps && o.region.substr(0, 2) == province)) {
      ++in_region_any;
    } else if (elsewhere.size() < 5) {
      elsewhere.insert(o.region);
    }
  }
  const bool verified = in_city >= policy.verify_min_cases() && static_cast<int>(days.size()) >= policy.verify_min_days();
  s->set_verification(verified ? youma::v1::STORE_VERIFICATION_VERIFIED : youma::v1::STORE_VERIFICATION_UNVERIFIED);
  s->set_verification_reason(absl::StrCat(
      in_city, " genuine case", in_city == 1 ? "" : "s", " opened by GPS in its city (", city, ") on ", days.size(),
      " day", days.size() == 1 ? "" : "s", verified ? "" : "; needs ",
      verified ? "" : absl::StrCat(policy.verify_min_cases(), " on ", policy.verify_min_days(), " days")));

  auto flag = [&](const char* rule, std::string reason) {
    youma::v1::StoreFlag* f = s->add_flags();
    f->set_rule(rule);
    f->set_reason(std::move(reason));
  };
  if (Located(s->latitude(), s->longitude())) {
    int far = 0, located = 0;
    double farthest = 0;
    for (const Evidence::Open& o : opens) {
      if (!o.located) continue;
      ++located;
      const double km = DistanceKm(s->latitude(), s->longitude(), o.lat, o.lng);
      if (km > policy.far_scan_km()) {
        ++far;
        farthest = std::max(farthest, km);
      }
    }
    if (far >= 2) {
      flag("far_case_scans", absl::StrFormat("%d of %d located case opens were more than %d km from the "
                                             "registered location (farthest %.0f km)",
                                             far, located, policy.far_scan_km(), farthest));
    }
    std::vector<std::string> others;
    for (const auto& [id, owner] : e.near) {
      if (owner != s->owner_user_id()) others.push_back(absl::StrCat(id));
    }
    if (!others.empty()) {
      flag("duplicate_location", absl::StrCat("within ", policy.duplicate_radius_m(),
                                              " m of another owner's store: ", absl::StrJoin(others, ", ")));
    }
  }
  {
    const std::vector<uint64_t>& others = e.same_device;
    if (static_cast<int>(others.size()) + 1 > policy.max_stores_per_device()) {
      flag("shared_device", absl::StrCat(others.size() + 1, " stores registered from one device (the brand allows ",
                                         policy.max_stores_per_device(), "); the others: ", absl::StrJoin(others, ", ")));
    }
  }
  if (static_cast<int>(opens.size()) >= policy.verify_min_cases() && in_region_any == 0) {
    flag("never_scans_in_registered_region",
         absl::StrCat("registered in ", s->region(), " but all of its ", opens.size(), " case opens were elsewhere (",
                      absl::StrJoin(elsewhere, ", "), ")"));
  }
}

// Evaluates every store in `stores` (GatherEvidence's queries, then each).
void Evaluate(sql::Connection& c, const youma::v1::StorePolicy& policy, const std::vector<youma::v1::Store*>& stores) {
  const std::map<uint64_t, Evidence> evidence = GatherEvidence(c, policy, stores);
  for (youma::v1::Store* s : stores) Evaluate(policy, evidence.at(s->store_id()), s);
}

absl::StatusOr<youma::v1::Store> LoadStore(sql::Connection& c, const std::string& brand, uint64_t store_id) {
  auto st = Prepare(c, absl::StrCat("SELECT ", kStoreColumns, " FROM stores WHERE store_id = ? AND brand = ?"));
  st->setUInt64(1, store_id);
  st->setString(2, brand);
  std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
  if (!rs->next()) return absl::NotFoundError(absl::StrCat("no store ", store_id, " for brand ", brand));
  return StoreFromRow(*rs);
}

absl::Status CheckPrefix(const std::string& prefix) {
  if (prefix.empty()) return absl::OkStatus();
  google::protobuf::RepeatedPtrField<std::string> one;
  one.Add(std::string(prefix));
  return issuer::ValidateTerritory(one);
}

}  // namespace

youma::v1::StorePolicy WithDefaults(youma::v1::StorePolicy p) {
  if (p.max_stores_per_owner() == 0) p.set_max_stores_per_owner(1);
  if (p.max_stores_per_device() == 0) p.set_max_stores_per_device(1);
  if (p.duplicate_radius_m() == 0) p.set_duplicate_radius_m(30);
  if (p.verify_min_cases() == 0) p.set_verify_min_cases(3);
  if (p.verify_min_days() == 0) p.set_verify_min_days(2);
  if (p.far_scan_km() == 0) p.set_far_scan_km(20);
  return p;
}

absl::StatusOr<youma::v1::RegisterStoreResponse> StoreProgram::Register(
    const std::string& brand, const youma::v1::RegisterStoreRequest& req) {
  YOUMA_RETURN_IF_ERROR(CheckRegister(req));
  const absl::Time now = absl::Now();
  YOUMA_ASSIGN_OR_RETURN(const absl::Time when,
                         common::ClientTime(req.has_register_time(), req.register_time(), "register_time", now));
  return pool_->InTransaction([&](sql::Connection& c) -> absl::StatusOr<youma::v1::RegisterStoreResponse> {
    YOUMA_ASSIGN_OR_RETURN(const youma::v1::StorePolicy policy, LoadPolicy(c, brand));
    {
      // The brand's row is the lock: its registrations queue on it, and the
      // checks below (the owner's stores, the device's, the place's) see every
      // store registered before. Registrations are rare; scans never take it.
      auto lock = Prepare(c, "INSERT INTO store_registrations (brand, stores) VALUES (?,1) "
                             "ON DUPLICATE KEY UPDATE stores = stores + 1");
      lock->setString(1, brand);
      lock->executeUpdate();
      auto up = Prepare(c, "INSERT INTO store_owners (brand, owner_user_id, stores) VALUES (?,?,1) "
                           "ON DUPLICATE KEY UPDATE stores = stores + 1");
      up->setString(1, brand);
      up->setString(2, req.owner_user_id());
      up->executeUpdate();
      auto st = Prepare(c, "SELECT store_id FROM stores WHERE brand = ? AND owner_user_id = ? ORDER BY store_id");
      st->setString(1, brand);
      st->setString(2, req.owner_user_id());
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
      std::vector<std::string> owned;
      while (rs->next()) owned.push_back(absl::StrCat(rs->getUInt64(1)));
      if (static_cast<int>(owned.size()) >= policy.max_stores_per_owner()) {
        return absl::AlreadyExistsError(absl::StrCat(
            "owner ", req.owner_user_id(), " already has store ", absl::StrJoin(owned, ", "), "; the brand allows ",
            policy.max_stores_per_owner(), " per owner (StorePolicy.max_stores_per_owner)"));
      }
    }
    const bool located = Located(req.latitude(), req.longitude());
    std::string withhold;
    {
      auto st = Prepare(c, "SELECT store_id, latitude, longitude FROM stores WHERE brand = ? AND device_id = ? "
                           "ORDER BY store_id");
      st->setString(1, brand);
      st->setString(2, req.device_id());
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
      while (rs->next()) {
        const uint64_t other = rs->getUInt64(1);
        if (located && !rs->isNull(2) &&
            DistanceKm(req.latitude(), req.longitude(), rs->getDouble(2), rs->getDouble(3)) * 1000 <=
                policy.duplicate_radius_m()) {
          return absl::AlreadyExistsError(absl::StrCat(
              "store ", other, " was already registered from this device at the same place (within ",
              policy.duplicate_radius_m(), " m)"));
        }
        if (withhold.empty()) {
          withhold = absl::StrCat("no registration bonus: this device already registered store ", other);
        }
      }
    }
    if (withhold.empty() && located) {
      const auto near = StoresNear(c, brand, req.latitude(), req.longitude(), policy.duplicate_radius_m(), 0);
      for (const auto& [id, owner] : near) {
        if (owner == req.owner_user_id()) continue;
        withhold = absl::StrCat("no registration bonus: store ", id, " is registered at the same place");
        break;
      }
    }
    uint64_t store_id = 0;
    while (store_id == 0) {
      randombytes_buf(&store_id, sizeof store_id);
      store_id &= kStoreIdMask;
    }
    auto ins = Prepare(c, absl::StrCat("INSERT INTO stores (", kStoreColumns, ") VALUES (?,?,?,?,?,?,?,?,?,?)"));
    ins->setUInt64(1, store_id);
    ins->setString(2, brand);
    ins->setString(3, req.owner_user_id());
    ins->setString(4, req.name());
    ins->setString(5, req.region());
    storage::SetLocation(*ins, 6, req.latitude(), req.longitude());
    ins->setString(8, req.phone());
    ins->setString(9, req.device_id());
    ins->setString(10, SqlTime(when));
    ins->executeUpdate();

    youma::v1::RegisterStoreResponse out;
    std::string why_not;
    YOUMA_RETURN_IF_ERROR(engine_->RegistrationBonus(
        c, NewStore{brand, store_id, req.owner_user_id(), req.region(), now, withhold}, out.mutable_rewards(),
        &why_not));
    out.set_no_bonus_reason(why_not);
    YOUMA_ASSIGN_OR_RETURN(*out.mutable_store(), LoadStore(c, brand, store_id));
    Evaluate(c, policy, {out.mutable_store()});
    return out;
  });
}

absl::StatusOr<youma::v1::Store> StoreProgram::Get(const std::string& brand, uint64_t store_id) {
  if (store_id == 0) return Invalid("store_id is required");
  return pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<youma::v1::Store> {
    YOUMA_ASSIGN_OR_RETURN(const youma::v1::StorePolicy policy, LoadPolicy(c, brand));
    YOUMA_ASSIGN_OR_RETURN(youma::v1::Store s, LoadStore(c, brand, store_id));
    Evaluate(c, policy, {&s});
    return s;
  });
}

absl::StatusOr<youma::v1::ListStoresResponse> StoreProgram::List(const std::string& brand,
                                                                 const youma::v1::ListStoresRequest& req) {
  YOUMA_RETURN_IF_ERROR(CheckPrefix(req.region_prefix()));
  if (req.page_size() > 1000) return Invalid("page_size is at most 1000");
  const uint32_t page = req.page_size() == 0 ? 100 : req.page_size();
  uint64_t after = 0;
  if (!req.page_token().empty() && !absl::SimpleAtoi(req.page_token(), &after)) {
    return Invalid("page_token is not one this call returned");
  }
  return pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<youma::v1::ListStoresResponse> {
    YOUMA_ASSIGN_OR_RETURN(const youma::v1::StorePolicy policy, LoadPolicy(c, brand));
    auto st = Prepare(c, absl::StrCat("SELECT ", kStoreColumns,
                                      " FROM stores WHERE brand = ? AND region LIKE ? AND store_id > ? "
                                      "ORDER BY store_id LIMIT ?"));
    st->setString(1, brand);
    st->setString(2, absl::StrCat(req.region_prefix(), "%"));
    st->setUInt64(3, after);
    st->setUInt(4, page);
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    youma::v1::ListStoresResponse out;
    uint32_t rows = 0;
    uint64_t last = 0;
    std::vector<youma::v1::Store> stores;
    while (rs->next()) {
      stores.push_back(StoreFromRow(*rs));
      ++rows;
      last = stores.back().store_id();
    }
    rs.reset();
    std::vector<youma::v1::Store*> page_stores;
    for (youma::v1::Store& s : stores) page_stores.push_back(&s);
    Evaluate(c, policy, page_stores);
    for (youma::v1::Store& s : stores) {
      if (req.flagged_only() && s.flags().empty()) continue;
      *out.add_stores() = std::move(s);
    }
    if (rows == page) out.set_next_page_token(absl::StrCat(last));
    return out;
  });
}

absl::StatusOr<youma::v1::LeaderboardResponse> StoreProgram::Leaderboard(const std::string& brand,
                                                                         const youma::v1::LeaderboardRequest& req) {
  YOUMA_RETURN_IF_ERROR(CheckPrefix(req.region_prefix()));
  if (req.limit() > 100) return Invalid("limit is at most 100");
  YOUMA_ASSIGN_OR_RETURN(const absl::Time to,
                         common::RequestTimeOr(req.has_to_time(), req.to_time(), "to_time", absl::Now()));
  YOUMA_ASSIGN_OR_RETURN(const absl::Time from, common::RequestTimeOr(req.has_from_time(), req.from_time(),
                                                                       "from_time", to - absl::Hours(24 * 30)));
  if (from > to) return Invalid("from_time is after to_time");
  const bool by_scans = req.order() == youma::v1::LEADERBOARD_ORDER_CONSUMER_SCANS;
  return pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<youma::v1::LeaderboardResponse> {
    youma::v1::LeaderboardResponse out;
    out.set_from_day(common::ChinaDay(from));
    out.set_to_day(common::ChinaDay(to));
    auto st = Prepare(
        c, absl::StrCat("SELECT d.store_id, s.name, s.region, SUM(d.cases_opened) AS cases, "
                        "SUM(d.consumer_scans) AS scans, SUM(d.rebate_fen) FROM store_daily d JOIN stores s ON "
                        "s.store_id = d.store_id WHERE d.brand = ? AND d.day BETWEEN ? AND ? AND d.region LIKE ? "
                        "GROUP BY d.store_id, s.name, s.region ORDER BY ",
                        by_scans ? "scans DESC, cases DESC" : "cases DESC, scans DESC", ", d.store_id LIMIT ?"));
    st->setString(1, brand);
    st->setString(2, out.from_day());
    st->setString(3, out.to_day());
    st->setString(4, absl::StrCat(req.region_prefix(), "%"));
    st->setUInt(5, req.limit() == 0 ? 20 : req.limit());
    std::unique_ptr<sql::ResultSet> rs(st->executeQuery());
    while (rs->next()) {
      youma::v1::LeaderboardEntry* e = out.add_entries();
      e->set_rank(out.entries_size());
      e->set_store_id(rs->getUInt64(1));
      e->set_name(rs->getString(2));
      e->set_region(rs->getString(3));
      e->mutable_stats()->set_cases_opened(rs->getInt64(4));
      e->mutable_stats()->set_consumer_scans(rs->getInt64(5));
      e->mutable_stats()->set_rebate_fen(rs->getInt64(6));
    }
    return out;
  });
}

absl::StatusOr<youma::v1::StorePolicy> StoreProgram::SetPolicy(const std::string& brand,
                                                               youma::v1::StorePolicy policy) {
  if (policy.max_stores_per_owner() < 0 || policy.max_stores_per_device() < 0 || policy.duplicate_radius_m() < 0 ||
      policy.verify_min_cases() < 0 || policy.verify_min_days() < 0 || policy.far_scan_km() < 0) {
    return Invalid("store policy values must not be negative (0 means the default)");
  }
  if (policy.max_stores_per_owner() > 1000 || policy.max_stores_per_device() > 1000) {
    return Invalid("at most 1000 stores per owner or device");
  }
  if (policy.duplicate_radius_m() > 10'000) return Invalid("duplicate_radius_m is at most 10000 (10 km)");
  policy.set_brand(brand);
  return pool_->WithConnection([&](sql::Connection& c) -> absl::StatusOr<youma::v1::StorePolicy> {
    auto st = Prepare(c, "INSERT INTO store_policies (brand, policy, update_time) VALUES (?,?,?) "
                         "ON DUPLICATE KEY UPDATE policy = VALUES(policy), update_time = VALUES(update_time)");
    st->setString(1, brand);
    st->setString(2, policy.SerializeAsString());
    st->setString(3, SqlTime(absl::Now()));
    st->executeUpdate();
    return WithDefaults(policy);
  });
}

absl::StatusOr<youma::v1::StorePolicy> StoreProgram::GetPolicy(const std::string& brand) {
  return pool_->WithConnection(
      [&](sql::Connection& c) -> absl::StatusOr<youma::v1::StorePolicy> { return LoadPolicy(c, brand); });
}

}  // namespace youma::rules
