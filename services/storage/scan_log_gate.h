// The scan-log gate: how an incremental export of the scan log knows that no
// scan recorded before its horizon is still being committed.
//
// A scan group stamps its scans' record time before it commits, so a row can
// become visible after a later row: an export that read in between would move
// its cursor past it for good. Every scan group therefore takes the gate's row
// shared, as the first lock of its transaction and before it stamps a record
// time, and holds it until it commits (ScanPipeline::CommitGroup). An export
// takes the row exclusively for a moment before it reads past its last pass
// (PassScanLogGate): that waits for the groups in flight, and every scan
// stamped before then is visible afterwards. Groups that start meanwhile wait
// for that moment too, so exports pass it only when they need to
// (audit::Auditor::ReadScanLog).
//
//   const absl::Time now = absl::Now();  // before the pass: stamped before it, visible after
//   YOUMA_RETURN_IF_ERROR(storage::PassScanLogGate(pool, absl::Seconds(1)));
//   const absl::Time horizon = now - hold_back;  // clock skew between servers
#pragma once

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "services/storage/mysql.h"

namespace youma::storage {

// The statement a scan group sends first in its transaction.
inline constexpr char kTakeScanLogGate[] = "SELECT id FROM scan_log_gate WHERE id = 1 LOCK IN SHARE MODE";

// Waits, up to `wait`, until no scan group that stamped a record time is still
// committing. UNAVAILABLE when one is still committing after `wait` (the
// database is slow or stalled: retry later); FAILED_PRECONDITION when the
// schema predates the gate.
absl::Status PassScanLogGate(ConnectionPool& pool, absl::Duration wait);

}  // namespace youma::storage
