// The records of SPEC §6 that live in the mock mailbox's file, where every client of the
// mailbox sees them: the primary lease and the handoff queue.
#include <random>

#include "mock_file.hpp"

namespace crmsync::store_mock {
namespace {

using sql::Database;
using sql::Transaction;
using Mode = Transaction::Kind;

// The lease: one row, written only while its version is the one the writer read.
class MockLease final : public LeaseStore {
 public:
  explicit MockLease(Database& db) : db_(db), rng_(std::random_device{}()) {}

  Result<Versioned> read_lease() override {
    auto st = db_.prepare("SELECT holder, epoch, expires, version FROM lease WHERE id = 1");
    if (!st) return st.error();
    auto row = st->step();
    if (!row) return row.error();
    Versioned v;
    if (*row) {
      v.record.holder = st->text(0);
      v.record.epoch = st->int64(1);
      v.record.expires = UtcTime{st->int64(2)};
      v.version = st->text(3);
    }
    return v;
  }

  Result<std::string> write_lease(const std::string& expected, const LeaseRecord& next) override {
    auto tx = Transaction::begin(db_, Mode::kWrite);
    if (!tx) return tx.error();
    auto current = read_lease();
    if (!current) return current.error();
    if (current->version != expected)
      return Error::Conflict("the lease changed since it was read (held by '" +
                             current->record.holder + "', epoch " +
                             std::to_string(current->record.epoch) + ")");
    std::string version = std::to_string(rng_());
    auto st = db_.prepare(
        "INSERT INTO lease(id, holder, epoch, expires, version) VALUES (1, ?1, ?2, ?3, ?4) "
        "ON CONFLICT(id) DO UPDATE SET holder = ?1, epoch = ?2, expires = ?3, version = ?4");
    if (!st) return st.error();
    st->bind(1, std::string_view(next.holder)).bind(2, next.epoch).bind(3, next.expires.ms);
    st->bind(4, std::string_view(version));
    CRMSYNC_TRY(st->run());
    CRMSYNC_TRY(tx->commit());
    return version;
  }

 private:
  Database& db_;
  std::mt19937_64 rng_;
};

class MockQueue final : public HandoffQueue {
 public:
  explicit MockQueue(Database& db) : db_(db) {}

  Result<void> enqueue(const QueuedChange& c) override {
    auto st = db_.prepare(
        "INSERT INTO handoff_queue(client_id, kind, entry_id, action, delete_in_crm, at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
    if (!st) return st.error();
    st->bind(1, std::string_view(c.client_id))
        .bind(2, to_string(c.kind))
        .bind(3, std::string_view(c.entry_id.str()))
        .bind(4, to_string(c.action))
        .bind(5, std::int64_t{c.delete_in_crm})
        .bind(6, c.at.ms);
    return st->run();
  }

  Result<std::vector<QueuedChange>> peek(std::size_t max) override {
    auto st = db_.prepare(
        "SELECT seq, client_id, kind, entry_id, action, delete_in_crm, at FROM handoff_queue "
        "ORDER BY seq LIMIT ?1");
    if (!st) return st.error();
    st->bind(1, static_cast<std::int64_t>(max));
    std::vector<QueuedChange> out;
    for (;;) {
      auto row = st->step();
      if (!row) return row.error();
      if (!*row) return out;
      QueuedChange c;
      c.id = std::to_string(st->int64(0));
      c.client_id = st->text(1);
      auto kind = parse_item_kind(st->text(2));
      auto action = parse_action(st->text(4));
      if (!kind || !action) return Error::Corrupt("mock mailbox: bad handoff queue row " + c.id);
      c.kind = *kind;
      c.entry_id = EntryId(st->text(3));
      c.action = *action;
      c.delete_in_crm = st->int64(5) != 0;
      c.at = UtcTime{st->int64(6)};
      out.push_back(std::move(c));
    }
  }

  Result<void> remove(const std::string& id) override {
    auto st = db_.prepare("DELETE FROM handoff_queue WHERE seq = ?1");
    if (!st) return st.error();
    std::int64_t seq = 0;
    try {
      seq = std::stoll(id);
    } catch (...) {
      return Error::Invalid("not a queue entry id: '" + id + "'");
    }
    st->bind(1, seq);
    return st->run();
  }

  Result<std::int64_t> depth() override {
    return query_int(db_, "SELECT count(*) FROM handoff_queue");
  }

 private:
  Database& db_;
};

}  // namespace

std::unique_ptr<LeaseStore> make_lease(Database& db) {
  return std::make_unique<MockLease>(db);
}
std::unique_ptr<HandoffQueue> make_queue(Database& db) {
  return std::make_unique<MockQueue>(db);
}

}  // namespace crmsync::store_mock
