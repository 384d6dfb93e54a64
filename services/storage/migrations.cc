#include "services/storage/migrations.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "services/storage/range_change_blocks.h"
#include "services/storage/shipment_territories.h"

namespace youma::storage {

const std::vector<Migration>& AllMigrations() {
  static const std::vector<Migration> migrations = {
      {1,
       "issuer: products, dealers, batches, ranges, aggregation, shipments, exports, "
       "tokens",
       {
           // A row per id sequence: 'codes' is touched once per batch, 'range_changes'
           // (migration 16) once per range change; never per code or scan.
           R"sql(CREATE TABLE IF NOT EXISTS code_id_allocator (
  name VARCHAR(16) NOT NULL PRIMARY KEY,
  next_code_id BIGINT UNSIGNED NOT NULL
) ENGINE=InnoDB)sql",
           "INSERT IGNORE INTO code_id_allocator VALUES ('codes', 1)",
           R"sql(CREATE TABLE IF NOT EXISTS products (
  brand VARCHAR(64) NOT NULL,
  gtin CHAR(14) NOT NULL,
  name VARCHAR(200) NOT NULL,
  create_time DATETIME(6) NOT NULL,
  PRIMARY KEY (brand, gtin)
) ENGINE=InnoDB)sql",
           R"sql(CREATE TABLE IF NOT EXISTS dealers (
  brand VARCHAR(64) NOT NULL,
  dealer_id VARCHAR(64) NOT NULL,
  name VARCHAR(200) NOT NULL,
  territory VARCHAR(2000) NOT NULL,
  create_time DATETIME(6) NOT NULL,
  PRIMARY KEY (brand, dealer_id)
) ENGINE=InnoDB)sql",
           // One row per batch, whatever its size: codes are a range of ids.
           R"sql(CREATE TABLE IF NOT EXISTS batches (
  batch_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  brand VARCHAR(64) NOT NULL,
  request_id VARCHAR(128) NOT NULL,
  params_digest BINARY(32) NOT NULL,
  gtin CHAR(14) NOT NULL,
  kind TINYINT NOT NULL,
  set_size INT UNSIGNED NOT NULL,
  scheme TINYINT NOT NULL,
  case_scheme TINYINT NOT NULL,
  key_id INT UNSIGNED NOT NULL,
  case_key_id INT UNSIGNED NOT NULL,
  quantity BIGINT NOT NULL,
  code_count BIGINT UNSIGNED NOT NULL,
  planned_territory VARCHAR(2000) NOT NULL,
  production_line VARCHAR(64) NOT NULL,
  activation TINYINT NOT NULL,
  activate_time DATETIME(6) NULL,
  export_limit INT NOT NULL,
  actor VARCHAR(64) NOT NULL,
  create_time DATETIME(6) NOT NULL,
  UNIQUE KEY batches_request (brand, request_id),
  KEY batches_brand (brand, batch_id)
) ENGINE=InnoDB)sql",
           R"sql(CREATE TABLE IF NOT EXISTS range_changes (
  change_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  brand VARCHAR(64) NOT NULL,
  batch_id BIGINT UNSIGNED NOT NULL,
  action TINYINT NOT NULL,
  first_code_id BIGINT UNSIGNED NOT NULL,
  last_code_id BIGINT UNSIGNED NOT NULL,
  reason VARCHAR(500) NOT NULL,
  actor VARCHAR(64) NOT NULL,
  effective_time DATETIME(6) NOT NULL,
  create_time DATETIME(6) NOT NULL,
  KEY range_changes_batch (batch_id, change_id)
) ENGINE=InnoDB)sql",
           // A bottle is in at most one case: the primary key says so.
           R"sql(CREATE TABLE IF NOT EXISTS aggregation_links (
  bottle_code_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  case_code_id BIGINT UNSIGNED NOT NULL,
  brand VARCHAR(64) NOT NULL,
  production_line VARCHAR(64) NOT NULL,
  create_time DATETIME(6) NOT NULL,
  KEY aggregation_case (case_code_id)
) ENGINE=InnoDB)sql",
           R"sql(CREATE TABLE IF NOT EXISTS aggregation_unlinks (
  unlink_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  brand VARCHAR(64) NOT NULL,
  bottle_code_id BIGINT UNSIGNED NOT NULL,
  case_code_id BIGINT UNSIGNED NOT NULL,
  reason VARCHAR(500) NOT NULL,
  actor VARCHAR(64) NOT NULL,
  create_time DATETIME(6) NOT NULL,
  KEY aggregation_unlinks_bottle (bottle_code_id)
) ENGINE=InnoDB)sql",
           R"sql(CREATE TABLE IF NOT EXISTS shipments (
  shipment_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  brand VARCHAR(64) NOT NULL,
  dealer_id VARCHAR(64) NOT NULL,
  request_id VARCHAR(128) NULL,
  territory VARCHAR(2000) NOT NULL,
  cases BIGINT NOT NULL,
  codes BIGINT NOT NULL,
  activated BIGINT NOT NULL,
  actor VARCHAR(64) NOT NULL,
  ship_time DATETIME(6) NOT NULL,
  create_time DATETIME(6) NOT NULL,
  UNIQUE KEY shipments_request (brand, request_id),
  KEY shipments_dealer (brand, dealer_id, ship_time)
) ENGINE=InnoDB)sql",
           // Shipped code-id ranges; bottles inherit their case's shipment.
           R"sql(CREATE TABLE IF NOT EXISTS shipment_ranges (
  shipment_id BIGINT UNSIGNED NOT NULL,
  first_code_id BIGINT UNSIGNED NOT NULL,
  last_code_id BIGINT UNSIGNED NOT NULL,
  brand VARCHAR(64) NOT NULL,
  PRIMARY KEY (shipment_id, first_code_id),
  KEY shipment_ranges_first (first_code_id)
) ENGINE=InnoDB)sql",
           R"sql(CREATE TABLE IF NOT EXISTS exports (
  export_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  brand VARCHAR(64) NOT NULL,
  batch_id BIGINT UNSIGNED NOT NULL,
  first_code_id BIGINT UNSIGNED NOT NULL,
  last_code_id BIGINT UNSIGNED NOT NULL,
  format VARCHAR(16) NOT NULL,
  actor VARCHAR(64) NOT NULL,
  sha256 CHAR(64) NULL,
  codes BIGINT UNSIGNED NOT NULL,
  create_time DATETIME(6) NOT NULL,
  finish_time DATETIME(6) NULL,
  KEY exports_batch (batch_id)
) ENGINE=InnoDB)sql",
           R"sql(CREATE TABLE IF NOT EXISTS api_tokens (
  token_id CHAR(16) NOT NULL PRIMARY KEY,
  brand VARCHAR(64) NOT NULL,
  role TINYINT NOT NULL,
  secret_hash BINARY(32) NOT NULL,
  description VARCHAR(200) NOT NULL,
  create_time DATETIME(6) NOT NULL,
  revoked TINYINT NOT NULL DEFAULT 0,
  KEY api_tokens_brand (brand)
) ENGINE=InnoDB)sql",
       }},
      {2,
       "scans: code history, scan log, counterfeit counts; rules: campaigns, budget shards, "
       "awards, diversion",
       {
           // One row per scanned code: its first scan and how often it was scanned.
           R"sql(CREATE TABLE IF NOT EXISTS code_scans (
  code_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  brand VARCHAR(64) NOT NULL,
  first_scan_time DATETIME(6) NOT NULL,
  first_region CHAR(6) NOT NULL,
  scan_count INT UNSIGNED NOT NULL,
  last_scan_time DATETIME(6) NOT NULL
) ENGINE=InnoDB)sql",
           // The scan log; the client scan id makes retries return the first answer.
           R"sql(CREATE TABLE IF NOT EXISTS scans (
  brand VARCHAR(64) NOT NULL,
  client_scan_id VARCHAR(128) NOT NULL,
  code_id BIGINT UNSIGNED NOT NULL,
  role TINYINT NOT NULL,
  user_id VARCHAR(128) NOT NULL,
  device_id VARCHAR(128) NOT NULL,
  client_ip VARCHAR(45) NOT NULL,
  region CHAR(6) NOT NULL,
  region_source TINYINT NOT NULL,
  latitude DOUBLE NULL,
  longitude DOUBLE NULL,
  scan_time DATETIME(6) NOT NULL,
  record_time DATETIME(6) NOT NULL,
  verdict TINYINT NOT NULL,
  answer VARBINARY(8192) NOT NULL,
  PRIMARY KEY (brand, client_scan_id),
  KEY scans_code (code_id, scan_time),
  KEY scans_time (brand, scan_time)
) ENGINE=InnoDB)sql",
           // Forged scans are counted, never logged one by one.
           R"sql(CREATE TABLE IF NOT EXISTS counterfeit_counts (
  brand VARCHAR(64) NOT NULL,
  region CHAR(6) NOT NULL,
  hour DATETIME NOT NULL,
  scans BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (brand, region, hour)
) ENGINE=InnoDB)sql",
           R"sql(CREATE TABLE IF NOT EXISTS campaigns (
  campaign_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  brand VARCHAR(64) NOT NULL,
  state TINYINT NOT NULL,
  spec BLOB NOT NULL,
  seed BINARY(32) NULL,
  seed_sha256 CHAR(64) NULL,
  create_time DATETIME(6) NOT NULL,
  launch_time DATETIME(6) NULL,
  end_time DATETIME(6) NULL,
  KEY campaigns_brand (brand, state)
) ENGINE=InnoDB)sql",
           // The budget, split so that no single row is updated by every award.
           R"sql(CREATE TABLE IF NOT EXISTS budget_shards (
  campaign_id BIGINT UNSIGNED NOT NULL,
  shard SMALLINT NOT NULL,
  remaining_fen BIGINT NOT NULL,
  PRIMARY KEY (campaign_id, shard)
) ENGINE=InnoDB)sql",
           // Tiers with a cap on their count; touched only by wins of that tier.
           R"sql(CREATE TABLE IF NOT EXISTS tier_counts (
  campaign_id BIGINT UNSIGNED NOT NULL,
  tier SMALLINT NOT NULL,
  awarded BIGINT NOT NULL,
  max_count BIGINT NOT NULL,
  PRIMARY KEY (campaign_id, tier)
) ENGINE=InnoDB)sql",
           // At most one award per (campaign, code, role): the primary key says so.
           R"sql(CREATE TABLE IF NOT EXISTS awards (
  campaign_id BIGINT UNSIGNED NOT NULL,
  code_id BIGINT UNSIGNED NOT NULL,
  role TINYINT NOT NULL,
  award_id CHAR(32) NOT NULL,
  brand VARCHAR(64) NOT NULL,
  user_id VARCHAR(128) NOT NULL,
  tier SMALLINT NOT NULL,
  amount_fen BIGINT NOT NULL,
  client_scan_id VARCHAR(128) NOT NULL,
  award_time DATETIME(6) NOT NULL,
  PRIMARY KEY (campaign_id, code_id, role),
  UNIQUE KEY awards_id (award_id),
  KEY awards_time (campaign_id, award_time)
) ENGINE=InnoDB)sql",
           R"sql(CREATE TABLE IF NOT EXISTS user_daily_awards (
  campaign_id BIGINT UNSIGNED NOT NULL,
  user_id VARCHAR(128) NOT NULL,
  day DATE NOT NULL,
  awards INT NOT NULL,
  PRIMARY KEY (campaign_id, user_id, day)
) ENGINE=InnoDB)sql",
           R"sql(CREATE TABLE IF NOT EXISTS diversion_flags (
  brand VARCHAR(64) NOT NULL,
  case_code_id BIGINT UNSIGNED NOT NULL,
  rule VARCHAR(40) NOT NULL,
  parameters VARCHAR(200) NOT NULL,
  dealer_id VARCHAR(64) NOT NULL,
  shipment_id BIGINT UNSIGNED NOT NULL,
  territory VARCHAR(2000) NOT NULL,
  flag_time DATETIME(6) NOT NULL,
  PRIMARY KEY (brand, case_code_id),
  KEY diversion_dealer (brand, dealer_id, flag_time)
) ENGINE=InnoDB)sql",
           // Out-of-territory scans of a case, one per user: the flag's evidence.
           R"sql(CREATE TABLE IF NOT EXISTS diversion_evidence (
  case_code_id BIGINT UNSIGNED NOT NULL,
  user_id VARCHAR(128) NOT NULL,
  brand VARCHAR(64) NOT NULL,
  client_scan_id VARCHAR(128) NOT NULL,
  role TINYINT NOT NULL,
  region CHAR(6) NOT NULL,
  region_source TINYINT NOT NULL,
  scan_time DATETIME(6) NOT NULL,
  PRIMARY KEY (case_code_id, user_id)
) ENGINE=InnoDB)sql",
       }},
      {3,
       "audit: scan log in recording order",
       {
           "ALTER TABLE scans ADD INDEX scans_record (brand, record_time, client_scan_id)",
       }},
      {4,
       "payouts: the outbox between awards and the payer",
       {
           R"sql(CREATE TABLE IF NOT EXISTS payouts (
  payout_id CHAR(32) NOT NULL PRIMARY KEY,
  brand VARCHAR(64) NOT NULL,
  campaign_id BIGINT UNSIGNED NOT NULL,
  user_id VARCHAR(128) NOT NULL,
  amount_fen BIGINT NOT NULL,
  state TINYINT NOT NULL,
  attempts INT NOT NULL DEFAULT 0,
  external_id VARCHAR(128) NOT NULL DEFAULT '',
  last_error VARCHAR(500) NOT NULL DEFAULT '',
  award_time DATETIME(6) NOT NULL,
  sent_time DATETIME(6) NULL,
  result_time DATETIME(6) NULL,
  KEY payouts_queue (brand, state, award_time),
  KEY payouts_user (brand, user_id, result_time)
) ENGINE=InnoDB)sql",
       }},
      {5,
       "fraud limits: per-campaign velocity counters, last positions, hits",
       {
           R"sql(CREATE TABLE IF NOT EXISTS fraud_counters (
  campaign_id BIGINT UNSIGNED NOT NULL,
  kind TINYINT NOT NULL,
  key_value VARCHAR(128) NOT NULL,
  day DATE NOT NULL,
  scans INT NOT NULL,
  PRIMARY KEY (campaign_id, kind, key_value, day)
) ENGINE=InnoDB)sql",
           R"sql(CREATE TABLE IF NOT EXISTS user_positions (
  brand VARCHAR(64) NOT NULL,
  user_id VARCHAR(128) NOT NULL,
  latitude DOUBLE NOT NULL,
  longitude DOUBLE NOT NULL,
  scan_time DATETIME(6) NOT NULL,
  PRIMARY KEY (brand, user_id)
) ENGINE=InnoDB)sql",
           R"sql(CREATE TABLE IF NOT EXISTS limit_hits (
  campaign_id BIGINT UNSIGNED NOT NULL,
  rule VARCHAR(32) NOT NULL,
  scans BIGINT NOT NULL,
  PRIMARY KEY (campaign_id, rule)
) ENGINE=InnoDB)sql",
       }},
      {6,
       "store-owner program: stores, policies, cases opened, bottles sold, daily stats; "
       "accounts new to a campaign",
       {
           // Store ids are random (no auto-increment hot spot), below 2^53 so
           // that JSON clients read them exactly.
           R"sql(CREATE TABLE IF NOT EXISTS stores (
  store_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  brand VARCHAR(64) NOT NULL,
  owner_user_id VARCHAR(128) NOT NULL,
  name VARCHAR(200) NOT NULL,
  region CHAR(6) NOT NULL,
  latitude DOUBLE NULL,
  longitude DOUBLE NULL,
  phone VARCHAR(32) NOT NULL,
  device_id VARCHAR(128) NOT NULL,
  register_time DATETIME(6) NOT NULL,
  KEY stores_owner (brand, owner_user_id),
  KEY stores_device (brand, device_id),
  KEY stores_region (brand, region, store_id),
  KEY stores_place (brand, latitude, longitude)
) ENGINE=InnoDB)sql",
           // One row per owner: registering locks it, so two concurrent
           // registrations cannot both slip under the brand's limit.
           R"sql(CREATE TABLE IF NOT EXISTS store_owners (
  brand VARCHAR(64) NOT NULL,
  owner_user_id VARCHAR(128) NOT NULL,
  stores INT NOT NULL,
  PRIMARY KEY (brand, owner_user_id)
) ENGINE=InnoDB)sql",
           R"sql(CREATE TABLE IF NOT EXISTS store_policies (
  brand VARCHAR(64) NOT NULL PRIMARY KEY,
  policy VARBINARY(1024) NOT NULL,
  update_time DATETIME(6) NOT NULL
) ENGINE=InnoDB)sql",
           // A case is opened by one store: the primary key says so.
           R"sql(CREATE TABLE IF NOT EXISTS case_stores (
  case_code_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  brand VARCHAR(64) NOT NULL,
  store_id BIGINT UNSIGNED NOT NULL,
  region CHAR(6) NOT NULL,
  region_source TINYINT NOT NULL,
  latitude DOUBLE NULL,
  longitude DOUBLE NULL,
  client_scan_id VARCHAR(128) NOT NULL,
  open_time DATETIME(6) NOT NULL,
  KEY case_stores_store (store_id, open_time)
) ENGINE=InnoDB)sql",
           // A bottle counts for its store once, at its first consumer scan.
           R"sql(CREATE TABLE IF NOT EXISTS store_bottles (
  bottle_code_id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  store_id BIGINT UNSIGNED NOT NULL,
  brand VARCHAR(64) NOT NULL,
  scan_time DATETIME(6) NOT NULL,
  KEY store_bottles_store (store_id, scan_time)
) ENGINE=InnoDB)sql",
           // The leaderboard's counters: one row per store and China day.
           R"sql(CREATE TABLE IF NOT EXISTS store_daily (
  store_id BIGINT UNSIGNED NOT NULL,
  day DATE NOT NULL,
  brand VARCHAR(64) NOT NULL,
  region CHAR(6) NOT NULL,
  cases_opened INT NOT NULL DEFAULT 0,
  consumer_scans INT NOT NULL DEFAULT 0,
  rebate_fen BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (store_id, day),
  KEY store_daily_brand (brand, day, region)
) ENGINE=InnoDB)sql",
           // Accounts as a campaign first saw them (the new-account burst limit).
           R"sql(CREATE TABLE IF NOT EXISTS campaign_users (
  campaign_id BIGINT UNSIGNED NOT NULL,
  user_id VARCHAR(128) NOT NULL,
  first_ip VARCHAR(45) NOT NULL,
  first_time DATETIME(6) NOT NULL,
  burst TINYINT NOT NULL,
  PRIMARY KEY (campaign_id, user_id)
) ENGINE=InnoDB)sql",
       }},
      {7,
       "console sessions, shared by every server behind the load balancer",
       {
           // Only the SHA-256 of the session id is stored: a database reader
           // cannot log in with what it finds here.
           R"sql(CREATE TABLE IF NOT EXISTS console_sessions (
  session_hash BINARY(32) NOT NULL PRIMARY KEY,
  brand VARCHAR(64) NOT NULL,
  role TINYINT NOT NULL,
  token_id CHAR(16) NOT NULL,
  expire_time DATETIME(6) NOT NULL,
  KEY console_sessions_expiry (expire_time)
) ENGINE=InnoDB)sql",
       }},
      {8,
       "scans: one secondary index fewer on the hottest table",
       {
           // Every read by brand and time goes through scans_record (brand,
           // record_time, client_scan_id); scans_time cost a B-tree insert per scan.
           "ALTER TABLE scans DROP INDEX scans_time",
       }},
      {9,
       "shipment ranges: pieces of at most 65,536 codes",
       {
           // Finding a code's shipments reads first_code_id BETWEEN c - 65535
           // AND c (services/issuer/shipment_ranges.h); longer ranges written
           // before are cut into pieces: the tail pieces first, then the head.
           R"sql(INSERT IGNORE INTO shipment_ranges (shipment_id, first_code_id, last_code_id, brand)
WITH RECURSIVE pieces (shipment_id, first_code_id, last_code_id, brand) AS (
  SELECT shipment_id, first_code_id + 65536, last_code_id, brand FROM shipment_ranges
  WHERE last_code_id - first_code_id >= 65536
  UNION ALL
  SELECT shipment_id, first_code_id + 65536, last_code_id, brand FROM pieces
  WHERE last_code_id - first_code_id >= 65536
)
SELECT shipment_id, first_code_id, LEAST(last_code_id, first_code_id + 65535), brand FROM pieces)sql",
           "UPDATE shipment_ranges SET last_code_id = first_code_id + 65535 "
           "WHERE last_code_id - first_code_id >= 65536",
       }},
      {10,
       "one row per brand locked by store registrations, and one by payout claims",
       {
           // A registration's duplicate checks read other owners' stores (same
           // device, same place): registrations of one brand queue on this row,
           // so that each check sees every store registered before it.
           R"sql(CREATE TABLE IF NOT EXISTS store_registrations (
  brand VARCHAR(64) NOT NULL PRIMARY KEY,
  stores BIGINT NOT NULL
) ENGINE=InnoDB)sql",
           // The brand's payout rate as a token bucket, shared by every payer
           // stream on every server; claiming locks it, so that each claim
           // also sees what the others sent today (the per-user daily caps).
           R"sql(CREATE TABLE IF NOT EXISTS payout_pacing (
  brand VARCHAR(64) NOT NULL PRIMARY KEY,
  tokens DOUBLE NOT NULL,
  refill_time DATETIME(6) NOT NULL
) ENGINE=InnoDB)sql",
       }},
      {11,
       "case opens: when each reached the server (store verification counts those days)",
       {
           "ALTER TABLE case_stores ADD COLUMN record_time DATETIME(6) NULL AFTER open_time",
           // Opens recorded before: the time the owner's phone said is all there is.
           "UPDATE case_stores SET record_time = open_time WHERE record_time IS NULL",
           "ALTER TABLE case_stores MODIFY record_time DATETIME(6) NOT NULL",
       }},
      {12,
       "payer streams: which stream sent a payout, and which streams are alive",
       {
           "ALTER TABLE payouts ADD COLUMN sent_by CHAR(32) NULL AFTER sent_time",
           // One row per open Payouts stream, refreshed by its claims: a payout
           // SENT by a stream that ended or went silent goes out again at once.
           R"sql(CREATE TABLE IF NOT EXISTS payer_streams (
  stream_id CHAR(32) NOT NULL PRIMARY KEY,
  brand VARCHAR(64) NOT NULL,
  seen_time DATETIME(6) NOT NULL,
  KEY payer_streams_brand (brand, seen_time)
) ENGINE=InnoDB)sql",
       }},
      {13,
       "scan-log gate: scan groups hold it shared until they commit; an export takes it before reading",
       {
           // See services/storage/scan_log_gate.h. One row: every group of
           // every server, and every export, meets on it.
           R"sql(CREATE TABLE IF NOT EXISTS scan_log_gate (
  id TINYINT UNSIGNED NOT NULL PRIMARY KEY
) ENGINE=InnoDB)sql",
           "INSERT IGNORE INTO scan_log_gate (id) VALUES (1)",
       }},
      {14,
       "diversion: a lock row per case, taken in case order before its evidence is written or counted",
       {
           R"sql(CREATE TABLE IF NOT EXISTS diversion_cases (
  case_code_id BIGINT UNSIGNED NOT NULL PRIMARY KEY
) ENGINE=InnoDB)sql",
       }},
      {15,
       "shipment territories: which shipment carries each code now, found by block keys",
       {
           // See services/storage/shipment_territories.h. shipment_ranges
           // stays as each shipment's record (the EPCIS history reads it).
           R"sql(CREATE TABLE IF NOT EXISTS shipment_territories (
  blk BIGINT UNSIGNED NOT NULL,
  first_code_id BIGINT UNSIGNED NOT NULL,
  last_code_id BIGINT UNSIGNED NOT NULL,
  shipment_id BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (blk, first_code_id)
) ENGINE=InnoDB)sql",
           // A brand's shipments queue on its row and are painted in
           // shipment order; painted_through finds those an older youma wrote.
           R"sql(CREATE TABLE IF NOT EXISTS shipment_locks (
  brand VARCHAR(64) NOT NULL PRIMARY KEY,
  painted_through BIGINT UNSIGNED NOT NULL
) ENGINE=InnoDB)sql",
       },
       BackfillShipmentTerritories},
      {16,
       "range changes: found by block keys; their ids given in the order they are recorded",
       {
           // See services/storage/range_change_blocks.h.
           R"sql(CREATE TABLE IF NOT EXISTS range_change_blocks (
  blk BIGINT UNSIGNED NOT NULL,
  change_id BIGINT UNSIGNED NOT NULL,
  first_code_id BIGINT UNSIGNED NOT NULL,
  last_code_id BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (blk, change_id, first_code_id)
) ENGINE=InnoDB)sql",
           // Change ids come from here (ReserveRangeChangeIds), so that the
           // pieces written with a change can name it.
           "INSERT IGNORE INTO code_id_allocator VALUES ('range_changes', 1)",
       },
       BackfillRangeChangeBlocks},
      {17,
       "shipments found by brand and id: a brand's shipments past its painted mark",
       {
           // InnoDB appends the primary key: (brand, shipment_id), so that
           // BrandsWithUnpaintedShipments finds each brand's last shipment
           // with one probe (a loose index scan).
           "ALTER TABLE shipments ADD INDEX shipments_brand (brand)",
       }},
      {18,
       "award totals per campaign and tier, kept with each award (a campaign read no longer counts its ledger)",
       {
           // Awards recorded so far are counted below (1); from the second
           // statement on, an older youma still serving during a rolling
           // upgrade records its awards uncounted (0), and the newer servers
           // count them (rules::CountOlderAwards). That ALTER waits for every
           // transaction writing awards to end, so each award is counted by
           // the backfill or left uncounted, never both or neither.
           "ALTER TABLE awards ADD COLUMN counted TINYINT NOT NULL DEFAULT 1",
           "ALTER TABLE awards ALTER COLUMN counted SET DEFAULT 0",
           // Sharded like the budget: a scan group adds to its budget shard's
           // rows, which it holds already.
           R"sql(CREATE TABLE IF NOT EXISTS award_totals (
  campaign_id BIGINT UNSIGNED NOT NULL,
  tier SMALLINT NOT NULL,
  shard SMALLINT NOT NULL,
  awards BIGINT NOT NULL,
  amount_fen BIGINT NOT NULL,
  PRIMARY KEY (campaign_id, tier, shard)
) ENGINE=InnoDB)sql",
           "INSERT INTO award_totals (campaign_id, tier, shard, awards, amount_fen) SELECT campaign_id, tier, 0, "
           "COUNT(*), SUM(amount_fen) FROM awards WHERE counted = 1 GROUP BY campaign_id, tier",
           // The uncounted awards, found without reading the ledger.
           "ALTER TABLE awards ADD INDEX awards_uncounted (counted, campaign_id)",
       }},
      {19,
       "payout counts per campaign and state, kept as payouts change state (the console no longer counts the outbox)",
       {
           // The state payout_counts holds each payout in (see
           // services/payout/payout_counts.h). Payouts are made PENDING,
           // which the counts leave out, so a new one (an older youma's too)
           // is counted as it is; the payouts already SENT, CONFIRMED or
           // FAILED, and those an older youma moves during a rolling
           // upgrade, are uncounted until CountOlderPayoutStates counts them.
           "ALTER TABLE payouts ADD COLUMN counted_state TINYINT NOT NULL DEFAULT 1",
           "ALTER TABLE payouts ADD COLUMN uncounted TINYINT AS (state <> counted_state) VIRTUAL",
           "ALTER TABLE payouts ADD INDEX payouts_uncounted (uncounted, brand)",
           R"sql(CREATE TABLE IF NOT EXISTS payout_counts (
  campaign_id BIGINT UNSIGNED NOT NULL,
  state TINYINT NOT NULL,
  brand VARCHAR(64) NOT NULL,
  payouts BIGINT NOT NULL,
  PRIMARY KEY (campaign_id, state),
  KEY payout_counts_brand (brand)
) ENGINE=InnoDB)sql",
       }},
      {20,
       "scans per brand, hour and province, rolled up from the scan log once no scan can join an hour",
       {
           // audit::Auditor::RollUpScanHours writes both, an hour at a time
           // and in hour order: every hour up to the last in scan_hours_rolled
           // is counted in scan_hours (the console's map of scans by province).
           R"sql(CREATE TABLE IF NOT EXISTS scan_hours (
  brand VARCHAR(64) NOT NULL,
  hour DATETIME NOT NULL,
  province VARCHAR(6) NOT NULL,
  scans BIGINT NOT NULL,
  PRIMARY KEY (brand, hour, province)
) ENGINE=InnoDB)sql",
           R"sql(CREATE TABLE IF NOT EXISTS scan_hours_rolled (
  hour DATETIME NOT NULL PRIMARY KEY,
  rolled_time DATETIME(6) NOT NULL
) ENGINE=InnoDB)sql",
       }},
      {21,
       "diversion flags in time order per brand (the report without a dealer, a page at a time)",
       {
           "ALTER TABLE diversion_flags ADD INDEX diversion_time (brand, flag_time)",
       }},
      {22,
       "how far each brand's scan log has had its personal data cleared (--personal-data-days)",
       {
           // Cleared up to this scan, in scans_record's (record_time, client_scan_id) order.
           R"sql(CREATE TABLE IF NOT EXISTS personal_data_cleared (
  brand VARCHAR(64) NOT NULL PRIMARY KEY,
  through DATETIME(6) NOT NULL,
  through_scan_id VARCHAR(128) NOT NULL
) ENGINE=InnoDB)sql",
       }},
      {23,
       "jobs one server of many does once a day, and who is doing them (storage/daily_jobs.h)",
       {
           R"sql(CREATE TABLE IF NOT EXISTS daily_jobs (
  job VARCHAR(64) NOT NULL PRIMARY KEY,
  done_day CHAR(10) NOT NULL DEFAULT '',
  claimed_by VARCHAR(300) NOT NULL DEFAULT '',
  claimed_until DATETIME(6) NULL
) ENGINE=InnoDB)sql",
       }},
  };
  return migrations;
}

