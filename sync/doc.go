// Package sync is offlined's sync engine: it uploads a GeoPackage's change
// log and attachments to the feature service its replica came from and
// downloads the server's changes, exactly once, crash-safe, with conflicts
// recorded; and it runs the background scheduler that decides when to sync.
//
// Callers outside import it as editsync.
//
// # Exactly once
//
// A sync takes the change log up to a sequence number and writes a journal
// (offlined_meta key "offlined_sync_journal": the batch's sequence bound,
// the GlobalIDs to add, update and delete per layer, the attachment edits
// and the state of their content uploads, part by part) before any upload.
// The journal's phase turns to "sent" before synchronizeReplica goes out;
// the features themselves are streamed from the GeoPackage into the request
// (inline when small, else uploaded and named by editsUploadID), so memory
// does not grow with the batch. When the answer is lost (connection cut
// after the server applied the edits, timeout, truncated body or result
// file, crash or kill -9 before the answer was applied), the next sync finds
// the journal in phase "sent" and asks the server, by GlobalID, what landed:
// adds whose GlobalID exists, deletes whose feature is gone and updates whose
// fields already hold the values the device would send are dropped from the
// replay; only the rest is sent again. Change-log rows are cleared only in
// the SQLite transaction that applies the server's answer, stores the new
// generations and deletes the journal (geodb.ApplySync). Generations are
// always sent explicitly, so a download the server computed for a lost
// answer is computed again. Per-edit failures are stored in the status and
// their change-log rows kept (sent again), never dropped.
//
// Answers are requested as result files (esriTransportTypeUrl), spooled to
// disk next to the GeoPackage and applied feature by feature inside that one
// transaction.
//
// # Conflicts
//
// Before uploading updates or deletes the engine downloads the server
// changes since its generations (syncDirection=download). A server change to
// a feature with unsent local edits is a conflict; both versions go to
// offlined_conflicts and the Policy decides:
//
//   - LastSyncWins (default, ArcGIS' rule "the most recently synchronized edit
//     wins"): the device is synchronizing now, after the server's edit, so the
//     device's whole row (ArcGIS uploads whole rows) overwrites the server's;
//     a server delete beats a local update (ArcGIS cannot update a deleted
//     row) and the local version is kept in the conflict record; a local
//     delete beats a server update.
//   - DeviceWins: the device's version wins every update conflict, field by
//     field as well as row by row. A server delete still stands (ArcGIS keeps
//     deleted GlobalIDs, so the feature cannot be added again under its
//     GlobalID); the device's version is kept in the conflict record.
//   - ServerWins: the server's version replaces the local one and the local
//     edits of that feature are dropped (kept in the conflict record).
//   - FieldMerge: fields changed only on the server are taken, fields changed
//     only on the device are sent, fields changed on both to different values
//     are held for review (conflict resolution "pending"; not sent until
//     resolved with ResolveConflict). Deletes follow LastSyncWins.
//
// # Scheduler
//
// Scheduler runs one goroutine per package: it syncs on local change
// (geodb.Changed and fsnotify on the GeoPackage and its -wal, debounced), on
// an interval, when connectivity returns (probe with exponential backoff)
// and on SyncNow. Status is persisted in offlined_meta. A file event that
// finds the files as the scheduler's own last write left them (a sync's
// status) is no change: idle, the only timers are the interval and the
// change poll on its backoff.
package sync
