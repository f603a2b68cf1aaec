// The lease and queued changes as the text the EWS and MAPI adapters store (core/ports).
#include <catch2/catch.hpp>

#include "crmsync/core/hidden_text.hpp"

using namespace crmsync;

TEST_CASE("P1: the lease record round-trips through its text form", "[lease][hidden]") {
  LeaseRecord r{"client-a", 42, UtcTime::parse("2026-01-01T10:00:00.250Z").value()};
  LeaseText t = lease_text(r);
  CHECK(t.holder == "client-a");
  CHECK(t.epoch == "42");
  CHECK(t.expires == "2026-01-01T10:00:00.250Z");
  auto back = parse_lease_text(t);
  REQUIRE(back.ok());
  CHECK(back->holder == r.holder);
  CHECK(back->epoch == r.epoch);
  CHECK(back->expires == r.expires);
  // A released lease: empty holder; an item without epoch or expiry reads as never written.
  auto empty = parse_lease_text({"", "", ""});
  REQUIRE(empty.ok());
  CHECK(empty->epoch == 0);
  CHECK(empty->expires == UtcTime{});
}

TEST_CASE("P1: a malformed lease text is kInvalid naming the field", "[lease][hidden]") {
  for (const LeaseText& bad :
       {LeaseText{"a", "12x", ""}, LeaseText{"a", " 1", ""},
        LeaseText{"a", "99999999999999999999", ""}, LeaseText{"a", "1", "yesterday"}}) {
    auto r = parse_lease_text(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().is(ErrorKind::kInvalid));
    CHECK(r.error().message().rfind("lease item: bad ", 0) == 0);
  }
}

TEST_CASE("T5: a queued change round-trips through its text form", "[queue][hidden]") {
  QueuedChange c;
  c.client_id = "laptop";
  c.kind = ItemKind::kAppointment;
  c.entry_id = EntryId("00AB");
  c.action = Action::kSetRegarding;
  c.delete_in_crm = true;
  c.at = UtcTime::parse("2026-02-03T04:05:06Z").value();
  QueuedText t = queued_text(c);
  CHECK(t.kind == "appointment");
  CHECK(t.action == "set-regarding");
  CHECK(t.delete_in_crm == "true");
  auto back = parse_queued_text(t, "q1");
  REQUIRE(back.ok());
  CHECK(back->id == "q1");
  CHECK(back->client_id == c.client_id);
  CHECK(back->kind == c.kind);
  CHECK(back->entry_id == c.entry_id);
  CHECK(back->action == c.action);
  CHECK(back->delete_in_crm);
  CHECK(back->at == c.at);
  t.kind = "fax-machine";
  auto bad = parse_queued_text(t, "q2");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message().find("q2") != std::string::npos);
}
