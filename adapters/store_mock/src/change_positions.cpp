#include "change_positions.hpp"

#include <charconv>

namespace crmsync::store_mock {
namespace {

// From the events after the position to their items (the log's seq is its rowid): the work
// follows what changed, not the mailbox's size. CROSS JOIN keeps that order.
constexpr const char* kChangedSince =
    "SELECT i.entry_id, i.change_key, i.modified, i.tracked FROM "
    "(SELECT DISTINCT entry_id FROM events WHERE seq > ?2) AS e CROSS JOIN items AS i "
    "ON i.entry_id = e.entry_id WHERE i.kind = ?1";
constexpr const char* kAll =
    "SELECT entry_id, change_key, modified, tracked FROM items WHERE kind = ?1";
constexpr const char* kLastSeq = "SELECT COALESCE(MAX(seq), 0) FROM events";

}  // namespace

Result<ChangedHeaders> headers_changed_after(sql::Database& db, ItemKind kind,
                                             const std::string& position) {
  std::int64_t after = -1;  // "": every item
  if (!position.empty()) {
    auto [p, ec] = std::from_chars(position.data(), position.data() + position.size(), after);
    if (ec != std::errc{} || p != position.data() + position.size() || after < 0)
      return Error::Invalid("mock mailbox: '" + position.substr(0, 40) + "' is not a position");
  }
  // One read transaction: the position and the rows come from the same snapshot.
  auto tx = sql::Transaction::begin(db, sql::Transaction::Kind::kRead);
  if (!tx) return tx.error();
  ChangedHeaders out;
  {
    auto last = db.cached(kLastSeq);
    if (!last) return last.error();
    sql::ResetOnExit done(**last);
    auto row = (*last)->step();
    if (!row) return row.error();
    const std::int64_t seq = *row ? (*last)->int64(0) : 0;
    if (after > seq)
      return Error::Invalid("mock mailbox: position " + position + " is after its last change " +
                            std::to_string(seq) + " (another mailbox?)");
    out.position = std::to_string(seq);
  }
  auto st = db.cached(after < 0 ? kAll : kChangedSince);
  if (!st) return st.error();
  sql::ResetOnExit done(**st);
  (*st)->bind(1, to_string(kind));
  if (after >= 0) (*st)->bind(2, after);
  for (;;) {
    auto row = (*st)->step();
    if (!row) return row.error();
    if (!*row) break;
    out.headers.push_back(StoreItemHeader{EntryId((*st)->text(0)), (*st)->text(1),
                                          UtcTime{(*st)->int64(2)}, (*st)->int64(3) != 0});
  }
  CRMSYNC_TRY(tx->commit());
  return out;
}

}  // namespace crmsync::store_mock