absl::StatusOr<int> ApplyMigrations(ConnectionPool& pool) {
  return pool.WithConnection([](sql::Connection& c) -> absl::StatusOr<int> {
    {
      auto lock = Prepare(c, "SELECT GET_LOCK('youma_migrations', 120)");
      std::unique_ptr<sql::ResultSet> rs(lock->executeQuery());
      if (!rs->next() || rs->getInt(1) != 1) {
        return absl::UnavailableError("another process holds the migration lock for over 120 s");
      }
    }
    struct Unlock {
      sql::Connection& c;
      ~Unlock() {
        try {
          Execute(c, "DO RELEASE_LOCK('youma_migrations')");
        } catch (const sql::SQLException&) {
        }
      }
    } unlock{c};
    {
      // Openids, scan ids and serials are case-sensitive: a case-insensitive
      // collation would merge two users whose ids differ only in case.
      std::unique_ptr<sql::Statement> st(c.createStatement());
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery(
          "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
          "WHERE SCHEMA_NAME = DATABASE()"));
      if (rs->next() && (rs->getString(1) != "utf8mb4" || rs->getString(2) != "utf8mb4_bin")) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the database's default collation is ", std::string(rs->getString(2)),
            "; youma's ids are case-sensitive: create it with CHARACTER SET utf8mb4 COLLATE utf8mb4_bin, or run "
            "ALTER DATABASE <name> CHARACTER SET utf8mb4 COLLATE utf8mb4_bin before the first migration"));
      }
    }
    Execute(c, R"sql(CREATE TABLE IF NOT EXISTS schema_migrations (
  version INT NOT NULL PRIMARY KEY,
  name VARCHAR(300) NOT NULL,
  applied_time DATETIME(6) NOT NULL
) ENGINE=InnoDB)sql");
    std::set<int> applied;
    {
      std::unique_ptr<sql::Statement> st(c.createStatement());
      std::unique_ptr<sql::ResultSet> rs(st->executeQuery("SELECT version FROM schema_migrations"));
      while (rs->next()) applied.insert(rs->getInt(1));
    }
    int count = 0;
    for (const Migration& m : AllMigrations()) {
      if (applied.count(m.version)) continue;
      for (const std::string& sql : m.statements) Execute(c, sql);
      if (m.then != nullptr) m.then(c);
      auto rec = Prepare(c, "INSERT INTO schema_migrations VALUES (?, ?, UTC_TIMESTAMP(6))");
      rec->setInt(1, m.version);
      rec->setString(2, m.name);
      rec->executeUpdate();
      ++count;
    }
    return count;
  });
}

}  // namespace youma::storage
